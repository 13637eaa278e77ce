// A job for the runtime's arena: a move-only `void()` callable, kept inline
// when it is small (a coroutine handle, a shared_ptr: the jobs on the hot
// path) and on the heap otherwise.
//
// Why: the arena is a tbb::task_arena, and TBB's headers (with the x86
// intrinsics they pull in) are about 110k preprocessed lines. Handing the
// arena a type-erased job lets runtime.hpp keep TBB out of every program
// that includes it; the enqueue itself lives in runtime.cpp. The cost is one
// indirect call per job; the job still lives inside TBB's task memory, with
// no allocation of its own for small callables.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace sluice::detail {

class arena_job {
 public:
  template <typename F>
  requires(!std::is_same_v<std::decay_t<F>, arena_job> &&
           std::is_invocable_v<std::decay_t<F>&>) explicit arena_job(F&& fn) {
    using fn_t = std::decay_t<F>;
    if constexpr (stored_inline<fn_t>) {
      ::new (static_cast<void*>(m_storage)) fn_t(std::forward<F>(fn));
      m_ops = &inline_ops<fn_t>;
    } else {
      ::new (static_cast<void*>(m_storage)) fn_t*(new fn_t(std::forward<F>(fn)));
      m_ops = &heap_ops<fn_t>;
    }
  }
  arena_job(arena_job&& other) noexcept : m_ops(std::exchange(other.m_ops, nullptr)) {
    if (m_ops) m_ops->relocate(other.m_storage, m_storage);
  }
  arena_job& operator=(arena_job&&) = delete;
  arena_job(const arena_job&) = delete;
  arena_job& operator=(const arena_job&) = delete;
  ~arena_job() {
    if (m_ops) m_ops->destroy(m_storage);
  }

  /// Runs the callable (once).
  void operator()() { m_ops->run(m_storage); }

  /// Destroys the callable and what it captured (after it ran): the runtime
  /// does this before it counts the job done, because TBB destroys the task
  /// holding the job only after the job returns, and by then the runtime may
  /// be gone (its destructor waits for the count, not for TBB).
  void release() noexcept {
    if (m_ops) std::exchange(m_ops, nullptr)->destroy(m_storage);
  }

 private:
  static constexpr std::size_t inline_size = 3 * sizeof(void*);

  template <typename F>
  static constexpr bool stored_inline =
      sizeof(F) <= inline_size && alignof(F) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<F>;

  struct operations {
    void (*run)(void* storage);
    void (*relocate)(void* from, void* to) noexcept;  // move-construct at `to`, destroy `from`
    void (*destroy)(void* storage) noexcept;
  };

  template <typename F>
  static constexpr operations inline_ops{[](void* s) { (*std::launder(static_cast<F*>(s)))(); },
                                         [](void* from, void* to) noexcept {
                                           F* source = std::launder(static_cast<F*>(from));
                                           ::new (to) F(std::move(*source));
                                           source->~F();
                                         },
                                         [](void* s) noexcept { std::launder(static_cast<F*>(s))->~F(); }};

  template <typename F>
  static constexpr operations heap_ops{
      [](void* s) { (**std::launder(static_cast<F**>(s)))(); },
      [](void* from, void* to) noexcept { ::new (to) F*(*std::launder(static_cast<F**>(from))); },
      [](void* s) noexcept { delete *std::launder(static_cast<F**>(s)); }};

  const operations* m_ops = nullptr;
  alignas(std::max_align_t) unsigned char m_storage[inline_size];
};

}  // namespace sluice::detail
