// Fusion of light stages (pipeline.hpp, "Fusion"): map, filter, inspect and
// flat_map after a source or each other run in one coroutine, yet count,
// fail, retry and describe themselves as separate stages. Each behaviour is
// checked fused and with `.fuse = false` (its own channel), which must agree.
#include <gtest/gtest.h>

#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using sluice_test::expect_chained;
using sluice_test::iota;

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

// source | map | filter | flat_map | inspect | to_vector, fused or not.
sluice::pipeline light_chain(std::vector<long>& out, std::atomic<long>& seen, bool fuse) {
  return sluice::from(iota(10'000), {.chunk = 64}) |
         sluice::map([](int x) { return static_cast<long>(x) * 3; }, {.name = "triple", .fuse = fuse}) |
         sluice::filter([](long x) { return x % 2 == 0; }, {.name = "even", .fuse = fuse}) |
         sluice::flat_map([](long x) { return std::vector<long>(static_cast<std::size_t>(x % 3 + 1), x); },
                          {.name = "repeat", .fuse = fuse}) |
         sluice::inspect([&seen](const long&) { seen.fetch_add(1); }, {.name = "look", .fuse = fuse}) |
         sluice::to_vector(out);
}

TEST(Fusion, LightStagesAfterASourceAreFusedAndDescribedSo) {
  std::vector<long> out;
  std::atomic<long> seen{0};
  const auto fused = light_chain(out, seen, true).describe();
  EXPECT_NE(fused.find("map \"triple\" [fused]"), std::string::npos) << fused;
  EXPECT_NE(fused.find("filter \"even\" [fused]"), std::string::npos) << fused;
  EXPECT_NE(fused.find("flat_map \"repeat\" [fused]"), std::string::npos) << fused;
  EXPECT_NE(fused.find("inspect \"look\" [fused]"), std::string::npos) << fused;
  EXPECT_NE(fused.find("to_vector [capacity"), std::string::npos) << fused;
  EXPECT_NE(light_chain(out, seen, true).to_dot().find("s0 -> s1 [label=\"fused\"]"), std::string::npos);

  const auto separate = light_chain(out, seen, false).describe();
  EXPECT_EQ(separate.find("fused"), std::string::npos) << separate;
}

TEST(Fusion, FusedAndSeparateStagesGiveTheSameItemsAndCounts) {
  sluice::runtime rt({.threads = 2});
  std::vector<long> fused_out, separate_out;
  std::atomic<long> fused_seen{0}, separate_seen{0};
  auto fused = sluice::run(rt, light_chain(fused_out, fused_seen, true));
  auto separate = sluice::run(rt, light_chain(separate_out, separate_seen, false));
  EXPECT_EQ(fused_out, separate_out);  // in order, both ways
  EXPECT_EQ(fused_seen.load(), static_cast<long>(fused_out.size()));
  ASSERT_EQ(fused.stages.size(), separate.stages.size());
  for (std::size_t i = 0; i < fused.stages.size(); ++i) {
    EXPECT_EQ(fused.stages[i].name, separate.stages[i].name);
    EXPECT_EQ(fused.stages[i].items_in, separate.stages[i].items_in) << fused.stages[i].name;
    EXPECT_EQ(fused.stages[i].items_out, separate.stages[i].items_out) << fused.stages[i].name;
    EXPECT_EQ(fused.stages[i].emitted, separate.stages[i].emitted) << fused.stages[i].name;
    EXPECT_EQ(fused.stages[i].dropped, separate.stages[i].dropped) << fused.stages[i].name;
  }
  EXPECT_EQ(fused.stages[2].dropped, 5000u);      // the filter rejected the odd ones
  EXPECT_EQ(fused.stages[1].queue_capacity, 0u);  // no channel in front of a fused stage
  expect_chained(fused);
  expect_chained(separate);
}

TEST(Fusion, AnErrorInAFusedStageNamesThatStageAndItem) {
  for (bool fuse : {true, false}) {
    sluice::runtime rt({.threads = 2});
    std::vector<int> out;
    auto p = sluice::from(iota(5000), {.chunk = 32}) | sluice::map([](int x) { return x + 1; }, {.fuse = fuse}) |
             sluice::filter([](int x) { return x % 5 != 0; }, {.name = "not fives", .fuse = fuse}) |
             sluice::map(
                 [](int x) {
                   if (x == 1234) throw boom();
                   return x;
                 },
                 {.name = "picky", .fuse = fuse}) |
             sluice::to_vector(out);
    try {
      sluice::run(rt, std::move(p));
      ADD_FAILURE() << "expected a pipeline_error";
    } catch (const sluice::pipeline_error& e) {
      EXPECT_EQ(e.stage_name(), "picky");
      EXPECT_EQ(e.stage_index(), 3u);
      // 1234 is the 988th value not divisible by 5 among 1..: its index in "picky"'s input.
      EXPECT_EQ(e.item_index(), 1234u - 1234u / 5u - 1u) << "fuse " << fuse;
      expect_chained(e.report());
      EXPECT_EQ(e.report().stages[3].failed, 1u);
    }
  }
}

TEST(Fusion, PerStageDeadLettersAndRetriesWorkFused) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  std::vector<int> attempts(300, 0);  // only the fused coroutine touches it (map is never concurrent)
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(iota(300), {.chunk = 16}) |
                                    sluice::map(
                                        [&attempts](int x) {
                                          if (++attempts[static_cast<std::size_t>(x)] == 1) throw boom();  // fails once
                                          return x;
                                        },
                                        {.name = "flaky", .on_error = sluice::retry({.max_attempts = 2})}) |
                                    sluice::filter(
                                        [](int x) {
                                          if (x % 100 == 7) throw boom();
                                          return true;
                                        },
                                        {.name = "strict", .on_error = sluice::skip_to(dead.sink())}) |
                                    sluice::to_vector(out));
  EXPECT_EQ(report.stages[1].retries, 300u);
  EXPECT_EQ(report.stages[1].failed, 0u);
  EXPECT_EQ(report.stages[2].failed, 3u);
  auto letters = dead.take();
  ASSERT_EQ(letters.size(), 3u);
  EXPECT_EQ(letters[0].stage, "strict");
  EXPECT_EQ(letters[0].item_index, 7u);
  EXPECT_EQ(out.size(), 297u);
  expect_chained(report);
}

