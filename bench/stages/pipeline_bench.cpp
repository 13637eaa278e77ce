// Pipelines side by side: sluice vs tbb::parallel_pipeline vs tbb::flow::graph
// on a serial -> parallel -> serial pipeline, and sluice::parallel_map vs a
// hand-written tbb::parallel_for. Each benchmark runs every contender on the
// same data in the same iteration and reports per-item time and the ratio
// (sluice / rival; below 1 means sluice is faster).
//
// With SLUICE_TRACE=path set, every sluice run records a trace into `path`
// (each run its own file, finished and renamed at the run's end, as any
// program run with SLUICE_TRACE pays it), and BM_SerialParallelSerial also
// measures what the trace costs: after its iterations it runs the same
// sluice pipeline in `pairs` (its third argument) traced/untraced pairs,
// traced first in even pairs and untraced first in odd ones, and reports
// per pair the ratio traced / untraced of wall time and of the process's
// CPU time (every thread, the trace writer included: less sensitive to a
// loaded machine):
//   traced_vs_untraced, cpu_traced_vs_untraced  the medians of the pairs' ratios
//   *_min, *_max                                their range
//   untraced_ns                                 the median untraced run, per item
// A single run of the no-work shape lasts about 20-30 ms, so one pair's
// ratio moves by a tenth with the scheduler; the median of 21 does not
// (the ratio of sums this benchmark printed before let one slow run
// decide). Without SLUICE_TRACE the pairs are not run.
#include <benchmark/benchmark.h>
#include <time.h>
#include <sluice/sluice.hpp>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "median.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// Busy work of roughly `ns` nanoseconds (calibrated once).
std::uint64_t spins_per_us = 0;
std::uint64_t burn(std::uint64_t x, std::uint64_t spins) {
  for (std::uint64_t i = 0; i < spins; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}
void calibrate() {
  if (spins_per_us) return;
  std::uint64_t spins = 1'000'000;
  auto t0 = clock_type::now();
  benchmark::DoNotOptimize(burn(1, spins));
  auto us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
  spins_per_us = static_cast<std::uint64_t>(static_cast<double>(spins) / us);
}
std::uint64_t work(std::uint64_t x, std::uint64_t work_ns) {
  return work_ns ? burn(x, spins_per_us * work_ns / 1000) : x * 3;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

const std::size_t threads = std::max(2u, std::thread::hardware_concurrency());

// Live items allowed in flight, for sluice (channel capacities) and TBB (tokens).
constexpr std::size_t live_tokens = 2048;

// SLUICE_TRACE's value, taken out of the environment on first use (before
// any runtime starts) so that the untraced runs stay untraced; the traced
// runs name the file in run_options::trace instead.
const std::string& trace_file() {
  static const std::string path = [] {
    const char* env = std::getenv("SLUICE_TRACE");
    std::string value = env != nullptr ? env : "";
    if (env != nullptr) ::unsetenv("SLUICE_TRACE");
    return value;
  }();
  return path;
}

double cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double run_sluice_pipeline(sluice::runtime& rt, const std::vector<std::uint64_t>& in, std::uint64_t work_ns,
                           const std::string& trace = trace_file()) {
  std::uint64_t sum = 0;
  auto t0 = clock_type::now();
  sluice::run(rt,
              sluice::from_ref(in, {.chunk = 128}) |
                  sluice::parallel_map([work_ns](std::uint64_t x) { return work(x, work_ns); },
                                       {.batch = 256, .capacity = live_tokens / 2}) |
                  sluice::for_each([&](std::uint64_t x) { sum += x; }, {.capacity = live_tokens / 2}),
              {.trace = trace});
  benchmark::DoNotOptimize(sum);
  return seconds_since(t0);
}

double run_tbb_pipeline(const std::vector<std::uint64_t>& in, std::uint64_t work_ns) {
  std::uint64_t sum = 0;
  std::size_t next = 0;
  auto t0 = clock_type::now();
  tbb::parallel_pipeline(
      live_tokens,
      tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                            [&](tbb::flow_control& fc) -> std::uint64_t {
                                              if (next == in.size()) {
                                                fc.stop();
                                                return 0;
                                              }
                                              return in[next++];
                                            }) &
          tbb::make_filter<std::uint64_t, std::uint64_t>(tbb::filter_mode::parallel,
                                                         [work_ns](std::uint64_t x) { return work(x, work_ns); }) &
          tbb::make_filter<std::uint64_t, void>(tbb::filter_mode::serial_in_order, [&](std::uint64_t x) { sum += x; }));
  benchmark::DoNotOptimize(sum);
  return seconds_since(t0);
}

double run_flow_graph(const std::vector<std::uint64_t>& in, std::uint64_t work_ns) {
  std::uint64_t sum = 0;
  std::size_t next = 0;
  auto t0 = clock_type::now();
  tbb::flow::graph g;
  tbb::flow::input_node<std::uint64_t> source(g, [&](tbb::flow_control& fc) -> std::uint64_t {
    if (next == in.size()) {
      fc.stop();
      return 0;
    }
    return in[next++];
  });
  tbb::flow::limiter_node<std::uint64_t> limit(g, live_tokens);
  tbb::flow::function_node<std::uint64_t, std::uint64_t> compute(
      g, tbb::flow::unlimited, [work_ns](std::uint64_t x) { return work(x, work_ns); });
  tbb::flow::function_node<std::uint64_t, tbb::flow::continue_msg> sink(g, tbb::flow::serial, [&](std::uint64_t x) {
    sum += x;
    return tbb::flow::continue_msg();
  });
  tbb::flow::make_edge(source, limit);
  tbb::flow::make_edge(limit, compute);
  tbb::flow::make_edge(compute, sink);
  tbb::flow::make_edge(sink, limit.decrementer());
  source.activate();
  g.wait_for_all();
  benchmark::DoNotOptimize(sum);
  return seconds_since(t0);
}

using sluice_bench::median;

// Alternated traced/untraced pairs of the sluice pipeline (see the file
// comment); adds their counters to `state`.
void measure_trace_cost(benchmark::State& state, sluice::runtime& rt, const std::vector<std::uint64_t>& in,
                        std::uint64_t work_ns, std::size_t pairs) {
  std::vector<double> wall, cpu, untraced;
  auto timed = [&](const std::string& trace, double& w, double& c) {
    const double c0 = cpu_seconds();
    w = run_sluice_pipeline(rt, in, work_ns, trace);
    c = cpu_seconds() - c0;
  };
  for (std::size_t i = 0; i < pairs; ++i) {
    double w_on = 0, c_on = 0, w_off = 0, c_off = 0;
    if (i % 2 == 0) {
      timed(trace_file(), w_on, c_on);
      timed({}, w_off, c_off);
    } else {
      timed({}, w_off, c_off);
      timed(trace_file(), w_on, c_on);
    }
    wall.push_back(w_on / w_off);
    cpu.push_back(c_on / c_off);
    untraced.push_back(w_off);
  }
  if (pairs == 0) return;
  auto range = [&](const char* name, const std::vector<double>& v) {
    state.counters[name] = median(v);
    state.counters[std::string(name) + "_min"] = *std::min_element(v.begin(), v.end());
    state.counters[std::string(name) + "_max"] = *std::max_element(v.begin(), v.end());
  };
  range("traced_vs_untraced", wall);
  range("cpu_traced_vs_untraced", cpu);
  state.counters["untraced_ns"] = median(untraced) / static_cast<double>(in.size()) * 1e9;
  state.counters["pairs"] = static_cast<double>(pairs);
}

// (1) serial -> parallel -> serial, args: items, work ns per item, and the
// traced/untraced pairs run when SLUICE_TRACE is set.
void BM_SerialParallelSerial(benchmark::State& state) {
  calibrate();
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto work_ns = static_cast<std::uint64_t>(state.range(1));
  std::vector<std::uint64_t> in(n);
  std::iota(in.begin(), in.end(), 1);
  const bool traced = !trace_file().empty();
  sluice::runtime rt({.threads = threads});
  double t_sluice = 0, t_pipeline = 0, t_graph = 0;
  for (auto _ : state) {
    t_sluice += run_sluice_pipeline(rt, in, work_ns);  // traced when SLUICE_TRACE is set
    t_pipeline += run_tbb_pipeline(in, work_ns);
    t_graph += run_flow_graph(in, work_ns);
  }
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["sluice_ns"] = t_sluice / items * 1e9;
  state.counters["tbb_pipeline_ns"] = t_pipeline / items * 1e9;
  state.counters["flow_graph_ns"] = t_graph / items * 1e9;
  state.counters["vs_pipeline"] = t_sluice / t_pipeline;
  state.counters["vs_flow_graph"] = t_sluice / t_graph;
  if (traced) measure_trace_cost(state, rt, in, work_ns, static_cast<std::size_t>(state.range(2)));
}
// Pairs: 21 of ~25 ms runs for the no-work shape; 5 of ~0.5 s runs with work
// (its ratio varies far less, and 21 pairs would take 20 s).
BENCHMARK(BM_SerialParallelSerial)
    ->Args({1'000'000, 0, 21})
    ->Args({100'000, 10'000, 5})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

// (2) parallel_map over a vector vs tbb::parallel_for over the same vector.
void BM_ParallelMapVsParallelFor(benchmark::State& state) {
  calibrate();
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto work_ns = static_cast<std::uint64_t>(state.range(1));
  std::vector<std::uint64_t> in(n);
  std::iota(in.begin(), in.end(), 1);
  (void)trace_file();  // out of the environment before the runtime starts
  sluice::runtime rt({.threads = threads});
  tbb::task_arena arena(static_cast<int>(threads));
  double t_sluice = 0, t_tbb = 0;
  for (auto _ : state) {
    std::vector<std::uint64_t> out_tbb(n);
    auto t0 = clock_type::now();
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i != r.end(); ++i) out_tbb[i] = work(in[i], work_ns);
      });
    });
    t_tbb += seconds_since(t0);

    std::vector<std::uint64_t> out_sluice;
    out_sluice.reserve(n);
    t0 = clock_type::now();
    sluice::run(rt,
                sluice::from_ref(in, {.chunk = 1024}) |
                    sluice::parallel_map([work_ns](std::uint64_t x) { return work(x, work_ns); },
                                         {.batch = 4096, .capacity = 16384}) |
                    sluice::to_vector(out_sluice),
                {.trace = trace_file()});
    t_sluice += seconds_since(t0);
    if (out_sluice.size() != n) state.SkipWithError("sluice lost items");
  }
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["sluice_ns"] = t_sluice / items * 1e9;
  state.counters["parallel_for_ns"] = t_tbb / items * 1e9;
  state.counters["ratio"] = t_sluice / t_tbb;
}
BENCHMARK(BM_ParallelMapVsParallelFor)
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1'000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
