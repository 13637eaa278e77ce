// sluice::yield_now(): lets other work on the runtime run (the seeds'
// tokio::task::yield_now).
//
//   for (auto& row : huge_table) {
//     crunch(row);
//     if (++n % 1024 == 0) co_await sluice::yield_now();
//   }
//
// A coroutine that computes for a long time without suspending holds its
// arena thread; other coroutines woken meanwhile wait for it. co_await
// yield_now() puts the coroutine at the back of the current runtime's arena
// queue (runtime::post, the same path as co_await rt.schedule()) and returns
// when a thread picks it up again, possibly a different one. It bypasses the
// arena thread's LIFO slot, which would run the coroutine again immediately.
//
// Outside a runtime (e.g. directly under sync_wait) there is nothing else to
// run: it completes at once. Errors: none.
#pragma once

#include <coroutine>

#include "sluice/core/runtime.hpp"

namespace sluice {
namespace detail {

class yield_awaiter {
 public:
  yield_awaiter() noexcept : m_runtime(current_runtime()) {}
  bool await_ready() const noexcept { return m_runtime == nullptr; }
  void await_suspend(std::coroutine_handle<> h) const { m_runtime->post(h); }
  void await_resume() const noexcept {}

 private:
  runtime* m_runtime;
};

}  // namespace detail

/// Awaitable: requeues the calling coroutine on its runtime's arena.
[[nodiscard]] inline detail::yield_awaiter yield_now() noexcept { return {}; }

}  // namespace sluice
