// sluice::sleep_for / sleep_until: timers that hold no thread.
//
//   co_await sluice::sleep_for(100ms);                  // always sleeps the full time
//   bool slept = co_await sluice::sleep_for(5s, stop);  // false: woken early by stop
//
// The timer lives on the current runtime's reactor; the coroutine is resumed
// on that runtime's arena. Awaiting outside a runtime throws std::logic_error.
#pragma once

#include <atomic>
#include <coroutine>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>

#include "sluice/core/detail/resume.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/wait_note.hpp"

namespace sluice {
namespace detail {

inline runtime& runtime_for_timer() {
  runtime* rt = current_runtime();
  if (!rt) throw std::logic_error("sluice::sleep_for: no current runtime (co_await rt.schedule() first)");
  return *rt;
}

struct sleep_awaiter {
  std::chrono::steady_clock::time_point m_deadline;
  mutable wait_note m_note{};  // for a stall dump; set before the timer can fire (a default note records nothing)
  bool await_ready() const noexcept { return m_deadline <= std::chrono::steady_clock::now(); }
  template <typename P>
  void await_suspend(std::coroutine_handle<P> h) const {
    runtime& rt = runtime_for_timer();
    if (waits_watched()) m_note = wait_note(wait_kind::timer, "sleep", m_deadline, wait_owner_of(h));
    rt.io().add_timer(m_deadline, [rt = &rt, h] { rt->post(h); });
  }
  void await_resume() const noexcept {}
};

// Shared by the timer, the stop callback and the sleeping coroutine. The
// coroutine is resumed by whichever of timer/stop comes first, but only once
// await_suspend has finished registering both (m_pending starts at 2: the
// first event plus await_suspend's own release), so neither can resume the
// coroutine while await_suspend still touches its frame.
struct cancellable_sleep_state {
  std::atomic<bool> m_fired{false};
  std::atomic<int> m_pending{2};
  bool m_stopped = false;  // written by the winner before its release on m_pending
  suspended_coroutine m_waiter;
  runtime* m_runtime = nullptr;
  reactor::timer_id m_timer = 0;

  void fire(bool stopped) {
    if (m_fired.exchange(true, std::memory_order_acq_rel)) return;
    m_stopped = stopped;
    if (m_pending.fetch_sub(1, std::memory_order_acq_rel) == 1) m_waiter.resume();
  }
};

class cancellable_sleep_awaiter {
 public:
  cancellable_sleep_awaiter(std::chrono::steady_clock::time_point deadline, std::stop_token token)
      : m_deadline(deadline), m_token(std::move(token)) {}
  cancellable_sleep_awaiter(const cancellable_sleep_awaiter&) = delete;
  cancellable_sleep_awaiter& operator=(const cancellable_sleep_awaiter&) = delete;
  ~cancellable_sleep_awaiter();

  bool await_ready() const noexcept {
    return m_token.stop_requested() || m_deadline <= std::chrono::steady_clock::now();
  }

  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return suspend(suspended_coroutine::here(h), wait_owner_of(h));
  }

  /// True when the full duration elapsed, false when stop was requested first.
  bool await_resume();

 private:
  // The type-independent part of await_suspend (core/src/sleep.cpp): one
  // copy in the library instead of one per program (it holds no coroutine).
  bool suspend(suspended_coroutine waiter, const wait_owner* owner);

  struct stop_handler {
    std::shared_ptr<cancellable_sleep_state> m_state;
    void operator()() const noexcept {
      m_state->m_runtime->io().cancel_timer(m_state->m_timer);
      m_state->fire(true);
    }
  };

  std::chrono::steady_clock::time_point m_deadline;
  std::stop_token m_token;
  std::shared_ptr<cancellable_sleep_state> m_state;
  std::optional<std::stop_callback<stop_handler>> m_on_stop;
  wait_note m_note;  // for a stall dump; set before the timer can fire (a default note records nothing)
};

}  // namespace detail

/// Awaitable: resumes after `deadline` without holding a thread.
inline auto sleep_until(std::chrono::steady_clock::time_point deadline) { return detail::sleep_awaiter{deadline}; }

/// Awaitable: resumes after `d` without holding a thread.
inline auto sleep_for(std::chrono::nanoseconds d) { return sleep_until(std::chrono::steady_clock::now() + d); }

/// Awaitable bool: true after the full wait, false as soon as `stop` is
/// requested (the timer is cancelled). Returns false at once if stop was
/// already requested.
inline auto sleep_until(std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
  return detail::cancellable_sleep_awaiter{deadline, std::move(stop)};
}
inline auto sleep_for(std::chrono::nanoseconds d, std::stop_token stop) {
  return sleep_until(std::chrono::steady_clock::now() + d, std::move(stop));
}

}  // namespace sluice
