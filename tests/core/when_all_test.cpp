#include <sluice/core/runtime.hpp>
#include <sluice/core/when_all.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

sluice::task<int> value_after(int v, std::chrono::milliseconds d) {
  co_await sluice::sleep_for(d);
  co_return v;
}

TEST(WhenAll, TupleFormReturnsEveryResult) {
  sluice::runtime rt({.threads = 2});
  auto [a, b, c] = rt.block_on([]() -> sluice::task<std::tuple<int, std::string, std::monostate>> {
    co_return co_await sluice::when_all(
        value_after(1, 5ms), []() -> sluice::task<std::string> { co_return "x"; }(),
        []() -> sluice::task<void> { co_return; }());
  }());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, "x");
  (void)c;
}

TEST(WhenAll, VectorFormPreservesOrderWhileRunningConcurrently) {
  sluice::runtime rt({.threads = 2});
  auto results = rt.block_on([]() -> sluice::task<std::vector<int>> {
    std::vector<sluice::task<int>> tasks;
    // Later tasks finish first: results must still come back in input order.
    for (int i = 0; i < 50; ++i) tasks.push_back(value_after(i, std::chrono::milliseconds(50 - i)));
    co_return co_await sluice::when_all(std::move(tasks));
  }());
  ASSERT_EQ(results.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], i);
}

TEST(WhenAll, ThrowingChildIsRethrownAfterAllChildrenFinish) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> finished{0};
  auto slow = [&]() -> sluice::task<void> {
    co_await sluice::sleep_for(30ms);
    finished.fetch_add(1);
  };
  auto failing = []() -> sluice::task<void> {
    co_await sluice::sleep_for(1ms);
    throw std::runtime_error("child failed");
  };
  auto run = [&]() -> sluice::task<void> {
    std::vector<sluice::task<void>> tasks;
    tasks.push_back(slow());
    tasks.push_back(failing());
    tasks.push_back(slow());
    co_await sluice::when_all(std::move(tasks));
  };
  EXPECT_THROW(rt.block_on(run()), std::runtime_error);
  EXPECT_EQ(finished.load(), 2);  // both slow children completed before the rethrow
}

TEST(WhenAll, LowestIndexFailureWins) {
  auto run = []() -> sluice::task<void> {
    co_await sluice::when_all([]() -> sluice::task<int> { throw std::runtime_error("first"); }(),
                              []() -> sluice::task<int> { throw std::logic_error("second"); }());
  };
  try {
    sluice::sync_wait(run());
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
}

TEST(WhenAll, EmptyVectorCompletesImmediately) {
  auto results = sluice::sync_wait(sluice::when_all(std::vector<sluice::task<int>>{}));
  EXPECT_TRUE(results.empty());
}

}  // namespace
