// sluice::run: executes a pipeline and returns its report.
//
//   auto report = sluice::run(rt, sluice::from(v) | sluice::map(f) | sluice::to_vector(out));
//   auto report = sluice::run(rt, std::move(p), stop_source.get_token());   // cancellable
//   auto report = co_await sluice::run_async(rt, std::move(p));             // inside a coroutine
//   auto report = sluice::run(rt, std::move(p), options);                   // sluice::run_options:
//                                                                            // stop token, live progress
//
// Every stage runs as coroutines on `rt`'s arena. run() returns when every
// stage has finished and every channel is drained, whatever happened:
//  * success: the report;
//  * the stop token fired: the sources stop, items in flight are dropped
//    (counted), report.cancelled is true; no exception;
//  * a fail-fast stage threw: the pipeline is cancelled and drained, then
//    run() throws sluice::pipeline_error (stage, item index, the original
//    exception nested, and the report).
//
// run() blocks the calling thread: call it from main or a plain thread, not
// from an arena thread (use run_async there).
#pragma once

#include <stop_token>

#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/pipeline_error.hpp"
#include "sluice/stages/report.hpp"
#include "sluice/stages/run_options.hpp"
#include "sluice/stages/watchdog.hpp"  // run_monitor, for run_options::monitor

namespace sluice {

// Compiled in stages/src/run.cpp: nothing here depends on the item types, so
// a program does not generate (and optimise) the run's coroutine itself
// (docs/architecture.md, "Header cost").

/// Awaitable form of run(): a task yielding the report (or throwing
/// pipeline_error). `options`: limits in flight, the stop token, live
/// progress, a metrics endpoint, trace file, stall watchdog, monitor (see
/// run_options.hpp); a trace file that cannot be written throws
/// std::system_error naming it (after the run, unless the run failed).
task<pipeline_report> run_async(runtime& rt, pipeline p, run_options options);

/// run_async with only a stop token.
task<pipeline_report> run_async(runtime& rt, pipeline p, std::stop_token stop = {});

/// Runs `p` on `rt` and blocks until it finished; see the file comment.
pipeline_report run(runtime& rt, pipeline p, std::stop_token stop = {});

/// The same with run_options: limits in flight, stop token, observation.
pipeline_report run(runtime& rt, pipeline p, run_options options);

}  // namespace sluice
