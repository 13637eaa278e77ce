// sluice::async_generator on its own (as a pipeline source: tests/stages).
#include <sluice/core/async_generator.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

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

struct live_counter {
  explicit live_counter(std::atomic<int>& live) : m_live(live) { ++m_live; }
  live_counter(const live_counter&) = delete;
  live_counter& operator=(const live_counter&) = delete;
  ~live_counter() { --m_live; }
  std::atomic<int>& m_live;
};

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
  std::atomic<int> live{0};
  {
    auto gen = [](int n, std::atomic<int>& counter) -> sluice::async_generator<int> {
      live_counter guard(counter);
      for (int i = 0; i < n; ++i) co_yield i;
    }(10, live);
    auto first = [](sluice::async_generator<int>& g) -> sluice::task<std::optional<int>> {
      auto next = g.next();
      co_return co_await next;
    };
    EXPECT_EQ(rt.block_on(first(gen)), 0);
    EXPECT_EQ(live.load(), 1);
  }
  EXPECT_EQ(live.load(), 0);
}

}  // namespace
