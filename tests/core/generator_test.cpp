// sluice::generator: a synchronous generator coroutine as an input range.
#include <sluice/core/generator.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

sluice::generator<int> count_to(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
}

sluice::generator<std::string> throws_after(int n) {
  for (int i = 0; i < n; ++i) co_yield std::to_string(i);
  throw std::runtime_error("generator broke after " + std::to_string(n));
}

// Counts live instances so a test can see the body's locals destroyed.
struct live_counter {
  explicit live_counter(int& live) : m_live(live) { ++m_live; }
  live_counter(const live_counter&) = delete;
  live_counter& operator=(const live_counter&) = delete;
  ~live_counter() { --m_live; }
  int& m_live;
};

TEST(Generator, YieldsEveryItemInOrderThenEnds) {
  std::vector<int> seen;
  for (int v : count_to(1000)) seen.push_back(v);
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
}

TEST(Generator, AnEmptyBodyYieldsNothing) {
  int n = 0;
  for ([[maybe_unused]] int v : count_to(0)) ++n;
  EXPECT_EQ(n, 0);
}

TEST(Generator, IsLazyUntilBegin) {
  bool started = false;
  auto gen = [](bool& flag) -> sluice::generator<int> {
    flag = true;
    co_yield 1;
  }(started);
  EXPECT_FALSE(started);
  auto it = gen.begin();
  EXPECT_TRUE(started);
  EXPECT_EQ(*it, 1);
}

TEST(Generator, IsAnInputRange) {
  static_assert(std::ranges::input_range<sluice::generator<int>>);
  auto gen = count_to(10);
  int sum = 0;
#if defined(__clang__) && __clang_major__ < 15
  // clang 14 cannot instantiate libstdc++ 12's ref_view (the range adaptors'
  // view of an lvalue), so iterate the range directly there.
  for (int v : gen)
    if (v % 2 == 0) sum += v;
#else
  for (int v : gen | std::views::filter([](int x) { return x % 2 == 0; })) sum += v;
#endif
  EXPECT_EQ(sum, 0 + 2 + 4 + 6 + 8);
}

TEST(Generator, YieldedLvaluesAreSeenByReference) {
  auto gen = []() -> sluice::generator<std::string> {
    std::string s = "a";
    co_yield s;
    // The consumer may modify the yielded lvalue in place (it is the body's local).
    co_yield s;
  }();
  auto it = gen.begin();
  *it += "b";
  ++it;
  EXPECT_EQ(*it, "ab");
}

TEST(Generator, RethrowsWhatTheBodyThrewAfterTheItemsBeforeIt) {
  std::vector<std::string> seen;
  auto consume = [&] {
    for (auto& s : throws_after(3)) seen.push_back(s);
  };
  EXPECT_THROW(consume(), std::runtime_error);
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2"}));
}

TEST(Generator, DestroyingAnUnfinishedGeneratorDestroysItsLocals) {
  int live = 0;
  {
    auto gen = [](int& counter) -> sluice::generator<int> {
      live_counter guard(counter);
      for (int i = 0;; ++i) co_yield i;
    }(live);
    auto it = gen.begin();
    EXPECT_EQ(*it, 0);
    EXPECT_EQ(live, 1);
  }
  EXPECT_EQ(live, 0);
}

TEST(Generator, MoveTransfersTheCoroutine) {
  auto a = count_to(3);
  auto b = std::move(a);
  std::vector<int> seen;
  for (int v : b) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
}

}  // namespace
