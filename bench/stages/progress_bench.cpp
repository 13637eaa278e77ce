// What live progress costs: the pipeline benchmark's shape (serial source ->
// parallel_map -> serial sink, as in pipeline_bench.cpp) run three ways in
// the same iteration, interleaved:
//   plain     sluice::run(rt, p)                        (the anchor)
//   off       sluice::run(rt, p, run_options{})         (options, no progress)
//   on        progress every 1 ms, a callback reading every stage
// and reported as ratios against the anchor (1.00 = no cost). Snapshots only
// read counters the report keeps anyway, so "on" should stay within noise;
// 1 ms is 100-1000x more often than a terminal needs.
#include <benchmark/benchmark.h>
#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::uint64_t burn(std::uint64_t x, std::uint64_t spins) {
  for (std::uint64_t i = 0; i < spins; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

const std::size_t threads = std::max(2u, std::thread::hardware_concurrency());
constexpr std::size_t live_tokens = 2048;

enum class mode { plain, off, on };

double run_once(sluice::runtime& rt, const std::vector<std::uint64_t>& in, std::uint64_t spins, mode m,
                std::atomic<std::uint64_t>& snapshots) {
  std::uint64_t sum = 0;
  auto p = sluice::from_ref(in, {.chunk = 128}) |
           sluice::parallel_map([spins](std::uint64_t x) { return spins ? burn(x, spins) : x * 3; },
                                {.batch = 256, .capacity = live_tokens / 2}) |
           sluice::for_each([&](std::uint64_t x) { sum += x; }, {.capacity = live_tokens / 2});
  auto t0 = clock_type::now();
  if (m == mode::plain) {
    sluice::run(rt, std::move(p));
  } else {
    sluice::run_options options;
    if (m == mode::on) {
      options.on_progress(1ms, [&snapshots](const sluice::progress_snapshot& s) {
        std::uint64_t total = 0;
        for (const auto& st : s.stages) total += st.items_out + st.in_flight + st.queue_depth;
        benchmark::DoNotOptimize(total);
        snapshots.fetch_add(1, std::memory_order_relaxed);
      });
    }
    sluice::run(rt, std::move(p), std::move(options));
  }
  benchmark::DoNotOptimize(sum);
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// args: items, spins of busy work per item (0: the framework's own cost).
void BM_ProgressOverhead(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto spins = static_cast<std::uint64_t>(state.range(1));
  std::vector<std::uint64_t> in(n);
  std::iota(in.begin(), in.end(), 1);
  sluice::runtime rt({.threads = threads});
  std::atomic<std::uint64_t> snapshots{0};
  double t[3] = {0, 0, 0};
  std::size_t round = 0;
  for (auto _ : state) {
    // Rotate the order so no mode always runs first (warm caches, turbo).
    for (std::size_t k = 0; k < 3; ++k) {
      const auto m = static_cast<mode>((round + k) % 3);
      t[static_cast<std::size_t>(m)] += run_once(rt, in, spins, m, snapshots);
    }
    ++round;
  }
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["plain_ns"] = t[0] / items * 1e9;
  state.counters["off_ns"] = t[1] / items * 1e9;
  state.counters["on_ns"] = t[2] / items * 1e9;
  state.counters["off_vs_plain"] = t[1] / t[0];
  state.counters["on_vs_plain"] = t[2] / t[0];
  state.counters["snapshots_per_run"] = static_cast<double>(snapshots.load()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ProgressOverhead)
    ->Args({1'000'000, 0})
    ->Args({200'000, 2'000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(6);

}  // namespace

BENCHMARK_MAIN();
