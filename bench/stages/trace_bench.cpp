// Cost of tracing on the pipeline benchmark's shape (serial -> parallel_map
// -> serial, as BM_SerialParallelSerial): four variants in the same
// iteration, interleaved so machine load hits them alike, in an order that
// rotates from one iteration to the next (8 iterations: each variant runs
// first twice) after an untimed warm-up run. With a fixed order the variant
// run first always followed the previous iteration's trace session and its
// finish(), and ran 15-26 % slower than it does alone (2026-12-05: the
// compiled-out anchor, which then made "off" look 0.74-0.85 of it):
//   compiled_out  trace points removed at compile time (SLUICE_NO_TRACE; the anchor)
//   off           trace points compiled in, no trace_session active
//   on            a trace_session recording to a file in the temp directory
//   watchdog      trace points compiled in, no trace, the stall watchdog on
//                 (run()'s default; the other variants switch it off)
// Counters: per-item times, off_vs_compiled_out, on_vs_off and
// watchdog_vs_off (ratios of the summed times; 1.00 = no cost) with their
// min, max and median over iterations (off_vs_out_*). The compiled-out
// anchor is the same source in another translation unit, so its code sits
// elsewhere in the binary, and its figure moves with that placement
// (2026-12-05: in this binary it ran 3-5 % slower than "off" in every
// position; linked into a scratch program, 1-3 % faster). Read
// off_vs_compiled_out as "within a few per cent", not finer.
// line_transfer_ns_min/_max: the machine's
// one-way cache-line transfer time, measured before and after the row.
// "on" times the run only; finish_ms is the final flush + rename (with the
// writer thread, also the formatting of the last buffers), and
// on_finish_vs_off counts it in: the run plus its finish() against off.
// session_vs_off (and cpu_session_vs_off) counts everything a traced run
// costs, as run() with SLUICE_TRACE pays it: starting the session (file,
// writer thread), the run, and finish().
// On a loaded machine wall time mostly measures the scheduler, so the
// process's CPU time (every thread: workers, reactor, trace writer) is
// measured too: cpu_on_vs_off (run only) and cpu_on_finish_vs_off (run
// plus finish, where the writer formats what is left), with their min,
// max and median over iterations.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <time.h>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "line_transfer.hpp"
#include "median.hpp"
#include "trace_bench_shape.hpp"

namespace trace_bench {
double run_compiled_out(sluice::runtime& rt, std::size_t n, std::uint64_t spins, std::uint64_t& sum);

struct traced_item {
  std::uint64_t value;
};
}  // namespace trace_bench

