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
// Observation: see docs/observability.md for a walkthrough.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

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
  /// receivers, async items in flight and what is awaited (HTTP requests,
  /// timers, rate-limit pauses), and what each arena thread is running.
  /// Printed once per stall (again after progress resumed and stalled
  /// anew). Zero or negative: off.
  std::chrono::milliseconds stall_timeout{30'000};
  /// Receives each stall dump; default: written to standard error. Called
  /// on the runtime's reactor thread: it must not block for long.
  std::function<void(std::string_view dump)> on_stall = {};
  /// Attach this monitor for the duration of the run: monitor->dump()
  /// gives the same picture on demand (e.g. from a SIGQUIT handler set up
  /// with sluice::stop_on_signals). Must outlive the run.
  run_monitor* monitor = nullptr;
};

}  // namespace sluice
