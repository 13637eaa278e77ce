// sluice::run_options: how sluice::run executes and observes a pipeline.
//
//   sluice::run_monitor monitor;
//   auto report = sluice::run(rt, std::move(p), {.max_bytes_in_flight = 64 << 20,
//                                                .stop = stop.get_token(),
//                                                .trace = "run.trace.json",
//                                                .stall_timeout = std::chrono::seconds(10),
//                                                .monitor = &monitor});
//
// Designated-initialiser friendly; every field has a default that costs
// nothing measurable ("no limit", "no trace", watchdog after 30 s).
//
// The limits in flight bound what waits in the pipeline's channels, summed
// over all of them, like parallel_pipeline's token count: while the sum is
// at the limit, the source (and the stages fused with it) wait; the stages
// after it never wait on the limit, so they always drain (no deadlock). A
// chunk larger than the whole limit still goes, alone, when nothing else
// is in flight. What stages hold while working on it (a chunk each, a batch
// per parallel_map worker) comes on top: keep chunks small for big items
// (`.chunk = 1` on the source) and see docs/pipeline.md, "Choosing the
// item granularity". Bytes are measured with sluice::item_bytes (item_bytes.hpp).
//
// Observation: live progress (on_progress, e.g. with sluice::terminal_progress()),
// a trace file, the stall watchdog, a Prometheus endpoint; see
// docs/observability.md for a walkthrough.
//
//   sluice::run_options options{.stop = stop_source.get_token()};
//   options.on_progress(250ms, sluice::terminal_progress());   // live view on stderr
//   options.metrics_endpoint(9464);                            // GET 127.0.0.1:9464/metrics
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/metrics_endpoint.hpp"
#include "sluice/stages/progress.hpp"

namespace sluice {

class run_monitor;

struct run_options {
  /// Items waiting in the pipeline's channels at most (0: no limit).
  std::size_t max_items_in_flight = 0;
  /// Bytes (sluice::item_bytes) waiting in the pipeline's channels at most (0: no limit).
  std::size_t max_bytes_in_flight = 0;
  /// Cancels the run when stopped (see run.hpp): the run's one stop token.
  std::stop_token stop = {};
  /// Write a Chrome Trace Event file of the run here (open it in Perfetto;
  /// see sluice/core/trace.hpp). Empty: the SLUICE_TRACE environment
  /// variable's value, when set. When a trace_session is already active
  /// (started by the program), the run records into it instead. An
  /// unwritable path makes run() throw std::system_error naming it.
  std::string trace = {};
  /// When no stage makes progress (no item received, sent, dropped,
  /// failed or retried anywhere) for this long, print a picture of the
  /// pipeline: each edge's queue depth and capacity, blocked senders and
  /// receivers, each async item in flight with what it awaits (HTTP
  /// requests, timers, oneshots, rate-limit pauses, labelled awaitables),
  /// and what each arena thread is running.
  /// Printed once per stall (again after progress resumed and stalled
  /// anew). Zero or negative: off.
  std::chrono::milliseconds stall_timeout{30'000};
  /// Receives each stall dump (default: standard error), on the watchdog's own
  /// thread; a call in progress delays other runs' checks and run()'s return.
  std::function<void(std::string_view dump)> on_stall = {};
  /// Attach this monitor for the duration of the run: monitor->dump()
  /// gives the same picture on demand (e.g. from a SIGQUIT handler set up
  /// with sluice::stop_on_signals). Must outlive the run.
  run_monitor* monitor = nullptr;
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
  /// otherwise (a numeric IPv4 or IPv6 address: "::1", "::", "0.0.0.0"); the limits of sluice::metrics_endpoint apply.
  /// The socket is bound before any stage starts (run() throws std::system_error when it cannot be) and closed when the
  /// run ends. A worker running many pipelines, that wants one address for all of them, creates a
  /// sluice::metrics_endpoint itself instead.
  run_options& metrics_endpoint(std::uint16_t port, std::string host = "127.0.0.1") {
    metrics = metrics_endpoint_options{.port = port, .host = std::move(host)};
    return *this;
  }
};

}  // namespace sluice
