// Topologies beyond a line: merge (fan-in), broadcast and tee (fan-out),
// partition (by key into lanes). Each is tested for order, backpressure
// (a slow branch bounds memory), errors in one branch (named), cancellation
// and counters that add up across the graph, plus a stress test for loss
// and duplication.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "topology_support.hpp"

using namespace std::chrono_literals;
using sluice_test::error_of;
using sluice_test::expect_consistent;
using sluice_test::index_of;
using sluice_test::iota;
using sluice_test::scale;
using sluice_test::tracked;

namespace {

sluice::generator<int> forever() {
  for (int i = 0;; ++i) co_yield i;
}

// Slows a sink down without a wall-time assertion anywhere: a short nap
// every few items lets everything upstream fill up.
void nap_every(int i, int every) {
  if (i % every == 0) std::this_thread::sleep_for(200us);
}

struct tagged {
  int input = 0;
  int seq = 0;
};

// Counts copies (moves are free).
struct copy_counted {
  static inline std::atomic<long> copies{0};
  int value = 0;
  explicit copy_counted(int v) : value(v) {}
  copy_counted(const copy_counted& o) : value(o.value) { copies.fetch_add(1); }
  copy_counted(copy_counted&&) noexcept = default;
  copy_counted& operator=(const copy_counted& o) {
    value = o.value;
    copies.fetch_add(1);
    return *this;
  }
  copy_counted& operator=(copy_counted&&) noexcept = default;
};

// ---------------------------------------------------------------- merge --

TEST(Merge, ItemsOfOneInputKeepTheirOrderAndNoneIsLost) {
  sluice::runtime rt({.threads = 2});
  constexpr int inputs = 3;
  const int per_input = static_cast<int>(20000 / scale);
  std::vector<sluice::flow<tagged>> flows;
  for (int in = 0; in < inputs; ++in)
    flows.push_back(
        sluice::from(iota(static_cast<std::size_t>(per_input)), {.chunk = static_cast<std::size_t>(7 + 16 * in)}) |
        sluice::map([in](int x) {
          return tagged{in, x};
        }));
  std::vector<tagged> out;
  auto report = sluice::run(rt, sluice::merge(std::move(flows)) | sluice::to_vector(out));
  ASSERT_EQ(out.size(), static_cast<std::size_t>(inputs * per_input));
  std::vector<int> next(inputs, 0);
  for (const auto& t : out) {
    ASSERT_EQ(t.seq, next[static_cast<std::size_t>(t.input)]) << "input " << t.input << " out of order";
    ++next[static_cast<std::size_t>(t.input)];
  }
  expect_consistent(report);
  const auto& merge = report.stages[index_of(report, "merge")];
  EXPECT_EQ(merge.items_in, static_cast<std::uint64_t>(inputs * per_input));
  EXPECT_EQ(merge.inputs.size(), static_cast<std::size_t>(inputs));
}

TEST(Merge, ASlowConsumerBlocksEveryInputInsteadOfQueueing) {
  sluice::runtime rt({.threads = 2});
  tracked::reset();
  const int per_input = static_cast<int>(20000 / scale);
  auto make = [&](int base) {
    return sluice::from(iota(static_cast<std::size_t>(per_input)), {.chunk = 16}) |
           sluice::map([base](int x) { return tracked(base + x); }, {.capacity = 64});
  };
  std::atomic<int> seen{0};
  auto report = sluice::run(rt, sluice::merge({.capacity = 64}, make(0), make(1000000)) |
                                    sluice::for_each([&](tracked) { nap_every(seen++, 50); }, {.capacity = 64}));
  EXPECT_EQ(seen.load(), 2 * per_input);
  // Per input: the map's input (64) is ints; tracked items live in the merge
  // (64 per input + a chunk being forwarded), the sink's input (64) and a
  // chunk in each coroutine. Far below the 2 x per_input an unbounded queue
  // would hold.
  EXPECT_LE(tracked::peak.load(), 600) << "peak live items";
  expect_consistent(report);
}

TEST(Merge, AnErrorInOneInputFailsTheRunAndNamesTheInput) {
  sluice::runtime rt({.threads = 2});
  auto good = sluice::from(iota(5000)) | sluice::map([](int x) { return x; }, {.name = "fine"});
  auto bad = sluice::from(iota(5000)) | sluice::map(
                                            [](int x) {
                                              if (x == 777) throw std::runtime_error("bad record");
                                              return x;
                                            },
                                            {.name = "parse"});
  std::vector<int> out;
  auto what =
      error_of([&] { sluice::run(rt, sluice::merge(std::move(good), std::move(bad)) | sluice::to_vector(out)); });
  EXPECT_NE(what.find("'parse'"), std::string::npos) << what;
  EXPECT_NE(what.find("merge input 1"), std::string::npos) << what;
  EXPECT_NE(what.find("bad record"), std::string::npos) << what;
}

TEST(Merge, CancellationStopsEveryInputAndTheCountersAddUp) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> seen{0};
  std::vector<int> kept;
  auto p = sluice::merge(sluice::from(forever()), sluice::from(forever()) | sluice::map([](int x) { return -x; })) |
           sluice::for_each([&](int x) {
             kept.push_back(x);
             if (++seen == 3000) stop.request_stop();
           });
  auto report = sluice::run(rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  // Nothing the sink finished is lost: what it consumed is what it kept.
  EXPECT_EQ(report.stages.back().items_out, kept.size());
  EXPECT_GE(kept.size(), 3000u);
  expect_consistent(report);
}

TEST(Merge, DescribeAndDotDrawTheFanIn) {
  std::vector<int> out;
  auto p = sluice::merge(sluice::from(iota(3), {.name = "a"}) | sluice::map([](int x) { return x; }, {.name = "fa"}),
                         sluice::from(iota(3), {.name = "b"})) |
           sluice::to_vector(out);
  const auto dot = p.to_dot();
  // a(0) -> fa(1) -> merge(3) <- b(2); merge -> to_vector(4)
  EXPECT_NE(dot.find("s0 -> s1 "), std::string::npos) << dot;
  EXPECT_NE(dot.find("s1 -> s3 "), std::string::npos) << dot;
  EXPECT_NE(dot.find("s2 -> s3 "), std::string::npos) << dot;
  EXPECT_NE(dot.find("s3 -> s4 "), std::string::npos) << dot;
  EXPECT_EQ(dot.find("s1 -> s2 "), std::string::npos) << "no edge from one input into the next: " << dot;
  const auto text = p.describe();
  EXPECT_NE(text.find("#3 merge"), std::string::npos) << text;
  EXPECT_NE(text.find("<- #1, #2"), std::string::npos) << text;
  EXPECT_NE(text.find("(merge input 1)"), std::string::npos) << text;
}

// ------------------------------------------------------------ broadcast --

TEST(Broadcast, EveryBranchGetsEveryItemInOrder) {
  sluice::runtime rt({.threads = 2});
  const auto n = static_cast<std::size_t>(30000 / scale);
  std::vector<int> all, evens, summed;
  std::atomic<long> sum{0};
  auto report = sluice::run(rt, sluice::from(iota(n)) | sluice::broadcast(
                                                            sluice::to_vector(all),
                                                            [&](auto f) {
                                                              return std::move(f) |
                                                                     sluice::filter([](int x) { return x % 2 == 0; }) |
                                                                     sluice::to_vector(evens);
                                                            },
                                                            sluice::for_each([&](int x) { sum += x; })));
  EXPECT_EQ(all, iota(n));
  ASSERT_EQ(evens.size(), n / 2);
  for (std::size_t i = 0; i < evens.size(); ++i) ASSERT_EQ(evens[i], static_cast<int>(2 * i));
  EXPECT_EQ(sum.load(), static_cast<long>(n * (n - 1) / 2));
  expect_consistent(report);
  const auto& node = report.stages[index_of(report, "broadcast")];
  EXPECT_EQ(node.items_out, n);
  EXPECT_EQ(node.emitted, 3 * n);
}

TEST(Broadcast, CopiesForEveryBranchButTheLast) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 5000;
  auto items = [&] {
    std::vector<copy_counted> v;
    for (std::size_t i = 0; i < n; ++i) v.emplace_back(static_cast<int>(i));
    return v;
  };
  std::vector<copy_counted> a, b, c;
  copy_counted::copies = 0;
  sluice::run(
      rt, sluice::from(items()) | sluice::broadcast(sluice::to_vector(a), sluice::to_vector(b), sluice::to_vector(c)));
  EXPECT_EQ(copy_counted::copies.load(), static_cast<long>(2 * n));
  EXPECT_EQ(c.size(), n);
  copy_counted::copies = 0;
  std::vector<copy_counted> only;
  sluice::run(rt, sluice::from(items()) | sluice::broadcast(sluice::to_vector(only)));
  EXPECT_EQ(copy_counted::copies.load(), 0) << "one branch takes every item by move";
  EXPECT_EQ(only.size(), n);
}

