// sluice::async_generator on its own and as a pipeline source.
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
using sluice_test::iota;

namespace {

// Yields without ever suspending in between: the hand-over must not grow the stack.
sluice::async_generator<int> synchronous(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
}

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

template <typename T>
sluice::task<std::vector<T>> drain(sluice::async_generator<T> gen) {
  std::vector<T> out;
  for (;;) {
    auto next = gen.next();
    auto item = co_await next;
    if (!item) break;
    out.push_back(std::move(*item));
  }
  co_return out;
}

TEST(AsyncGenerator, YieldsEveryItemInOrderThenEnds) {
  sluice::runtime rt({.threads = 2});
  EXPECT_EQ(rt.block_on(drain(synchronous(1000))), iota(1000));
  EXPECT_TRUE(rt.block_on(drain(synchronous(0))).empty());
}

TEST(AsyncGenerator, ALongSynchronousStreamDoesNotGrowTheStack) {
  sluice::runtime rt({.threads = 2});
  // Far more hand-overs than a thread's stack could hold nested frames for.
  const auto out = rt.block_on(drain(synchronous(2'000'000)));
  ASSERT_EQ(out.size(), 2'000'000u);
  EXPECT_EQ(out.back(), 1'999'999);
}

TEST(AsyncGenerator, ItemsSurviveSuspensionsAndThreadHops) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 20; ++round) EXPECT_EQ(rt.block_on(drain(hopping(rt, 500))), iota(500));
}

TEST(AsyncGenerator, RethrowsWhatTheBodyThrewAfterTheItemsBeforeIt) {
  sluice::runtime rt({.threads = 2});
  auto consume = [](sluice::async_generator<std::string> gen, std::vector<std::string>& seen) -> sluice::task<void> {
    for (;;) {
      auto next = gen.next();
      auto item = co_await next;
      if (!item) co_return;
      seen.push_back(*item);
    }
  };
  std::vector<std::string> seen;
  EXPECT_THROW(rt.block_on(consume(throws_after(3), seen)), std::runtime_error);
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2"}));
}

TEST(AsyncGenerator, DestroyingAnUnfinishedGeneratorDestroysItsLocals) {
  sluice::runtime rt({.threads = 2});
  sluice_test::tracked::live = 0;
  {
    auto gen = [](int n) -> sluice::async_generator<int> {
      sluice_test::tracked guard(1);
      for (int i = 0; i < n; ++i) co_yield i;
    }(10);
    auto first = [](sluice::async_generator<int>& g) -> sluice::task<std::optional<int>> {
      auto next = g.next();
      co_return co_await next;
    };
    EXPECT_EQ(rt.block_on(first(gen)), 0);
    EXPECT_EQ(sluice_test::tracked::live.load(), 1);
  }
  EXPECT_EQ(sluice_test::tracked::live.load(), 0);
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