namespace {

using trace_bench::traced_item;

double cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// One figure per iteration: its range and median.
struct ratio_range {
  std::vector<double> values;
  void add(double r) { values.push_back(r); }
  [[nodiscard]] double min() const { return values.empty() ? 0 : *std::min_element(values.begin(), values.end()); }
  [[nodiscard]] double max() const { return values.empty() ? 0 : *std::max_element(values.begin(), values.end()); }
  [[nodiscard]] double median() const { return sluice_bench::median(values); }
};

// `name` = the ratio of the summed times, `name`_min / _max / _median =
// the per-iteration ratios' range and median (one slow iteration moves the
// summed ratio; the median it does not).
void report_ratio(benchmark::State& state, const std::string& name, double ratio, const ratio_range& range) {
  state.counters[name] = ratio;
  state.counters[name + "_min"] = range.min();
  state.counters[name + "_max"] = range.max();
  state.counters[name + "_median"] = range.median();
}

void BM_TraceOverhead(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto spins = static_cast<std::uint64_t>(state.range(1));
  std::vector<traced_item> in(n);
  for (std::size_t i = 0; i < n; ++i) in[i].value = i + 1;
  const std::size_t threads = std::max(2u, std::thread::hardware_concurrency());
  sluice::runtime rt({.threads = threads});
  const auto file =
      (std::filesystem::temp_directory_path() / ("sluice-trace-bench-" + std::to_string(::getpid()) + ".json"))
          .string();
  double t_out = 0, t_off = 0, t_on = 0, t_dog = 0, t_finish = 0, t_session = 0, bytes = 0;
  ratio_range off_ratio, on_ratio, dog_ratio, finish_ratio, cpu_on_ratio, cpu_finish_ratio, session_ratio,
      cpu_session_ratio;
  double c_off = 0, c_on = 0, c_finish = 0, c_session = 0;
  std::uint64_t sum = 0;
  const double line_before = sluice_bench::one_way_line_transfer_ns();
  // One iteration's figures; each variant fills its own.
  struct iteration {
    double out = 0, off = 0, cpu_off = 0, dog = 0, on = 0, start = 0, finish = 0, cpu_on = 0, cpu_finish = 0,
           cpu_session = 0;
  };
  auto run_out = [&](iteration& it) { it.out = trace_bench::run_compiled_out(rt, n, spins, sum); };
  auto run_off = [&](iteration& it) {
    const double cpu0 = cpu_seconds();
    it.off = trace_bench::run_shape(rt, in, spins, sum);
    it.cpu_off = cpu_seconds() - cpu0;
  };
  auto run_dog = [&](iteration& it) { it.dog = trace_bench::run_shape(rt, in, spins, sum, true); };
  auto run_on = [&](iteration& it) {
    const double cpu0 = cpu_seconds();
    const auto t0s = std::chrono::steady_clock::now();
    sluice::trace_session session(file);
    it.start = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0s).count();
    const double cpu1 = cpu_seconds();
    it.on = trace_bench::run_shape(rt, in, spins, sum);
    const double cpu2 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    bytes = static_cast<double>(session.finish().bytes);
    it.finish = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu3 = cpu_seconds();
    it.cpu_on = cpu2 - cpu1;
    it.cpu_finish = cpu3 - cpu1;
    it.cpu_session = cpu3 - cpu0;
  };
  std::size_t first = 0;
  for (auto _ : state) {
    // Untimed: wakes the arena and settles the machine after the previous
    // iteration, whatever ran last.
    trace_bench::run_shape(rt, in, spins, sum);
    iteration it;
    for (std::size_t k = 0; k < 4; ++k) {
      switch ((first + k) % 4) {
        case 0:
          run_out(it);
          break;
        case 1:
          run_off(it);
          break;
        case 2:
          run_dog(it);
          break;
        default:
          run_on(it);
          break;
      }
    }
    first = (first + 1) % 4;
    t_out += it.out;
    t_off += it.off;
    t_on += it.on;
    t_dog += it.dog;
    t_finish += it.finish;
    t_session += it.start + it.on + it.finish;
    c_off += it.cpu_off;
    c_on += it.cpu_on;
    c_finish += it.cpu_finish;
    c_session += it.cpu_session;
    off_ratio.add(it.off / it.out);
    on_ratio.add(it.on / it.off);
    dog_ratio.add(it.dog / it.off);
    finish_ratio.add((it.on + it.finish) / it.off);
    session_ratio.add((it.start + it.on + it.finish) / it.off);
    cpu_on_ratio.add(it.cpu_on / it.cpu_off);
    cpu_finish_ratio.add(it.cpu_finish / it.cpu_off);
    cpu_session_ratio.add(it.cpu_session / it.cpu_off);
  }
  // SLUICE_TRACE_BENCH_KEEP=1 keeps the last trace, to look at what it records.
  if (std::getenv("SLUICE_TRACE_BENCH_KEEP") == nullptr) std::filesystem::remove(file);
  benchmark::DoNotOptimize(sum);
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["compiled_out_ns"] = t_out / items * 1e9;
  state.counters["off_ns"] = t_off / items * 1e9;
  state.counters["on_ns"] = t_on / items * 1e9;
  state.counters["off_vs_compiled_out"] = t_off / t_out;
  state.counters["off_vs_out_min"] = off_ratio.min();
  state.counters["off_vs_out_max"] = off_ratio.max();
  state.counters["off_vs_out_median"] = off_ratio.median();
  report_ratio(state, "on_vs_off", t_on / t_off, on_ratio);
  report_ratio(state, "watchdog_vs_off", t_dog / t_off, dog_ratio);
  report_ratio(state, "cpu_on_vs_off", c_on / c_off, cpu_on_ratio);
  report_ratio(state, "cpu_on_finish_vs_off", c_finish / c_off, cpu_finish_ratio);
  report_ratio(state, "on_finish_vs_off", (t_on + t_finish) / t_off, finish_ratio);
  report_ratio(state, "session_vs_off", t_session / t_off, session_ratio);
  report_ratio(state, "cpu_session_vs_off", c_session / c_off, cpu_session_ratio);
  state.counters["finish_ms"] = t_finish / static_cast<double>(state.iterations()) * 1e3;
  state.counters["trace_MB"] = bytes / 1e6;
  // The machine's line transfer time before and after (line_transfer.hpp):
  // the trace's writer hands buffers across threads, so its cost moves with it.
  const double line_after = sluice_bench::one_way_line_transfer_ns();
  state.counters["line_transfer_ns_min"] = std::min(line_before, line_after);
  state.counters["line_transfer_ns_max"] = std::max(line_before, line_after);
}
BENCHMARK(BM_TraceOverhead)
    ->Args({1'000'000, 0})
    ->Args({200'000, 1'000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(8);

// The trace calls of one no-work run above (1M items in chunks of 128:
// about 16k stage sections, back to back in fours so they merge into 4k
// records, and 3.3k channel waits, one coroutine per stage; a 0.9 MB
// file, 1.4 MB before waits became one "X" event each), replayed without the
// pipeline, from session start to finish(): the recorder's and writer's own
// CPU time, which a loaded machine disturbs far less than the ratios above.
// trace_cpu_ms is per trace; trace_cpu_vs_off_cpu divides it by the CPU
// time of an untraced no-work run (measured here, interleaved).
void BM_TraceCallsOfANoWorkRun(benchmark::State& state) {
  const std::string names[3] = {"work", "numbers", "sum"};
  const auto file =
      (std::filesystem::temp_directory_path() / ("sluice-trace-calls-" + std::to_string(::getpid()) + ".json"))
          .string();
  std::vector<traced_item> in(1'000'000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i].value = i + 1;
  const std::size_t threads = std::max(2u, std::thread::hardware_concurrency());
  sluice::runtime rt({.threads = threads});
  std::uint64_t sum = 0;
  double c_trace = 0, c_off = 0;
  ratio_range per_trace;
  for (auto _ : state) {
    const double c0 = cpu_seconds();
    trace_bench::run_shape(rt, in, 0, sum);
    const double c0_end = cpu_seconds();
    // The arena's workers spin a while after a run before they sleep:
    // that CPU time is the run's, not the trace calls'.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double c1 = cpu_seconds();
    {
      sluice::trace_session session(file);
      auto* r = sluice::trace_active();
      auto t = std::chrono::steady_clock::now();
      using ns = std::chrono::nanoseconds;
      for (int i = 0; i < 16'000; ++i) {
        const auto& name = names[(i / 4) % 3];
        r->stage_section(name, t, t + ns(2000), 128);
        t += ns(2500);
        if (i % 4 == 3 && (i / 4) % 6 < 5) {
          r->channel_wait(name, "waiting for input", t + ns(3000), t + ns(23'000), &name);  // a coroutine per stage
          t += ns(24'000);
        }
      }
      session.finish();
    }
    const double c2 = cpu_seconds();
    c_off += c0_end - c0;
    c_trace += c2 - c1;
    per_trace.add((c2 - c1) * 1e3);
  }
  std::filesystem::remove(file);
  benchmark::DoNotOptimize(sum);
  const auto n = static_cast<double>(state.iterations());
  state.counters["trace_cpu_ms"] = c_trace / n * 1e3;
  state.counters["trace_cpu_ms_min"] = per_trace.min();
  state.counters["trace_cpu_ms_max"] = per_trace.max();
  state.counters["off_cpu_ms"] = c_off / n * 1e3;
  state.counters["trace_cpu_vs_off_cpu"] = c_trace / c_off;
}
BENCHMARK(BM_TraceCallsOfANoWorkRun)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(15);

}  // namespace

BENCHMARK_MAIN();
