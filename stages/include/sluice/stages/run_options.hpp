// sluice::run_options: how sluice::run executes a pipeline, beyond the pipeline itself.
//
//   sluice::run_options options{.stop = stop_source.get_token()};
//   options.on_progress(250ms, sluice::terminal_progress());   // live view on stderr
//   auto report = sluice::run(rt, std::move(p), std::move(options));
//
// Every field is optional; a default run_options is exactly run(rt, p).
//   options.metrics_endpoint(9464);                            // GET 127.0.0.1:9464/metrics
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>

#include "sluice/core/metrics_endpoint.hpp"
#include "sluice/stages/progress.hpp"

namespace sluice {

struct run_options {
  /// Stops the run when requested (see run.hpp: items in flight are dropped,
  /// report.cancelled is true).
  std::stop_token stop{};
  /// Live progress; see on_progress().
  progress_options progress{};
  /// Serve the run's live report over HTTP; see metrics_endpoint().
  std::optional<metrics_endpoint_options> metrics{};

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

  /// While the run goes on, answers GET http://host:port/metrics with the
  /// live report in Prometheus text format (pipeline_report::to_prometheus;
  /// counters as in a progress snapshot). Loopback only unless `host` says
  /// otherwise; the limits of sluice::metrics_endpoint apply. The socket is
  /// bound before any stage starts (run() throws std::system_error when it
  /// cannot be) and closed when the run ends. A worker running many
  /// pipelines, that wants one address for all of them, creates a
  /// sluice::metrics_endpoint itself instead.
  run_options& metrics_endpoint(std::uint16_t port, std::string host = "127.0.0.1") {
    metrics = metrics_endpoint_options{.port = port, .host = std::move(host)};
    return *this;
  }
};

}  // namespace sluice
