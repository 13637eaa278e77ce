// Where a suspended coroutine continues when something wakes it.
//
// Awaitables in sluice (channels, oneshot, timers) remember the runtime that
// was current when the coroutine suspended and hand the coroutine back to
// that runtime's arena when they wake it, so a producer or the reactor thread
// never runs a consumer's code. A coroutine that suspended outside any
// runtime (for example directly under sync_wait) is resumed inline by the
// waker instead.
#pragma once

#include <coroutine>

namespace sluice {
class runtime;
namespace detail {

/// The runtime whose arena is executing the calling thread's current work, or null.
runtime* current_runtime() noexcept;

/// Resumes `h` on `rt`'s arena, or inline when `rt` is null.
void resume_on(runtime* rt, std::coroutine_handle<> h);

/// A suspended coroutine together with where to resume it.
struct suspended_coroutine {
  std::coroutine_handle<> handle;
  runtime* home = nullptr;

  static suspended_coroutine here(std::coroutine_handle<> h) noexcept { return {h, current_runtime()}; }
  void resume() const { resume_on(home, handle); }
};

}  // namespace detail
}  // namespace sluice