TEST(Broadcast, TheSlowestBranchSetsThePaceAndBoundsMemory) {
  sluice::runtime rt({.threads = 2});
  tracked::reset();
  const int n = static_cast<int>(20000 / scale);
  std::atomic<int> fast{0}, slow{0};
  auto report = sluice::run(
      rt, sluice::from(iota(static_cast<std::size_t>(n)), {.chunk = 16}) |
              sluice::map([](int x) { return tracked(x); }, {.capacity = 64}) |
              sluice::broadcast({.capacity = 64}, sluice::for_each([&](const tracked&) { ++fast; }, {.capacity = 64}),
                                sluice::for_each([&](const tracked&) { nap_every(slow++, 50); }, {.capacity = 64})));
  EXPECT_EQ(fast.load(), n);
  EXPECT_EQ(slow.load(), n);
  // The node's input and each branch's input hold 64, plus a chunk in each
  // coroutine: a few hundred, not the n a queue in front of the slow branch
  // would hold.
  EXPECT_LE(tracked::peak.load(), 600) << "peak live items";
  expect_consistent(report);
}

TEST(Broadcast, AnErrorInOneBranchFailsTheRunAndNamesTheBranch) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> a;
  auto what = error_of([&] {
    sluice::run(rt, sluice::from(iota(10000)) | sluice::broadcast({.name = "fanout"}, sluice::to_vector(a), [](auto f) {
                      return std::move(f) | sluice::for_each(
                                                [](int x) {
                                                  if (x == 4321) throw std::runtime_error("disk full");
                                                },
                                                {.name = "store"});
                    }));
  });
  EXPECT_NE(what.find("'store'"), std::string::npos) << what;
  EXPECT_NE(what.find("fanout branch 1"), std::string::npos) << what;
  EXPECT_NE(what.find("disk full"), std::string::npos) << what;
}

