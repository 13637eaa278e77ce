// The sampler behind run_options::on_progress (see progress.hpp for what a
// snapshot promises and run_options.hpp for where the callback runs).
//
// Lifecycle, driven by run_async: start() after the stages are launched
// spawns a coroutine that sleeps on a reactor timer (cancellable by the
// sampler's own stop source), reads the counters and awaits the callback on
// the blocking pool; finish() stops that coroutine, awaits it (so no
// callback is running any more) and delivers the final snapshot. A disabled
// sampler (no interval or callback) does nothing: run_async skips it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/progress.hpp"
#include "sluice/stages/report.hpp"

namespace sluice::detail {

class progress_sampler {
 public:
  progress_sampler(pipeline_state& state, progress_options options, std::chrono::steady_clock::time_point started);
  progress_sampler(const progress_sampler&) = delete;
  progress_sampler& operator=(const progress_sampler&) = delete;

  [[nodiscard]] bool enabled() const noexcept { return m_options.interval.count() > 0 && m_options.callback; }

  /// Spawns the sampling coroutine on the state's runtime (call once).
  void start();
  /// Stops sampling, waits for a running callback, delivers the final
  /// snapshot, and records a callback's error in `report`.
  task<void> finish(pipeline_report& report);

  /// Reads every stage's counters now (any thread). Not const: it advances
  /// the "previous" values that rates are computed from.
  progress_snapshot take(bool final);

 private:
  struct previous {
    std::uint64_t items_out = 0;
    std::int64_t busy_ns = 0;
  };

  task<void> loop();
  task<void> deliver(progress_snapshot snapshot);

  pipeline_state& m_state;
  progress_options m_options;
  std::chrono::steady_clock::time_point m_started;
  std::chrono::steady_clock::time_point m_last;
  std::vector<previous> m_previous;
  std::uint64_t m_sequence = 0;
  std::stop_source m_stop;
  std::optional<join_handle<void>> m_loop;
  // Written by deliver() only; deliver() calls never overlap (the loop awaits
  // each, and finish() awaits the loop before its own).
  std::string m_error;
  bool m_failed = false;
};

}  // namespace sluice::detail
