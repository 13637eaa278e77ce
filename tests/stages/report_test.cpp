#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::expect_chained;
using sluice_test::iota;

namespace {

TEST(Report, CountsAddUpAcrossStagesOfEveryKind) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  std::vector<int> out;
  auto report =
      sluice::run(rt, sluice::from(iota(20'000), {.chunk = 33}) |
                          sluice::map(
                              [](int x) {
                                if (x % 1000 == 7) throw std::runtime_error("bad");
                                return x;
                              },
                              {.on_error = sluice::skip_to(dead.sink())}) |
                          sluice::filter([](int x) { return x % 2 == 0; }) |
                          sluice::async_map([](int x) -> sluice::task<int> { co_return x; }, {.concurrency = 4}) |
                          sluice::parallel_map([](int x) { return x; }, {.batch = 64}) | sluice::batch(50) |
                          sluice::unbatch() | sluice::to_vector(out));
  expect_chained(report);
  EXPECT_EQ(report.stages[1].failed, 20u);
  EXPECT_EQ(dead.size(), 20u);
  // The 20 failed items were odd, so the filter saw 9980 odd ones.
  EXPECT_EQ(report.stages[2].dropped, 9980u);
  EXPECT_EQ(out.size(), 10'000u);
  EXPECT_EQ(report.stages.back().items_out, 10'000u);
}

TEST(Report, PeakQueueDepthNeverExceedsCapacity) {
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(rt, sluice::from(iota(5000), {.chunk = 10}) |
                                    sluice::for_each([](int) { std::this_thread::sleep_for(1us); }, {.capacity = 100}));
  EXPECT_EQ(report.stages[1].queue_capacity, 100u);
  // The depth is counted by the stages around the channel, so it may read
  // one chunk (10 items) high for a moment.
  EXPECT_LE(report.stages[1].peak_queue_depth, 110u);
  EXPECT_GT(report.stages[1].peak_queue_depth, 0u);
}

TEST(Report, NamesTheSlowSinkAsTheBottleneck) {
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(
      rt, sluice::from(iota(3000), {.chunk = 8}) | sluice::map([](int x) { return x; }) |
              sluice::for_each([](int) { std::this_thread::sleep_for(50us); }, {.name = "slow sink", .capacity = 32}));
  EXPECT_EQ(report.bottleneck_name(), "slow sink")
      << report.describe() << report.stages[1].input_full_ratio << " " << report.stages[2].input_full_ratio << " "
      << report.stages[2].input_empty_ratio;
  EXPECT_NE(report.describe().find("<- bottleneck"), std::string::npos);
}

TEST(Describe, PrintsTheShapeAsTextAndDot) {
  std::vector<int> out;
  auto p = sluice::from(iota(3)) |
           sluice::async_map([](int x) -> sluice::task<int> { co_return x; }, {.name = "fetch", .concurrency = 32}) |
           sluice::parallel_map([](int x) { return x; }, {.name = "analyse", .ordered = true}) | sluice::to_vector(out);
  auto text = p.describe();
  EXPECT_NE(text.find("async_map \"fetch\" [concurrency 32"), std::string::npos) << text;
  EXPECT_NE(text.find("parallel_map \"analyse\" [batch 256, ordered"), std::string::npos) << text;
  auto dot = p.to_dot();
  EXPECT_NE(dot.find("digraph pipeline"), std::string::npos);
  EXPECT_NE(dot.find("s1 -> s2"), std::string::npos) << dot;
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(rt, std::move(p));
  EXPECT_NE(report.to_dot().find("fetch"), std::string::npos);
  EXPECT_NE(report.describe().find("analyse"), std::string::npos);
}

}  // namespace
