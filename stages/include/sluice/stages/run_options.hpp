// sluice::run_options: how sluice::run executes a pipeline, beyond the pipeline itself.
//
//   sluice::run_options options{.stop = stop_source.get_token()};
//   options.on_progress(250ms, sluice::terminal_progress());   // live view on stderr
//   auto report = sluice::run(rt, std::move(p), std::move(options));
//
// Every field is optional; a default run_options is exactly run(rt, p).
#pragma once

#include <chrono>
#include <stop_token>
#include <utility>

#include "sluice/stages/progress.hpp"

namespace sluice {

struct run_options {
  /// Stops the run when requested (see run.hpp: items in flight are dropped,
  /// report.cancelled is true).
  std::stop_token stop{};
  /// Live progress; see on_progress().
  progress_options progress{};

  /// Calls `callback` with a progress_snapshot every `interval` while the run
  /// goes on, and once more, with `final` set, after it ended (also when it
  /// failed or was cancelled, before run() returns or throws).
  ///
  /// Where it runs: on the runtime's blocking pool, never on an arena thread,
  /// one call at a time (a call that outlasts the interval delays the next
  /// one instead of piling up); it may block briefly, e.g. to write to a
  /// terminal. The snapshot is only valid during the call.
  ///
  /// Errors: if the callback throws, the run goes on without further
  /// callbacks (observing must not abort the work), and
  /// report.progress_error holds the exception's message (also reported by
  /// report.describe()); the final snapshot is then not delivered.
  /// An interval below 1 ms is raised to 1 ms.
  run_options& on_progress(std::chrono::milliseconds interval, progress_callback callback) {
    progress = {.interval = interval, .callback = std::move(callback)};
    return *this;
  }
};

}  // namespace sluice
