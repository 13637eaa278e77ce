// The fetcher's AIMD concurrency limit, a policy over sluice::semaphore.
#include <sluice/core/runtime.hpp>
#include <sluice/github/detail/adaptive_limiter.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

namespace {

using sluice::github::detail::adaptive_limiter;

// A permit for tests whose run never stops.
sluice::task<adaptive_limiter::permit> permit_of(adaptive_limiter& l) {
  std::stop_source never;
  auto p = co_await l.acquire(never.get_token());
  if (!p) throw std::logic_error("a permit wait ended without a stop request");
  co_return std::move(*p);
}

TEST(AdaptiveLimiter, HalvesOnDecreaseButNeverBelowOne) {
  sluice::runtime rt({.threads = 1});
  adaptive_limiter limiter(rt, 16);
  EXPECT_EQ(limiter.limit(), 16u);
  limiter.decrease();
  EXPECT_EQ(limiter.limit(), 8u);
  for (int i = 0; i < 10; ++i) limiter.decrease();
  EXPECT_EQ(limiter.limit(), 1u);
  adaptive_limiter zero(rt, 0);
  EXPECT_EQ(zero.limit(), 1u);
}

TEST(AdaptiveLimiter, GrowsByOneAfterLimitSuccessesUpToTheInitialLimit) {
  sluice::runtime rt({.threads = 1});
  adaptive_limiter limiter(rt, 4);
  limiter.decrease();  // 2
  limiter.record_success();
  EXPECT_EQ(limiter.limit(), 2u);
  limiter.record_success();
  EXPECT_EQ(limiter.limit(), 3u);
  for (int i = 0; i < 3; ++i) limiter.record_success();
  EXPECT_EQ(limiter.limit(), 4u);
  for (int i = 0; i < 100; ++i) limiter.record_success();
  EXPECT_EQ(limiter.limit(), 4u);
}

TEST(AdaptiveLimiter, PermitsBeyondTheLimitWaitAndGrowthWakesThem) {
  sluice::runtime rt({.threads = 2});
  adaptive_limiter limiter(rt, 2);
  limiter.decrease();  // 1
  std::atomic<int> holding{0};
  std::vector<adaptive_limiter::permit> held;
  std::vector<sluice::join_handle<adaptive_limiter::permit>> handles;
  for (int i = 0; i < 2; ++i)
    handles.push_back(rt.spawn([](adaptive_limiter& l, std::atomic<int>& h) -> sluice::task<adaptive_limiter::permit> {
      auto p = co_await permit_of(l);
      ++h;
      co_return p;
    }(limiter, holding)));
  while (holding.load() < 1) std::this_thread::yield();
  EXPECT_EQ(holding.load(), 1);  // the second waits: limit 1
  limiter.record_success();      // one success at limit 1: limit 2, wakes it
  for (auto& h : handles) held.push_back(h.get());
  EXPECT_EQ(holding.load(), 2);
  held.clear();  // permits go back on destruction
  auto again = sluice::sync_wait([](adaptive_limiter& l) -> sluice::task<int> {
    auto a = co_await permit_of(l);
    auto b = co_await permit_of(l);
    b.reset();
    co_return 2;
  }(limiter));
  EXPECT_EQ(again, 2);
}

TEST(AdaptiveLimiter, AWaitForAPermitEndsEmptyWhenTheRunStops) {
  sluice::runtime rt({.threads = 2});
  adaptive_limiter limiter(rt, 1);
  std::stop_source stop;
  auto held = sluice::sync_wait(permit_of(limiter));
  std::atomic<bool> asked{false};
  auto waiter = rt.spawn([](adaptive_limiter& l, std::stop_token t, std::atomic<bool>& a) -> sluice::task<bool> {
    auto op = l.acquire(t);
    a = true;
    auto p = co_await op;
    co_return p.has_value();
  }(limiter, stop.get_token(), asked));
  while (!asked.load()) std::this_thread::yield();
  stop.request_stop();
  EXPECT_FALSE(waiter.get());
  held.reset();
  auto again = sluice::sync_wait([](adaptive_limiter& l) -> sluice::task<bool> {
    std::stop_source unused;
    auto p = co_await l.acquire(unused.get_token());
    co_return p.has_value();
  }(limiter));
  EXPECT_TRUE(again);
}

}  // namespace
