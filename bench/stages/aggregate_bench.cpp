// count_by against hand-written anchors, in one binary: counting items per
// key (about 1000 distinct string keys, looked up as string_views) with
//   single     a single-threaded loop over the input into one key_map
//   combinable tbb::parallel_for + tbb::combinable<key_map>, merged at the end
//   sluice     from(input) | count_by(counts, key)
// Every contender must produce the same counts. Counters: ns per item and
// the ratios sluice/single and sluice/combinable (below 1: sluice faster).
#include <benchmark/benchmark.h>
#include <sluice/sluice.hpp>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/combinable.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using counts_t = sluice::key_map<std::string, std::size_t>;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Per-item work besides the lookup: find the key inside a log-like line.
std::string_view key_of(std::string_view line) {
  const auto start = line.find(' ') + 1;
  return line.substr(start, line.find(' ', start) - start);
}

void add(counts_t& counts, std::string_view key) {
  auto it = counts.find(key);
  if (it == counts.end()) it = counts.emplace(std::string(key), 0).first;
  ++it->second;
}

void BM_CountBy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> storage;
  storage.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    storage.push_back("GET /api/v1/items/" + std::to_string(i * 7919 % 1000) + " HTTP/1.1 200");
  std::vector<std::string_view> in(storage.begin(), storage.end());
  const std::size_t threads = std::max(2u, std::thread::hardware_concurrency());
  sluice::runtime rt({.threads = threads});
  tbb::task_arena arena(static_cast<int>(threads));
  double t_single = 0, t_tbb = 0, t_sluice = 0;
  for (auto _ : state) {
    counts_t single;
    auto t0 = clock_type::now();
    for (auto line : in) add(single, key_of(line));
    t_single += seconds_since(t0);

    counts_t merged;
    t0 = clock_type::now();
    arena.execute([&] {
      tbb::combinable<counts_t> local;
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n), [&](const tbb::blocked_range<std::size_t>& r) {
        auto& mine = local.local();
        for (std::size_t i = r.begin(); i != r.end(); ++i) add(mine, key_of(in[i]));
      });
      local.combine_each([&](const counts_t& c) {
        for (const auto& [k, v] : c) merged[k] += v;
      });
    });
    t_tbb += seconds_since(t0);

    counts_t counted;
    t0 = clock_type::now();
    sluice::run(rt, sluice::from(in, {.chunk = 1024}) | sluice::count_by(counted, key_of));
    t_sluice += seconds_since(t0);

    if (counted != single || merged != single) state.SkipWithError("the counts disagree");
  }
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["single_ns"] = t_single / items * 1e9;
  state.counters["combinable_ns"] = t_tbb / items * 1e9;
  state.counters["sluice_ns"] = t_sluice / items * 1e9;
  state.counters["vs_single"] = t_sluice / t_single;
  state.counters["vs_combinable"] = t_sluice / t_tbb;
}
BENCHMARK(BM_CountBy)->Arg(2'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
