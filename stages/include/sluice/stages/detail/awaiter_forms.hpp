// Adapters for driving another awaiter from inside an awaiter: stage_io's
// recv() and send() wrap the channel's awaiters (and a fused stage's task)
// without a coroutine frame of their own (see stage_io.hpp).
#pragma once

#include <coroutine>
#include <new>
#include <type_traits>

#include "sluice/core/task.hpp"  // SLUICE_DETAIL_TASK_HANDSHAKE

namespace sluice::detail {

/// Room for an awaiter that can be neither copied nor moved (the channel's),
/// or a task, constructed later in place from a function returning it.
/// std::optional would do, but it is some thirty functions per type at -O0,
/// and stage_io has several per stage (docs/architecture.md, "Header cost").
template <typename A>
class late {
 public:
  late() noexcept {}  // NOLINT(modernize-use-equals-default): the union member stays unconstructed
  late(const late&) = delete;
  late& operator=(const late&) = delete;
  ~late() {
    if (m_engaged) m_value.~A();
  }

  /// Constructs the value from make()'s result (no copy, no move). Once.
  template <typename F>
  A& emplace(F make) {
    ::new (static_cast<void*>(&m_value)) A(make());
    m_engaged = true;
    return m_value;
  }
  [[nodiscard]] explicit operator bool() const noexcept { return m_engaged; }
  [[nodiscard]] A& operator*() noexcept { return m_value; }
  [[nodiscard]] A* operator->() noexcept { return &m_value; }

 private:
  union {
    A m_value;
  };
  bool m_engaged = false;
};

/// await_suspend of any awaiter (void, bool or handle form) as the handle form.
template <typename A>
std::coroutine_handle<> suspend_as_handle(A& awaiter, std::coroutine_handle<> h) {
  using result_t = decltype(awaiter.await_suspend(h));
  if constexpr (std::is_void_v<result_t>) {
    awaiter.await_suspend(h);
    return std::noop_coroutine();
  } else if constexpr (std::is_same_v<result_t, bool>) {
    return awaiter.await_suspend(h) ? std::coroutine_handle<>(std::noop_coroutine()) : h;
  } else {
    return awaiter.await_suspend(h);
  }
}

#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
/// await_suspend of any awaiter as the bool form, for builds where symmetric
/// transfer is not a guaranteed tail call (see core/task.hpp): there,
/// "do not suspend" as a handle (returning `h`) resumes `h` one frame deeper,
/// and a source whose sends finish at once (fused stages) overflowed the
/// stack under ASan. A handle result other than `h` is resumed here.
template <typename A>
bool suspend_as_bool(A& awaiter, std::coroutine_handle<> h) {
  using result_t = decltype(awaiter.await_suspend(h));
  if constexpr (std::is_void_v<result_t>) {
    awaiter.await_suspend(h);
    return true;
  } else if constexpr (std::is_same_v<result_t, bool>) {
    return awaiter.await_suspend(h);
  } else {
    const std::coroutine_handle<> next = awaiter.await_suspend(h);
    if (next == h) return false;
    next.resume();
    return true;
  }
}
#endif

}  // namespace sluice::detail
