// Fused stages in lanes (pipeline.hpp, "Fusion"; detail/fused_lanes.hpp):
// before a sink that takes its input with several workers in any order
// (fold, count_by, ...), fused light stages whose functions have no state run
// as one copy per worker, in parallel. Checked here: the same results and the
// same exact counters as the stages unfused, that copies really run at once
// (and that a function with state never does), errors and dead letters name
// the stage and the item, cancellation and an early error stay balanced,
// and a chain that cannot be copied keeps running in one coroutine.
#include <gtest/gtest.h>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using sluice_test::expect_chained;
using sluice_test::iota;

using counts = std::map<long, long>;
void add_to(counts& acc, long x) { ++acc[x % 7]; }
void merge_into(counts& acc, counts&& other) {
  for (auto& [k, v] : other) acc[k] += v;
}

// source | map | filter | fold(count by x % 7): fused (in lanes) or not.
sluice::pipeline counting(counts& out, bool fuse, std::size_t n = 20'000) {
  return sluice::from(iota(n), {.chunk = 64}) |
         sluice::map([](int x) { return static_cast<long>(x) * 3; }, {.name = "triple", .fuse = fuse}) |
         sluice::filter([](long x) { return x % 2 == 0; }, {.name = "even", .fuse = fuse}) |
         sluice::flat_map([](long x) { return std::vector<long>(static_cast<std::size_t>(x % 3 + 1), x); },
                          {.name = "repeat", .fuse = fuse}) |
         sluice::fold(out, [](counts& acc, long x) { add_to(acc, x); }, merge_into, {.name = "count"});
}

counts expected_counts(std::size_t n) {
  counts c;
  for (int x : iota(n)) {
    const long y = static_cast<long>(x) * 3;
    if (y % 2 != 0) continue;
    for (long i = 0; i < y % 3 + 1; ++i) add_to(c, y);
  }
  return c;
}

