// sluice::reactor: one thread that waits on timers and file descriptors.
//
// The runtime's I/O side: an epoll instance, an eventfd for wake-ups and a
// timerfd for the earliest deadline; it runs callbacks on its own thread,
// never user coroutines (a callback hands work to the arena). With nothing
// registered the thread sleeps in epoll_wait (no CPU). SIGPIPE is blocked on
// it: a write there to a peer that is gone (hiredis writes with write()) is
// EPIPE, an error for the connection, not the process's death.
// Thread-safety: every member function may be called from any thread.
// Callbacks run on the reactor thread, one at a time, and must not block.
#pragma once

#include <cstdint>
#include <memory>

#include "sluice/core/detail/std_parts.hpp"

namespace sluice {

class reactor {
 public:
  using clock = std::chrono::steady_clock;
  using timer_id = std::uint64_t;
  /// Called with the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLERR, ...).
  using fd_callback = std::function<void(std::uint32_t events)>;

  /// Starts the reactor thread. Throws std::system_error when epoll, eventfd
  /// or timerfd cannot be created.
  reactor();
  /// Stops and joins the thread. Pending timers are dropped without running;
  /// callbacks posted before destruction started are run.
  ~reactor();
  reactor(const reactor&) = delete;
  reactor& operator=(const reactor&) = delete;

  /// Runs `fn` on the reactor thread as soon as possible (FIFO among posts).
  void post(std::function<void()> fn);

  /// Runs `fn` on the reactor thread at or after `deadline`. Returns an id
  /// for cancel_timer. Timers with equal deadlines fire in insertion order.
  timer_id add_timer(clock::time_point deadline, std::function<void()> fn);

  /// Removes a timer that has not fired. Returns false when it already fired
  /// (or is firing) or was never added; the callback then runs or ran once.
  bool cancel_timer(timer_id id);

  /// Registers or replaces the watch on `fd` for `events` (EPOLLIN/EPOLLOUT;
  /// level-triggered). Must be called on the reactor thread, which is where
  /// socket owners such as libcurl's socket callback run.
  void watch(int fd, std::uint32_t events, fd_callback callback);

  /// Removes the watch on `fd` (no-op if none). Reactor thread only.
  void unwatch(int fd);

  /// Changes the events of an existing watch on `fd` (active or parked),
  /// keeping its callback: no allocation, and no epoll_ctl when the events
  /// are unchanged. Returns false when `fd` has no watch (then call watch()).
  /// Reactor thread only.
  bool rearm(int fd, std::uint32_t events);

  /// Stops delivering `fd`'s events but leaves it registered with epoll, so
  /// that a later rearm() costs no system call: for sockets going back to a
  /// connection pool, where an unwatch now and a watch for the next request
  /// would cost two. If a parked fd becomes ready (the peer closed an idle
  /// connection), the reactor deregisters it then, without calling back, and
  /// the next rearm() registers it again. Contract: the owner must call
  /// unwatch(fd) before it closes a parked fd, because epoll forgets a closed
  /// fd silently and a reused fd number would otherwise inherit the watch.
  /// No-op when `fd` has no watch. Reactor thread only.
  void park(int fd);

  /// True when the caller is the reactor thread.
  [[nodiscard]] bool on_reactor_thread() const noexcept;

  /// Number of armed timers (for tests and metrics).
  [[nodiscard]] std::size_t pending_timers() const;

 private:
  struct state;
  std::unique_ptr<state> m_state;
};

}  // namespace sluice