TEST(Broadcast, ABranchThatStopsEarlyDoesNotStopTheOthers) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 20000 / scale;
  std::vector<int> all;
  int taken = 0;
  auto report =
      sluice::run(rt, sluice::from(iota(n)) | sluice::broadcast(sluice::for_each([&](int) { return ++taken < 10; }),
                                                                sluice::to_vector(all)));
  EXPECT_EQ(taken, 10);
  EXPECT_EQ(all, iota(n));
  expect_consistent(report);
}

TEST(Broadcast, CancellationLosesNothingFinished) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::vector<int> a, b;
  auto p = sluice::from(forever()) | sluice::broadcast(sluice::for_each([&](int x) {
                                                         a.push_back(x);
                                                         if (a.size() == 5000) stop.request_stop();
                                                       }),
                                                       sluice::for_each([&](int x) { b.push_back(x); }));
  auto report = sluice::run(rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_GE(a.size(), 5000u);
  EXPECT_EQ(report.stages[index_of(report, "for_each")].items_out, a.size());
  // Each branch got a prefix of the items, in order.
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], static_cast<int>(i));
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], static_cast<int>(i));
  expect_consistent(report);
}

TEST(Broadcast, DescribeAndDotDrawTheFanOut) {
  std::vector<int> a, b;
  auto p = sluice::from(iota(3)) | sluice::broadcast(sluice::to_vector(a), [&](auto f) {
             return std::move(f) | sluice::map([](int x) { return x; }, {.name = "m"}) | sluice::to_vector(b);
           });
  // from(0) -> broadcast(1) -> to_vector(2); broadcast(1) -> m(3) -> to_vector(4)
  const auto dot = p.to_dot();
  EXPECT_NE(dot.find("s0 -> s1 "), std::string::npos) << dot;
  EXPECT_NE(dot.find("s1 -> s2 "), std::string::npos) << dot;
  EXPECT_NE(dot.find("s1 -> s3 "), std::string::npos) << dot;
  EXPECT_NE(dot.find("s3 -> s4 "), std::string::npos) << dot;
  EXPECT_EQ(dot.find("s2 -> s3 "), std::string::npos) << dot;
  const auto text = p.describe();
  EXPECT_NE(text.find("#3 map \"m\""), std::string::npos) << text;
  EXPECT_NE(text.find("<- #1  (broadcast branch 1)"), std::string::npos) << text;
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(rt, std::move(p));
  EXPECT_NE(report.to_dot().find("s1 -> s3 "), std::string::npos) << report.to_dot();
  EXPECT_EQ(report.stages[3].branch, "broadcast branch 1");
}

