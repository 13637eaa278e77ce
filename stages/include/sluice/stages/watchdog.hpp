// The stall watchdog and run_monitor: a picture of a running pipeline, on a
// timer when it stops making progress (run_options::stall_timeout) or on
// demand (run_monitor::dump()).
//
//   sluice::run_monitor monitor;
//   auto signals = sluice::stop_on_signals(rt, {SIGINT, SIGTERM},
//                                          {.notify = {SIGQUIT}, .on_notify = [&](int) { monitor.print(); }});
//   sluice::run(rt, std::move(p), {.stop = signals.token(), .monitor = &monitor});
//
// A dump looks like this (names are printed as JSON strings, so a hostile
// name cannot forge lines or terminal escapes):
//
//   sluice stall watchdog: no stage made progress for 2.0 s (run time 2.3 s)
//   stages:
//     #0 "numbers" (source): in 1408 out 1280; 1 blocked sending (output full)
//     #1 "stuck sink" (for_each): in 1 out 0; running on arena worker 1
//   edges:
//     #0 "numbers" -> #1 "stuck sink": 128/128 items FULL; 1 sender blocked
//   ...
//
// Thread-safety: run_monitor's members may be called from any thread, also
// while the run starts and ends. Lifetime: a monitor must outlive every run
// it is attached to.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/run_options.hpp"

namespace sluice {

namespace detail {
class pipeline_state;
class run_observation;
class job_clock;
}  // namespace detail

/// A handle on the run it is attached to (run_options::monitor).
class run_monitor {
 public:
  run_monitor() = default;
  run_monitor(const run_monitor&) = delete;
  run_monitor& operator=(const run_monitor&) = delete;

  /// True while a run is attached.
  [[nodiscard]] bool attached() const;
  /// The picture of the attached run now (the same text a stall dump
  /// prints), or a one-line note when no run is attached.
  [[nodiscard]] std::string dump() const;
  /// dump() written to standard error in one write.
  void print() const;

 private:
  friend class detail::run_observation;
  mutable std::mutex m_mutex;
  std::weak_ptr<detail::pipeline_state> m_state;
  std::chrono::steady_clock::time_point m_started{};
  std::shared_ptr<const detail::job_clock> m_jobs;  // the run's watchdog's samples, if it has one
};

namespace detail {

/// Everything run() sets up to observe one run (trace session, watchdog,
/// monitor); torn down by finish() or the destructor.
class run_observation {
 public:
  /// Throws std::system_error when a trace file cannot be created.
  run_observation(const std::shared_ptr<pipeline_state>& state, const run_options& options);
  ~run_observation();
  run_observation(const run_observation&) = delete;
  run_observation& operator=(const run_observation&) = delete;

  /// Stops the watchdog, detaches the monitor and writes the trace file.
  /// Throws std::system_error when the trace cannot be written, unless
  /// `quiet` (then the error is swallowed: the run's own error wins).
  void finish(bool quiet);

 private:
  struct impl;
  std::unique_ptr<impl> m_impl;
};

}  // namespace detail
}  // namespace sluice
