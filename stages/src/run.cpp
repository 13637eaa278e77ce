// sluice::run and run_async (stages/run.hpp).
#include "sluice/stages/run.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "sluice/core/metrics_endpoint.hpp"
#include "sluice/stages/detail/pipeline_state.hpp"
#include "sluice/stages/detail/progress_sampler.hpp"
#include "sluice/stages/watchdog.hpp"

namespace sluice {
namespace detail {
namespace {

// What run_options::metrics_endpoint serves: the report as it stands now.
std::function<std::string()> live_prometheus(std::shared_ptr<pipeline_state> state,
                                             std::chrono::steady_clock::time_point started) {
  return [state = std::move(state), started] {
    return state->make_report(std::chrono::steady_clock::now() - started).to_prometheus();
  };
}

}  // namespace
}  // namespace detail

task<pipeline_report> run_async(runtime& rt, pipeline p, run_options options) {
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

task<pipeline_report> run_async(runtime& rt, pipeline p, std::stop_token stop) {
  return run_async(rt, std::move(p), run_options{.stop = std::move(stop)});
}

pipeline_report run(runtime& rt, pipeline p, std::stop_token stop) {
  return rt.block_on(run_async(rt, std::move(p), std::move(stop)));
}

pipeline_report run(runtime& rt, pipeline p, run_options options) {
  return rt.block_on(run_async(rt, std::move(p), std::move(options)));
}

}  // namespace sluice