TEST(FusedLanes, StatelessStagesBeforeAFoldGiveTheSameResultAndExactCounters) {
  sluice::runtime rt({.threads = 2});
  counts in_lanes, separate;
  auto fused_report = sluice::run(rt, counting(in_lanes, true));
  auto separate_report = sluice::run(rt, counting(separate, false));
  EXPECT_EQ(in_lanes, expected_counts(20'000));
  EXPECT_EQ(separate, in_lanes);
  ASSERT_EQ(fused_report.stages.size(), separate_report.stages.size());
  for (std::size_t i = 0; i < fused_report.stages.size(); ++i) {
    const auto& f = fused_report.stages[i];
    const auto& s = separate_report.stages[i];
    EXPECT_EQ(f.name, s.name);
    EXPECT_EQ(f.items_in, s.items_in) << f.name;
    EXPECT_EQ(f.items_out, s.items_out) << f.name;
    EXPECT_EQ(f.emitted, s.emitted) << f.name;
    EXPECT_EQ(f.dropped, s.dropped) << f.name;
  }
  EXPECT_EQ(fused_report.stages[1].items_in, 20'000u);
  EXPECT_EQ(fused_report.stages[2].dropped, 10'000u);  // the odd ones
  expect_chained(fused_report);
  expect_chained(separate_report);
}

// Calls of the stateless map in flight now, and the most seen at once.
std::atomic<int> g_in_map{0};
std::atomic<int> g_most_in_map{0};

int note_call(int x) {
  const int now = g_in_map.fetch_add(1) + 1;
  int seen = g_most_in_map.load();
  while (now > seen && !g_most_in_map.compare_exchange_weak(seen, now)) {
  }
  // Until two calls overlapped, hold this one (generously: a loaded machine
  // may take long to run the other lane; never asserted on time).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (g_most_in_map.load() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  g_in_map.fetch_sub(1);
  return x;
}

TEST(FusedLanes, CopiesOfAStatelessStageRunAtOnceAndAStatefulOneNever) {
  sluice::runtime rt({.threads = 2});
  g_in_map = 0;
  g_most_in_map = 0;
  long total = 0;
  sluice::run(rt, sluice::from(iota(4000), {.chunk = 16}) | sluice::map([](int x) { return note_call(x); }) |
                      sluice::fold(
                          total, [](long& acc, int x) { acc += x; }, [](long& acc, long&& o) { acc += o; }));
  EXPECT_EQ(total, 3999L * 4000L / 2);
  EXPECT_EQ(g_most_in_map.load(), 2) << "the map's two copies never ran at the same time";

  // A capture is state: the stage runs once, in the source's coroutine.
  std::atomic<int> in_call{0};
  int most = 0;  // only ever touched by one call at a time, or the test fails under TSan too
  long stateful_total = 0;
  sluice::run(rt, sluice::from(iota(4000), {.chunk = 16}) | sluice::map([&](int x) {
                    most = std::max(most, in_call.fetch_add(1) + 1);
                    std::this_thread::yield();
                    in_call.fetch_sub(1);
                    return x;
                  }) |
                      sluice::fold(
                          stateful_total, [](long& acc, int x) { acc += x; }, [](long& acc, long&& o) { acc += o; }));
  EXPECT_EQ(stateful_total, total);
  EXPECT_EQ(most, 1);
}

TEST(FusedLanes, AnErrorInALaneNamesTheStageAndItsItem) {
  sluice::runtime rt({.threads = 2});
  long total = 0;
  try {
    sluice::run(rt, sluice::from(iota(50'000), {.chunk = 32}) |
                        sluice::map(
                            [](int x) {
                              if (x == 31'337) throw std::runtime_error("boom");
                              return x;
                            },
                            {.name = "picky"}) |
                        sluice::fold(
                            total, [](long& acc, int x) { acc += x; }, [](long& acc, long&& o) { acc += o; }));
    ADD_FAILURE() << "expected a pipeline_error";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_name(), "picky");
    EXPECT_EQ(e.stage_index(), 1u);
    // The index counts the stage's input in receive order: lanes take
    // chunks in any order, so it is some index within the input.
    EXPECT_LT(e.item_index(), 50'000u);
    EXPECT_NE(std::string(e.what()).find("stage 'picky'"), std::string::npos) << e.what();
    EXPECT_EQ(e.report().stages[1].failed, 1u);
    expect_chained(e.report());
  }
}

TEST(FusedLanes, DeadLettersFromLanesCarryTheStageAndTheItem) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  long total = 0;
  auto report =
      sluice::run(rt, sluice::from(iota(10'000), {.chunk = 32}) |
                          sluice::map(
                              [](int x) {
                                if (x % 1000 == 999) throw std::runtime_error("bad");
                                return x;
                              },
                              {.name = "parse", .on_error = sluice::skip_to(dead.sink())}) |
                          sluice::filter([](int x) { return x % 2 == 0; }, {.name = "even"}) |
                          sluice::fold(
                              total, [](long& acc, int x) { acc += x; }, [](long& acc, long&& o) { acc += o; }));
  long expect = 0;
  for (int x : iota(10'000))
    if (x % 2 == 0) expect += x;  // the failing ones (x % 1000 == 999) are odd
  EXPECT_EQ(total, expect);
  auto letters = dead.take();
  ASSERT_EQ(letters.size(), 10u);
  std::vector<int> items;
  for (const auto& letter : letters) {
    EXPECT_EQ(letter.stage, "parse");
    items.push_back(std::any_cast<int>(letter.item));
  }
  std::sort(items.begin(), items.end());
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i], static_cast<int>(i) * 1000 + 999);
  EXPECT_EQ(report.stages[1].failed, 10u);
  EXPECT_EQ(report.stages[2].items_in, 9'990u);
  expect_chained(report);
}

TEST(FusedLanes, CancellingARunWithLanesLosesNothingUncounted) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<long> folded{0};
  long total = 0;
  auto report = sluice::run(rt,
                            sluice::from(iota(1'000'000), {.chunk = 20}) | sluice::map([](int x) { return x * 2; }) |
                                sluice::filter([](int x) { return x % 3 != 0; }) |
                                sluice::fold(
                                    total,
                                    [&](long& acc, int x) {
                                      acc += x;
                                      if (folded.fetch_add(1) == 5000) stop.request_stop();
                                    },
                                    [](long& acc, long&& o) { acc += o; }),
                            stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_LT(report.stages[0].items_in, 1'000'000u);
  expect_chained(report);
}

TEST(FusedLanes, AStatefulStageBetweenKeepsTheChainInOneCoroutineOrFeedsTheLanesAfterIt) {
  sluice::runtime rt({.threads = 2});
  // map(stateless) | map(stateful) | fold: the stateful one cannot be
  // copied, so nothing before it is either (one coroutine, as before lanes).
  long seen = 0;
  long total = 0;
  auto report = sluice::run(
      rt, sluice::from(iota(5000), {.chunk = 16}) | sluice::map([](int x) { return x + 1; }) |
              sluice::map([&seen](int x) { return x + static_cast<int>(0 * ++seen); }, {.name = "stateful"}) |
              sluice::fold(
                  total, [](long& acc, int x) { acc += x; }, [](long& acc, long&& o) { acc += o; }));
  EXPECT_EQ(seen, 5000);
  EXPECT_EQ(total, 5000L * 5001L / 2);
  expect_chained(report);

  // A stage with a channel of its own (.fuse = false), then stateless
  // stages: they run in lanes fed by that stage.
  long total2 = 0;
  auto report2 =
      sluice::run(rt, sluice::from(iota(5000), {.chunk = 16}) |
                          sluice::map([&seen](int x) { return x + static_cast<int>(0 * ++seen); }, {.fuse = false}) |
                          sluice::map([](int x) { return x + 1; }, {.name = "plus"}) |
                          sluice::filter([](int x) { return x % 2 == 1; }, {.name = "odd"}) |
                          sluice::fold(
                              total2, [](long& acc, int x) { acc += x; }, [](long& acc, long&& o) { acc += o; }));
  EXPECT_EQ(total2, 2500L * 2500L);  // the odd numbers 1..4999
  EXPECT_EQ(report2.stages[3].dropped, 2500u);
  expect_chained(report2);
}

// describe() and to_dot() show which fused stages run in lanes: the
// stateless ones straight before a sink taking its input in any order with
// more than one worker; not one behind a stateful stage, not before a fold
// with `.workers = 1`, not before an ordered sink.
TEST(FusedLanes, DescribeShowsTheStagesThatRunInLanes) {
  long total = 0;
  long seen = 0;
  auto plus = [](int x) { return x + 1; };
  auto odd = [](int x) { return x % 2 == 1; };
  auto sum = [](long& acc, int x) { acc += x; };
  auto merge = [](long& acc, long&& o) { acc += o; };
  auto lanes = sluice::from(iota(10)) | sluice::map(plus, {.name = "plus"}) |
               sluice::map([&seen](int x) { return x + static_cast<int>(0 * ++seen); }, {.name = "stateful"}) |
               sluice::map(plus, {.name = "plus2"}) | sluice::filter(odd, {.name = "odd"}) |
               sluice::fold(total, sum, merge);
  const std::string text = lanes.describe();
  EXPECT_NE(text.find("map \"plus\" [fused]"), std::string::npos) << text;  // before the stateful stage
  EXPECT_NE(text.find("map \"stateful\" [fused]"), std::string::npos) << text;
  EXPECT_NE(text.find("map \"plus2\" [fused, in lanes]"), std::string::npos) << text;
  EXPECT_NE(text.find("filter \"odd\" [fused, in lanes]"), std::string::npos) << text;
  EXPECT_NE(lanes.to_dot().find("s3 -> s4 [label=\"fused, in lanes\"]"), std::string::npos) << lanes.to_dot();

  auto one_worker = sluice::from(iota(10)) | sluice::map(plus) | sluice::fold(total, sum, merge, {.workers = 1});
  EXPECT_EQ(one_worker.describe().find("in lanes"), std::string::npos) << one_worker.describe();
  std::vector<int> out;
  auto ordered = sluice::from(iota(10)) | sluice::map(plus) | sluice::to_vector(out);
  EXPECT_EQ(ordered.describe().find("in lanes"), std::string::npos) << ordered.describe();
}

// The aggregating sink itself runs in the lanes (or, with one worker, in
// the coroutine before it): no input channel, no worker coroutines. The
// same result and exact counters as with its channel (`.capacity`), which
// describe() shows as before.
TEST(FusedLanes, AFoldAfterLightStagesRunsInTheirLanesWithoutAChannel) {
  sluice::runtime rt({.threads = 2});
  auto sum = [](long& acc, long x) { acc += x; };
  auto merge = [](long& acc, long&& o) { acc += o; };
  auto make = [&](long& total, sluice::aggregate_options o) {
    return sluice::from(iota(50'000), {.chunk = 64}) | sluice::map([](int x) { return static_cast<long>(x) * 2; }) |
           sluice::filter([](long x) { return x % 3 != 0; }) | sluice::fold(total, sum, merge, std::move(o));
  };
  long fused_total = 0, channel_total = 0, one_total = 0;
  auto fused = make(fused_total, {.name = "sum"});
  auto channel = make(channel_total, {.name = "sum", .capacity = 1024});
  auto one = make(one_total, {.name = "sum", .workers = 1});
  EXPECT_NE(fused.describe().find("fold \"sum\" [workers one per thread, fused, in lanes]"), std::string::npos)
      << fused.describe();
  const std::string with_channel = channel.describe();
  const std::string fold_line = with_channel.substr(with_channel.find("fold \"sum\""));
  EXPECT_EQ(fold_line.find("fused"), std::string::npos) << with_channel;
  EXPECT_NE(one.describe().find("fold \"sum\" [workers 1, fused]"), std::string::npos) << one.describe();
  auto fused_report = sluice::run(rt, std::move(fused));
  auto channel_report = sluice::run(rt, std::move(channel));
  auto one_report = sluice::run(rt, std::move(one));
  long want = 0;
  for (int x : iota(50'000))
    if ((2L * x) % 3 != 0) want += 2L * x;
  EXPECT_EQ(fused_total, want);
  EXPECT_EQ(channel_total, want);
  EXPECT_EQ(one_total, want);
  for (const auto* r : {&fused_report, &channel_report, &one_report}) {
    expect_chained(*r);
    EXPECT_EQ(r->stages.back().items_in, channel_report.stages.back().items_in);
    EXPECT_EQ(r->stages.back().items_out, r->stages.back().items_in);
  }
}

// A combine that throws when the last lane merges the accumulators fails
// the run naming the sink, as it does when the sink has its own workers.
TEST(FusedLanes, AThrowingCombineInLanesFailsTheRunNamingTheSink) {
  sluice::runtime rt({.threads = 2});
  long total = 0;
  auto p = sluice::from(iota(10'000), {.chunk = 64}) | sluice::map([](int x) { return static_cast<long>(x); }) |
           sluice::fold(
               total, [](long& acc, long x) { acc += x; },
               [](long&, long&&) { throw std::runtime_error("cannot merge"); }, {.name = "merge-fails"});
  try {
    sluice::run(rt, std::move(p));
    FAIL() << "expected a pipeline_error";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_name(), "merge-fails");
  }
}

TEST(FusedLanes, LimitsInFlightStillHoldWithLanes) {
  sluice::runtime rt({.threads = 2});
  counts out;
  auto report = sluice::run(rt, counting(out, true, 20'000), {.max_items_in_flight = 256});
  EXPECT_EQ(out, expected_counts(20'000));
  expect_chained(report);
}

}  // namespace
