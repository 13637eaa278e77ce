// broadcast and partition against hand-written anchors, in one binary.
//
// Broadcast: every int to two sinks, each summing what it gets.
//   flow_chunks  tbb::flow::graph: broadcast_node<std::vector<int>> of
//                1024-item chunks into two serial function_nodes
//   flow_items   the same with broadcast_node<int>, one message per item (the
//                way the flow graph is usually written), on n/10 items
//   sluice       from(in) | broadcast(for_each(sum_a), for_each(sum_b))
//   line         from(in) | for_each(sum): one sink, no node (line_ns, for
//                what the node and the second branch add)
// Partition: every int to one of two lanes by key (x & 4095); each lane adds
// into its own per-key table (no locks).
//   queues       the calling thread routes into per-lane buffers of 1024 and
//                pushes full ones into one moodycamel::BlockingConcurrentQueue
//                per lane (at most 16 buffers queued: the producer yields),
//                one consumer thread per lane
//   sluice       from(in) | partition(key, 2, lane | for_each(add))
// Every contender must produce the same sums. Counters: ns per item of each
// and the ratios sluice/anchor (below 1: sluice faster).
#include <benchmark/benchmark.h>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <sluice/sluice.hpp>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <numeric>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::vector<int> inputs(std::size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::size_t threads() { return std::max(2u, std::thread::hardware_concurrency()); }

