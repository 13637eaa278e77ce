// sluice::run_options: how run() observes a pipeline while it runs.
//
//   sluice::run_monitor monitor;
//   auto report = sluice::run(rt, std::move(p), {.trace = "run.trace.json",
//                                                .stall_timeout = std::chrono::seconds(10),
//                                                .monitor = &monitor});
//
// Designated-initialiser friendly; every field has a default that costs
// nothing measurable. See docs/observability.md for a walkthrough.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace sluice {

class run_monitor;

struct run_options {
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