TEST(Fusion, ASinkStoppingEarlyStopsTheFusedGroupBalanced) {
  sluice::runtime rt({.threads = 2});
  int taken = 0;
  auto report = sluice::run(rt, sluice::from(iota(100'000), {.chunk = 50}) | sluice::map([](int x) { return x; }) |
                                    sluice::filter([](int) { return true; }) |
                                    sluice::for_each([&taken](int) { return ++taken < 500; }, {.capacity = 100}));
  EXPECT_EQ(taken, 500);
  EXPECT_LT(report.stages[0].items_in, 100'000u);  // the source stopped pulling
  expect_chained(report);
}

TEST(Fusion, CancellingARunWithAFusedGroupLosesNothingUncounted) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> consumed{0};
  auto report = sluice::run(rt,
                            sluice::from(iota(1'000'000), {.chunk = 20}) | sluice::map([](int x) { return x * 2; }) |
                                sluice::inspect([](const int&) {}) | sluice::for_each([&](int) {
                                  if (consumed.fetch_add(1) == 2000) stop.request_stop();
                                  std::this_thread::yield();
                                }),
                            stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_LT(report.stages[0].items_in, 1'000'000u);
  expect_chained(report);
}

TEST(Fusion, AStageAfterAConcurrentStageKeepsItsChannel) {
  std::vector<int> out;
  auto p = sluice::from(iota(2000)) | sluice::parallel_map([](int x) { return x + 1; }) |
           sluice::map([](int x) { return x - 1; }, {.name = "back"}) | sluice::map([](int x) { return x; }) |
           sluice::to_vector(out);
  const auto text = p.describe();
  EXPECT_NE(text.find("map \"back\" [capacity"), std::string::npos) << text;  // after parallel_map: a channel
  EXPECT_NE(text.find("| map [fused]"), std::string::npos) << text;           // after "back": fused to it
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(rt, std::move(p));
  std::sort(out.begin(), out.end());  // parallel_map is unordered by default
  EXPECT_EQ(out, iota(2000));
  expect_chained(report);
}

TEST(Fusion, ItemsOfAnAsyncGeneratorSourceFlowThroughAFusedGroup) {
  sluice::runtime rt({.threads = 2});
  auto numbers = []() -> sluice::async_generator<int> {
    for (int i = 0; i < 500; ++i) co_yield i;
  };
  std::vector<std::string> out;
  auto report = sluice::run(rt, sluice::from(numbers()) | sluice::filter([](int x) { return x % 2 == 1; }) |
                                    sluice::map([](int x) { return std::to_string(x); }) | sluice::to_vector(out));
  ASSERT_EQ(out.size(), 250u);
  EXPECT_EQ(out.front(), "1");
  EXPECT_EQ(out.back(), "499");
  expect_chained(report);
}

}  // namespace