void BM_Broadcast(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto in = inputs(n);
  const std::vector<int> few(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n / 10));
  const std::int64_t expected = static_cast<std::int64_t>(n) * static_cast<std::int64_t>(n - 1) / 2;
  const std::int64_t expected_few =
      static_cast<std::int64_t>(few.size()) * static_cast<std::int64_t>(few.size() - 1) / 2;
  sluice::runtime rt({.threads = threads()});
  tbb::task_arena arena(static_cast<int>(threads()));
  double t_chunks = 0, t_items = 0, t_line = 0, t_sluice = 0;
  for (auto _ : state) {
    std::int64_t a = 0, b = 0;
    auto t0 = clock_type::now();
    arena.execute([&] {
      tbb::flow::graph g;
      auto sum_into = [](std::int64_t& s) {
        return [&s](const std::vector<int>& c) {
          for (int x : c) s += x;
          return tbb::flow::continue_msg();
        };
      };
      tbb::flow::broadcast_node<std::vector<int>> node(g);
      tbb::flow::function_node<std::vector<int>> fa(g, tbb::flow::serial, sum_into(a));
      tbb::flow::function_node<std::vector<int>> fb(g, tbb::flow::serial, sum_into(b));
      tbb::flow::make_edge(node, fa);
      tbb::flow::make_edge(node, fb);
      for (std::size_t i = 0; i < n; i += 1024)
        node.try_put(std::vector<int>(in.begin() + static_cast<std::ptrdiff_t>(i),
                                      in.begin() + static_cast<std::ptrdiff_t>(std::min(n, i + 1024))));
      g.wait_for_all();
    });
    t_chunks += seconds_since(t0);
    if (a != expected || b != expected) state.SkipWithError("flow (chunks) sums disagree");

    std::int64_t fa_sum = 0, fb_sum = 0;
    t0 = clock_type::now();
    arena.execute([&] {
      tbb::flow::graph g;
      tbb::flow::broadcast_node<int> node(g);
      tbb::flow::function_node<int> fa(g, tbb::flow::serial, [&](int x) {
        fa_sum += x;
        return tbb::flow::continue_msg();
      });
      tbb::flow::function_node<int> fb(g, tbb::flow::serial, [&](int x) {
        fb_sum += x;
        return tbb::flow::continue_msg();
      });
      tbb::flow::make_edge(node, fa);
      tbb::flow::make_edge(node, fb);
      for (int x : few) node.try_put(x);
      g.wait_for_all();
    });
    t_items += seconds_since(t0);
    if (fa_sum != expected_few || fb_sum != expected_few) state.SkipWithError("flow (items) sums disagree");

    // The same source and sink in a line: what the node adds on top.
    std::int64_t sl = 0;
    t0 = clock_type::now();
    sluice::run(rt, sluice::from(std::ref(in), {.chunk = 1024}) | sluice::for_each([&](int x) { sl += x; }));
    t_line += seconds_since(t0);
    if (sl != expected) state.SkipWithError("sluice (line) sum disagrees");

    std::int64_t sa = 0, sb = 0;
    t0 = clock_type::now();
    sluice::run(
        rt, sluice::from(std::ref(in), {.chunk = 1024}) | sluice::broadcast(sluice::for_each([&](int x) { sa += x; }),
                                                                            sluice::for_each([&](int x) { sb += x; })));
    t_sluice += seconds_since(t0);
    if (sa != expected || sb != expected) state.SkipWithError("sluice sums disagree");
  }
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  const double per_sluice = t_sluice / items, per_chunks = t_chunks / items;
  const double per_items = t_items / (static_cast<double>(few.size()) * static_cast<double>(state.iterations()));
  state.counters["flow_chunks_ns"] = per_chunks * 1e9;
  state.counters["flow_items_ns"] = per_items * 1e9;
  state.counters["line_ns"] = t_line / items * 1e9;
  state.counters["sluice_ns"] = per_sluice * 1e9;
  state.counters["vs_flow_chunks"] = per_sluice / per_chunks;
  state.counters["vs_flow_items"] = per_sluice / per_items;
}
BENCHMARK(BM_Broadcast)->Arg(2'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

constexpr int keys = 4096;
using table = std::vector<std::int64_t>;

int key_of(int x) { return x & (keys - 1); }

void BM_Partition(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t lanes = 2;
  const auto in = inputs(n);
  sluice::runtime rt({.threads = threads()});
  double t_queues = 0, t_sluice = 0;
  for (auto _ : state) {
    // Hand-written: route, batch, bounded queues, one thread per lane.
    std::array<table, lanes> q_sums{table(keys), table(keys)};
    auto t0 = clock_type::now();
    {
      std::array<moodycamel::BlockingConcurrentQueue<std::vector<int>>, lanes> queues;
      std::vector<std::thread> consumers;
      for (std::size_t l = 0; l < lanes; ++l) {
        consumers.emplace_back([&, l] {
          std::vector<int> batch;
          for (;;) {
            queues[l].wait_dequeue(batch);
            if (batch.empty()) return;
            for (int x : batch) q_sums[l][static_cast<std::size_t>(key_of(x))] += x;
          }
        });
      }
      std::array<std::vector<int>, lanes> buffers;
      auto push = [&](std::size_t l) {
        while (queues[l].size_approx() >= 16) std::this_thread::yield();
        queues[l].enqueue(std::exchange(buffers[l], {}));
        buffers[l].reserve(1024);
      };
      for (int x : in) {
        const auto l = std::hash<int>{}(key_of(x)) % lanes;
        buffers[l].push_back(x);
        if (buffers[l].size() == 1024) push(l);
      }
      for (std::size_t l = 0; l < lanes; ++l) {
        if (!buffers[l].empty()) push(l);
        queues[l].enqueue(std::vector<int>{});  // end
      }
      for (auto& t : consumers) t.join();
    }
    t_queues += seconds_since(t0);

    std::array<table, lanes> s_sums{table(keys), table(keys)};
    t0 = clock_type::now();
    sluice::run(rt, sluice::from(std::ref(in), {.chunk = 1024}) |
                        sluice::partition(key_of, lanes, [&](auto lane, std::size_t l) {
                          return std::move(lane) | sluice::for_each([&s_sums, l](int x) {
                                   s_sums[l][static_cast<std::size_t>(key_of(x))] += x;
                                 });
                        }));
    t_sluice += seconds_since(t0);
    if (s_sums != q_sums) state.SkipWithError("the per-key sums disagree");
  }
  const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["queues_ns"] = t_queues / items * 1e9;
  state.counters["sluice_ns"] = t_sluice / items * 1e9;
  state.counters["vs_queues"] = t_sluice / t_queues;
}
BENCHMARK(BM_Partition)->Arg(2'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