TEST(Tee, TheSideBranchAndTheMainFlowBothGetEveryItem) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 20000 / scale;
  std::vector<int> side, main;
  auto report = sluice::run(rt, sluice::from(iota(n)) | sluice::tee(sluice::to_vector(side)) |
                                    sluice::map([](int x) { return x * 2; }) | sluice::to_vector(main));
  EXPECT_EQ(side, iota(n));
  ASSERT_EQ(main.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(main[i], static_cast<int>(2 * i));
  expect_consistent(report);
  // from -> tee, tee -> to_vector(side), tee -> map -> to_vector(main)
  const std::size_t node = index_of(report, "tee");
  const std::vector<std::size_t> from_node{node};
  EXPECT_EQ(report.stages[node].emitted, 2 * n);
  EXPECT_EQ(report.stages[node + 1].inputs, from_node);
}

// ------------------------------------------------------------ partition --

TEST(Partition, ItemsOfOneKeyGoInOrderToOneLane) {
  sluice::runtime rt({.threads = 2});
  constexpr std::size_t lanes = 4;
  constexpr int keys = 37;
  const int n = static_cast<int>(40000 / scale);
  std::vector<tagged> in;
  for (int i = 0; i < n; ++i) in.push_back({i % keys, i / keys});
  // Each lane keeps per-key state in its own map (no lock): the last seq
  // seen per key. A key seen by two lanes, or out of order, is an error.
  struct seen_by {
    std::size_t lane;
    tagged item;
  };
  std::vector<seen_by> out;
  auto report = sluice::run(
      rt, sluice::from(in) |
              sluice::partition([](const tagged& t) { return t.input; }, lanes,
                                [](auto lane, std::size_t i) {
                                  return std::move(lane) |
                                         sluice::map([i, last = std::unordered_map<int, int>{}](tagged t) mutable {
                                           auto [it, fresh] = last.try_emplace(t.input, t.seq);
                                           if (!fresh && it->second + 1 != t.seq)
                                             throw std::logic_error("key out of order");
                                           it->second = t.seq;
                                           return seen_by{i, t};
                                         });
                                }) |
              sluice::to_vector(out));
  ASSERT_EQ(out.size(), static_cast<std::size_t>(n));
  std::map<int, std::size_t> lane_of;
  std::map<int, int> next;
  std::set<std::size_t> used;
  for (const auto& s : out) {
    auto [it, fresh] = lane_of.try_emplace(s.item.input, s.lane);
    ASSERT_EQ(it->second, s.lane) << "key " << s.item.input << " went to two lanes";
    ASSERT_EQ(next[s.item.input]++, s.item.seq) << "key " << s.item.input << " out of order";
    used.insert(s.lane);
  }
  EXPECT_EQ(used.size(), lanes);
  expect_consistent(report);
  const auto& node = report.stages[index_of(report, "partition")];
  EXPECT_EQ(node.emitted, static_cast<std::uint64_t>(n));
}

