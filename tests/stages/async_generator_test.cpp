// sluice::async_generator as a pipeline source (the generator itself: tests/core).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::expect_chained;

namespace {

// Hops onto the runtime (another thread, often) before some items.
sluice::async_generator<int> hopping(sluice::runtime& rt, int n) {
  for (int i = 0; i < n; ++i) {
    if (i % 3 == 0) co_await rt.schedule();
    if (i % 50 == 0) co_await sluice::sleep_for(100us);
    co_yield i;
  }
}

sluice::async_generator<std::string> throws_after(int n) {
  for (int i = 0; i < n; ++i) co_yield std::to_string(i);
  throw std::runtime_error("source broke after " + std::to_string(n));
}

// Waits a long time between items unless the token is stopped.
sluice::async_generator<int> slow(std::stop_token stop, std::atomic<int>& produced) {
  for (int i = 0;; ++i) {
    co_yield i;
    ++produced;
    if (!co_await sluice::sleep_for(1h, stop)) co_return;
  }
}

TEST(AsyncGeneratorSource, FeedsAPipelineItemByItem) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(hopping(rt, 3000)) |
                                    sluice::async_map([](int x) -> sluice::task<int> { co_return x * 2; },
                                                      {.concurrency = 8, .ordered = true}) |
                                    sluice::to_vector(out));
  std::vector<int> expected;
  for (int i = 0; i < 3000; ++i) expected.push_back(2 * i);
  EXPECT_EQ(out, expected);
  EXPECT_EQ(report.stages[0].name, "from(async generator)");
  EXPECT_EQ(report.stages[0].items_in, 3000u);
  expect_chained(report);
}

TEST(AsyncGeneratorSource, ABodyThatThrowsFailsTheRunWithTheSourceNamed) {
  sluice::runtime rt({.threads = 2});
  std::vector<std::string> out;
  try {
    sluice::run(rt, sluice::from(throws_after(5), {.name = "pages"}) | sluice::to_vector(out));
    FAIL() << "expected pipeline_error";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_name(), "pages");
    EXPECT_NE(std::string(e.what()).find("source broke after 5"), std::string::npos) << e.what();
    expect_chained(e.report());
  }
}

TEST(AsyncGeneratorSource, CancellationStopsTheTokenOfAWaitingBody) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> produced{0};
  std::thread canceller([&] {
    while (produced.load() < 1) std::this_thread::yield();
    stop.request_stop();
  });
  // Without the token the body would sleep for an hour before its next item.
  std::vector<int> out;
  auto report = sluice::run(
      rt, sluice::from([&](std::stop_token token) { return slow(token, produced); }) | sluice::to_vector(out),
      stop.get_token());
  canceller.join();
  EXPECT_TRUE(report.cancelled);
  EXPECT_LE(out.size(), 1u);  // item 0 may be dropped by the cancellation
  expect_chained(report);
}

TEST(AsyncGeneratorSource, AFailingStageStopsTheBodysToken) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> produced{0};
  auto p = sluice::from([&](std::stop_token token) { return slow(token, produced); }) |
           sluice::map([](int) -> int { throw std::runtime_error("stage failed"); }) | sluice::for_each([](int) {});
  EXPECT_THROW(sluice::run(rt, std::move(p)), sluice::pipeline_error);
}

}  // namespace
