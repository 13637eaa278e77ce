// Adapters for driving another awaiter from inside an awaiter: stage_io's
// recv() and send() wrap the channel's awaiters (and a fused stage's task)
// without a coroutine frame of their own (see stage_io.hpp).
#pragma once

#include <coroutine>
#include <type_traits>

#include "sluice/core/task.hpp"  // SLUICE_DETAIL_TASK_HANDSHAKE

namespace sluice::detail {

/// Holds an awaiter that can be neither copied nor moved (the channel's),
/// constructed in place from a function returning it.
template <typename A>
struct in_place_awaiter {
  A value;
  template <typename F>
  explicit in_place_awaiter(F make) : value(make()) {}
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