TEST(Partition, AStageIsCopiedPerLaneAndLanesMayEndInSinks) {
  sluice::runtime rt({.threads = 2});
  const int n = static_cast<int>(10000 / scale);
  std::mutex m;
  std::map<std::size_t, long> per_lane;
  std::atomic<int> total{0};
  // The map's function object (and its counter) is copied once per lane.
  auto report = sluice::run(
      rt, sluice::from(iota(static_cast<std::size_t>(n))) |
              sluice::partition([](int x) { return x % 8; }, 3,
                                [&](auto lane, std::size_t i) {
                                  return std::move(lane) | sluice::map([count = 0](int) mutable { return ++count; }) |
                                         sluice::for_each([&, i](int c) {
                                           ++total;
                                           std::lock_guard lock(m);
                                           per_lane[i] = std::max<long>(per_lane[i], c);
                                         });
                                }));
  EXPECT_EQ(total.load(), n);
  long sum = 0;
  for (auto& [lane, count] : per_lane) sum += count;
  EXPECT_EQ(sum, n) << "each lane counted only its own items";
  expect_consistent(report);
}

TEST(Partition, ASlowLaneBlocksTheProducerInsteadOfQueueing) {
  sluice::runtime rt({.threads = 2});
  tracked::reset();
  const int n = static_cast<int>(20000 / scale);
  std::atomic<int> seen{0};
  // One hot key: every item to one slow lane.
  auto report = sluice::run(
      rt, sluice::from(iota(static_cast<std::size_t>(n)), {.chunk = 16}) |
              sluice::map([](int x) { return tracked(x); }, {.capacity = 64}) |
              sluice::partition([](const tracked&) { return 1; }, 4,
                                sluice::for_each([&](const tracked&) { nap_every(seen++, 50); }, {.capacity = 64}),
                                {.capacity = 64}));
  EXPECT_EQ(seen.load(), n);
  EXPECT_LE(tracked::peak.load(), 600) << "peak live items";
  expect_consistent(report);
}

TEST(Partition, AnErrorInOneLaneFailsTheRunAndNamesTheLane) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto what = error_of([&] {
    sluice::run(rt, sluice::from(iota(10000)) |
                        sluice::partition([](int x) { return x; }, 4,
                                          sluice::map(
                                              [](int x) {
                                                if (x == 4001) throw std::runtime_error("bad key state");
                                                return x;
                                              },
                                              {.name = "update"})) |
                        sluice::to_vector(out));
  });
  EXPECT_NE(what.find("'update'"), std::string::npos) << what;
  // std::hash<int> is the identity: 4001 % 4 is lane 1.
  EXPECT_NE(what.find("partition lane 1"), std::string::npos) << what;
  EXPECT_NE(what.find("bad key state"), std::string::npos) << what;
}

TEST(Partition, AKeyFunctionThatThrowsFailsTheRunNamingTheItem) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto what = error_of([&] {
    sluice::run(rt, sluice::from(iota(10000)) |
                        sluice::partition(
                            [](int x) {
                              if (x == 600) throw std::runtime_error("no key");
                              return x;
                            },
                            2, sluice::map([](int x) { return x; })) |
                        sluice::to_vector(out));
  });
  EXPECT_NE(what.find("'partition'"), std::string::npos) << what;
  EXPECT_NE(what.find("on item 600"), std::string::npos) << what;
}

