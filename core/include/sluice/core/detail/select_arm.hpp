// The channel side of sluice::select (sluice/core/select.hpp).
//
// A select waits on several channels at once: it queues one waiter per arm,
// each in its own channel's waiter list. The channels perform operations on
// a waiter's behalf (see detail/channel_state.hpp), so without care two
// channels could each hand the selector an item. The hook that prevents it is
// the `selector`: a small state machine shared by the arms.
//
//   open --claim--> busy --release--> open       (the operation would block)
//                        --settle---> decided    (an item moved; or the last open arm closed)
//   open --cancel--> decided                     (the stop token fired)
//
// A channel that wants to serve a waiter with an arm first claims the
// selector (open -> busy), then tries the operation, then settles or releases
// it, all under its own mutex. Only one claimer is busy at a time, so at most
// one operation ever completes for a selector; a claim that finds the
// selector decided tells the channel to drop the waiter untouched (its item,
// for a send, stays with the caller). A busy holder never takes another lock
// while busy, so a claimer that spins on busy (holding its own channel's
// mutex) cannot deadlock.
//
// Resumption: two references, as in the semaphore: the decider's and
// await_suspend's. Whoever drops the last one resumes the coroutine, so a
// decision made while await_suspend is still queueing arms never resumes a
// frame that is still being set up.
//
// A blocked thread (select_blocking) instead of a coroutine: every decision
// calls wake() exactly once, so the thread simply waits for that call. The
// decider sets the flag and notifies under m_park, and the thread passes
// through m_park after seeing the flag, so the decider has let go of the
// selector (on the thread's stack) before the thread can return and free it;
// the channels' blocked threads do the same with the channel's mutex.
//
// Lifetime: the selector and its waiters live in the awaiter (the coroutine
// frame). After a decision the awaiter withdraws every waiter still queued,
// under each channel's mutex, before the frame can go away; a waker that
// popped one before that has finished with it (it holds the same mutex).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "sluice/core/detail/resume.hpp"

namespace sluice::detail {

class selector {
 public:
  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  explicit selector(std::size_t open_arms) noexcept : m_open_arms(open_arms) {}
  selector(const selector&) = delete;
  selector& operator=(const selector&) = delete;
  ~selector() = default;

  /// open -> busy. False when the selector is decided: drop the waiter.
  bool claim() noexcept {
    for (unsigned spins = 0;; ++spins) {
      std::uint32_t expected = open;
      if (m_state.compare_exchange_weak(expected, busy, std::memory_order_acquire, std::memory_order_acquire))
        return true;
      if (expected == decided) return false;
      // Busy: another channel is trying its operation; that is short and takes
      // no lock. Yield soon: on 2 cores it may need ours.
      if (spins > 16) std::this_thread::yield();
    }
  }

  /// busy -> open: the operation would have blocked.
  void release() noexcept { m_state.store(open, std::memory_order_release); }

  /// busy -> decided or open. `done`: arm `index` completed its operation
  /// and wins. Otherwise its channel is closed: the arm drops out, and the
  /// selector is decided (nobody won) once no arm is open. True when decided:
  /// the caller must call wake() once, after unlocking its channel.
  bool settle(std::size_t index, bool done) noexcept {
    if (done) {
      m_winner = index;
    } else if (--m_open_arms != 0) {
      release();
      return false;
    }
    m_state.store(decided, std::memory_order_release);
    return true;
  }

  /// The stop token fired: decided with no winner unless an arm won first.
  /// True when this call decided (then call wake()).
  bool cancel() noexcept {
    if (!claim()) return false;
    m_cancelled = true;
    m_state.store(decided, std::memory_order_release);
    return true;
  }

  /// For the awaiter while it queues its arms: stop queueing once decided.
  [[nodiscard]] bool is_decided() const noexcept { return m_state.load(std::memory_order_acquire) == decided; }

  /// Before the first arm is queued: the coroutine to resume, or a null
  /// handle for a blocked thread (it then calls wait_thread()).
  void set_coroutine(suspended_coroutine c) noexcept { m_coroutine = c; }

  /// The decider's reference: resumes the coroutine unless await_suspend is
  /// still running (it then carries on without suspending). A blocked
  /// thread is woken instead.
  void wake() {
    const suspended_coroutine c = m_coroutine;  // *this may be gone after the decrement
    if (!c.handle) {
      wake_thread();
      return;
    }
    if (m_references.fetch_sub(1, std::memory_order_acq_rel) == 1) c.resume();
  }

  /// A blocked thread, after queueing its arms: returns once the decider's
  /// wake() is over (see the header comment), so the selector may go.
  void wait_thread() {
    while (!m_woken.load(std::memory_order_acquire)) m_woken.wait(false, std::memory_order_acquire);
    std::lock_guard pass_through(m_park);
  }

  /// await_suspend's reference. True: stay suspended; false: already decided, continue.
  [[nodiscard]] bool finish_suspend() noexcept { return m_references.fetch_sub(1, std::memory_order_acq_rel) != 1; }

  /// After the decision: the winning arm, or `none` (all closed, or cancelled).
  [[nodiscard]] std::size_t winner() const noexcept { return m_winner; }
  [[nodiscard]] bool cancelled() const noexcept { return m_cancelled; }

 private:
  static constexpr std::uint32_t open = 0, busy = 1, decided = 2;

  void wake_thread() {
    std::lock_guard lock(m_park);  // the thread passes through it before it frees *this
    m_woken.store(true, std::memory_order_release);
    m_woken.notify_one();
  }

  std::atomic<std::uint32_t> m_state{open};
  std::atomic<int> m_references{2};
  suspended_coroutine m_coroutine;
  std::atomic<bool> m_woken{false};  // a blocked thread's wake-up (null m_coroutine)
  std::mutex m_park;
  // Written only while busy (claim acquires, settle/release release).
  std::size_t m_open_arms;
  std::size_t m_winner = none;
  bool m_cancelled = false;
};

/// What a channel waiter points to when it belongs to a select: its
/// selector and which arm it is.
struct select_arm {
  selector* m_selector = nullptr;
  std::size_t m_index = 0;
};

}  // namespace sluice::detail
