// sluice::stop_on_signals: a std::stop_token that is stopped by SIGINT or
// SIGTERM, so a program ends cleanly on Ctrl-C in one line.
//
//   sluice::runtime rt;
//   auto signals = sluice::stop_on_signals(rt, {SIGINT, SIGTERM});
//   rt.block_on(run(..., signals.token()));          // every wait observes the token
//   if (signals.signal() != 0) return 128 + signals.signal();
//
// How: a sigaction handler that only does async-signal-safe things (an atomic
// exchange and a write(2) of one byte to a non-blocking self-pipe); the
// pipe's read end is watched on the runtime's reactor, whose callback records
// the signal and calls request_stop(). So stop callbacks registered on
// token() run on the reactor thread: they must be quick and must not block.
//
// Signals listed in signal_notify do not stop anything: each arrival calls
// on_notify(signal) on the reactor thread, e.g. SIGQUIT for a pipeline
// dump (sluice::run_monitor::print), the way a JVM prints its threads:
//
//   auto signals = sluice::stop_on_signals(rt, {SIGINT, SIGTERM},
//                                          {.signals = {SIGQUIT}, .on_notify = [&](int) { monitor.print(); }});
//
// A second signal (any of the watched ones, at any time after the first and
// before the signal_stop is destroyed) ends the process at once with
// _exit(128 + signal): no destructors, no output flushing. That is the
// user's escape hatch when a clean stop takes too long.
//
// Handlers are installed even when a signal was ignored (a shell starts
// background jobs with SIGINT ignored), and the previous dispositions are
// restored by the destructor. One signal_stop may be alive per process at a
// time (signal dispositions are process-wide); a second constructor throws
// std::logic_error. Lifetime: destroy it before the runtime. Thread-safety:
// token() and signal() may be called from any thread.
#pragma once

#include <csignal>
#include <initializer_list>
#include <memory>
#include <stop_token>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/runtime.hpp"

namespace sluice {

/// Signals that call a function instead of stopping (see the file comment).
struct signal_notify {
  std::vector<int> signals = {};
  /// Called on the reactor thread once per arrival (arrivals close together
  /// may be merged); must be quick. Exceptions it throws are swallowed.
  std::function<void(int)> on_notify = {};
};

class signal_stop {
 public:
  /// Installs handlers for `signals` and watches them on `rt`'s reactor.
  /// Throws std::logic_error if another signal_stop is alive, std::system_error
  /// when the pipe or a handler cannot be set up, std::invalid_argument for an
  /// empty list or SIGKILL/SIGSTOP.
  signal_stop(runtime& rt, std::initializer_list<int> signals, signal_notify notify = {});
  /// Restores the previous dispositions and stops watching.
  ~signal_stop();
  signal_stop(const signal_stop&) = delete;
  signal_stop& operator=(const signal_stop&) = delete;

  /// Stopped once the first watched signal has arrived.
  [[nodiscard]] std::stop_token token() const noexcept { return m_source.get_token(); }
  /// The first signal that arrived, or 0 while none has.
  [[nodiscard]] int signal() const noexcept;

 private:
  struct state;
  runtime& m_rt;
  std::stop_source m_source;
  std::unique_ptr<state> m_state;
};

/// A signal_stop for `signals` (default SIGINT and SIGTERM) on `rt`.
[[nodiscard]] inline signal_stop stop_on_signals(runtime& rt, std::initializer_list<int> signals = {SIGINT, SIGTERM}) {
  return signal_stop(rt, signals);
}

/// As above, plus signals that call `notify.on_notify` instead of stopping.
[[nodiscard]] inline signal_stop stop_on_signals(runtime& rt, std::initializer_list<int> signals,
                                                 signal_notify notify) {
  return signal_stop(rt, signals, std::move(notify));
}

}  // namespace sluice