TEST(Partition, CancellationStopsTheLanesAndTheCountersAddUp) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> seen{0};
  std::vector<int> kept;
  auto p = sluice::from(forever()) |
           sluice::partition([](int x) { return x; }, 3, sluice::map([](int x) { return x; })) |
           sluice::for_each([&](int x) {
             kept.push_back(x);
             if (++seen == 5000) stop.request_stop();
           });
  auto report = sluice::run(rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(report.stages.back().items_out, kept.size());
  expect_consistent(report);
}

TEST(Partition, DescribeAndDotDrawTheLanes) {
  std::vector<int> out;
  auto p = sluice::from(iota(3)) | sluice::partition([](int x) { return x; }, 2, sluice::map([](int x) { return x; })) |
           sluice::to_vector(out);
  // from(0) -> partition(1) -> map(2), map(3) -> join(4) -> to_vector(5)
  const auto dot = p.to_dot();
  for (const char* edge : {"s0 -> s1 ", "s1 -> s2 ", "s1 -> s3 ", "s2 -> s4 ", "s3 -> s4 ", "s4 -> s5 "})
    EXPECT_NE(dot.find(edge), std::string::npos) << edge << " missing in " << dot;
  EXPECT_EQ(dot.find("s2 -> s3 "), std::string::npos) << dot;
  const auto text = p.describe();
  EXPECT_NE(text.find("(partition lane 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("<- #2, #3"), std::string::npos) << text;
}

// --------------------------------------------------------- composition --

TEST(Topology, NestedTopologiesDrawAndCountTheRealGraph) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 3000;
  std::vector<int> everything, doubled;
  // A branch that merges its own flow with another source, and a tee inside a branch.
  auto p =
      sluice::from(iota(n)) |
      sluice::broadcast(
          [&](auto f) { return sluice::merge(std::move(f), sluice::from(iota(n))) | sluice::to_vector(everything); },
          [&](auto f) {
            return std::move(f) | sluice::tee(sluice::for_each([](int) {})) | sluice::map([](int x) { return 2 * x; }) |
                   sluice::to_vector(doubled);
          });
  const auto text = p.describe();
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(everything.size(), 2 * n) << text;
  ASSERT_EQ(doubled.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(doubled[i], static_cast<int>(2 * i));
  expect_consistent(report);
  EXPECT_NE(text.find("broadcast branch 1 / tee branch 0"), std::string::npos) << text;
  EXPECT_NE(text.find("broadcast branch 0 / merge input 1"), std::string::npos) << text;
}

TEST(Topology, StressNoItemIsLostOrDuplicated) {
  sluice::runtime rt({.threads = 2});
  constexpr int per_source = static_cast<int>(50000 / scale);
  constexpr int sources = 4;
  for (int round = 0; round < 3; ++round) {
    std::vector<sluice::flow<int>> flows;
    for (int s = 0; s < sources; ++s)
      flows.push_back(
          sluice::from(iota(static_cast<std::size_t>(per_source)), {.chunk = static_cast<std::size_t>(13 + 29 * s)}) |
          sluice::map([s](int x) { return s * per_source + x; }));
    std::vector<int> a, b;
    auto report = sluice::run(
        rt, sluice::merge(std::move(flows), {.capacity = 100}) |
                sluice::partition([](int x) { return x % 5; }, 3,
                                  sluice::parallel_map([](int x) { return x; }, {.batch = 64, .ordered = true})) |
                sluice::broadcast(sluice::to_vector(a), sluice::to_vector(b)));
    for (auto* v : {&a, &b}) {
      ASSERT_EQ(v->size(), static_cast<std::size_t>(sources * per_source));
      std::sort(v->begin(), v->end());
      for (int i = 0; i < sources * per_source; ++i) ASSERT_EQ((*v)[static_cast<std::size_t>(i)], i);
    }
    expect_consistent(report);
  }
}

}  // namespace
