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

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <utility>

#include "sluice/core/metrics_endpoint.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/detail/progress_sampler.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/pipeline_error.hpp"
#include "sluice/stages/report.hpp"
#include "sluice/stages/run_options.hpp"
#include "sluice/stages/watchdog.hpp"

namespace sluice {
namespace detail {

// What run_options::metrics_endpoint serves: the report as it stands now.
inline std::function<std::string()> live_prometheus(std::shared_ptr<pipeline_state> state,
                                                    std::chrono::steady_clock::time_point started) {
  return [state = std::move(state), started] {
    return state->make_report(std::chrono::steady_clock::now() - started).to_prometheus();
  };
}

}  // namespace detail

/// Awaitable form of run(): a task yielding the report (or throwing
/// pipeline_error). `options`: limits in flight, the stop token, live
/// progress, a metrics endpoint, trace file, stall watchdog, monitor (see
/// run_options.hpp); a trace file that cannot be written throws
/// std::system_error naming it (after the run, unless the run failed).
inline task<pipeline_report> run_async(runtime& rt, pipeline p, run_options options) {
  auto state = std::make_shared<detail::pipeline_state>(rt, p.stages());
  state->limit_in_flight(options.max_items_in_flight, options.max_bytes_in_flight);
  detail::run_observation observation(state, options);
  std::optional<std::stop_callback<std::function<void()>>> on_stop;
  if (options.stop.stop_possible())
    on_stop.emplace(options.stop, std::function<void()>([state] { state->cancel_by_user(); }));
  auto started = std::chrono::steady_clock::now();
  detail::progress_sampler progress(*state, std::move(options.progress), started);
  std::optional<metrics_endpoint> metrics;
  if (options.metrics) metrics.emplace(rt, *options.metrics, detail::live_prometheus(state, started));
  p.launch(*state);
  progress.start();
  co_await state->join();
  on_stop.reset();
  if (metrics) metrics->stop();
  auto report = state->make_report(std::chrono::steady_clock::now() - started);
  if (progress.enabled()) co_await progress.finish(report);
  try {
    state->rethrow_if_failed(report);
  } catch (...) {
    observation.finish(true);
    throw;
  }
  observation.finish(false);
  co_return report;
}

/// run_async with only a stop token.
inline task<pipeline_report> run_async(runtime& rt, pipeline p, std::stop_token stop = {}) {
  return run_async(rt, std::move(p), run_options{.stop = std::move(stop)});
}

/// Runs `p` on `rt` and blocks until it finished; see the file comment.
inline pipeline_report run(runtime& rt, pipeline p, std::stop_token stop = {}) {
  return rt.block_on(run_async(rt, std::move(p), std::move(stop)));
}

/// The same with run_options: limits in flight, stop token, observation.
inline pipeline_report run(runtime& rt, pipeline p, run_options options) {
  return rt.block_on(run_async(rt, std::move(p), std::move(options)));
}

}  // namespace sluice
