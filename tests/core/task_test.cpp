#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace {

sluice::task<int> forty_two() { co_return 42; }

sluice::task<int> add_one(sluice::task<int> inner) { co_return co_await std::move(inner) + 1; }

sluice::task<void> throw_runtime_error() {
  throw std::runtime_error("boom");
  co_return;
}

sluice::task<int> depth(int n) {
  if (n == 0) co_return 0;
  co_return co_await depth(n - 1) + 1;
}

TEST(Task, ReturnsValueThroughCoAwait) { EXPECT_EQ(sluice::sync_wait(add_one(forty_two())), 43); }

TEST(Task, IsLazyUntilAwaited) {
  bool started = false;
  auto t = [](bool& flag) -> sluice::task<void> {
    flag = true;
    co_return;
  }(started);
  EXPECT_FALSE(started);
  sluice::sync_wait(std::move(t));
  EXPECT_TRUE(started);
}

TEST(Task, ExceptionIsRethrownAtCoAwait) {
  auto outer = []() -> sluice::task<std::string> {
    try {
      co_await throw_runtime_error();
    } catch (const std::runtime_error& e) {
      co_return std::string("caught ") + e.what();
    }
    co_return "not thrown";
  };
  EXPECT_EQ(sluice::sync_wait(outer()), "caught boom");
}

TEST(Task, ExceptionPropagatesThroughSyncWait) {
  EXPECT_THROW(sluice::sync_wait(throw_runtime_error()), std::runtime_error);
}

// g++ turns symmetric transfer into a tail call only when optimising (and not
// under ASan or TSan instrumentation); an unoptimised build recurses.
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__) && !defined(SLUICE_TSAN)
constexpr int deep_chain = 1'000'000;  // overflows an 8 MiB stack without symmetric transfer
#else
constexpr int deep_chain = 1'000;
#endif

TEST(Task, DeepAwaitChainsDoNotGrowTheStack) { EXPECT_EQ(sluice::sync_wait(depth(deep_chain)), deep_chain); }

// A loop awaiting tasks that finish without suspending (reads already done,
// values already there) must not grow the stack in any build: without a tail
// call each iteration would nest a frame, and 200'000 of them overflow an
// 8 MiB stack under TSan or unoptimised.
sluice::task<int> ready_value(int v) { co_return v; }

TEST(Task, ALoopOfTasksFinishingWithoutSuspendingRunsInConstantStack) {
  constexpr long iterations = 400'000;
  auto loop = []() -> sluice::task<long> {
    long sum = 0;
    for (long i = 0; i < iterations; ++i) sum += co_await ready_value(1);
    co_return sum;
  };
  EXPECT_EQ(sluice::sync_wait(loop()), iterations);
}

TEST(Task, AwaitingAnRvalueTaskDestroysItsFrameOnCompletion) {
  auto token = std::make_shared<int>(0);
  auto holder = [](std::shared_ptr<int> t) -> sluice::task<long> { co_return t.use_count(); };
  auto outer = [&]() -> sluice::task<long> {
    long inside = co_await holder(token);
    // The awaited task's parameter copy is already gone here.
    co_return inside * 10 + token.use_count();
  };
  EXPECT_EQ(sluice::sync_wait(outer()), 2 * 10 + 1);
}

TEST(Task, MoveOnlyResultsAreSupported) {
  auto t = []() -> sluice::task<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
  EXPECT_EQ(*sluice::sync_wait(t()), 7);
}

TEST(Task, MovedFromTaskIsEmptyAndMoveTargetRuns) {
  auto a = forty_two();
  auto b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(sluice::sync_wait(std::move(b)), 42);
}

TEST(Task, DestroyingAnUnstartedTaskReleasesItsFrame) {
  auto counter = std::make_shared<int>(0);
  {
    auto t = [](std::shared_ptr<int> c) -> sluice::task<void> {
      ++*c;
      co_return;
    }(counter);
    EXPECT_EQ(counter.use_count(), 2);
  }
  EXPECT_EQ(counter.use_count(), 1);
  EXPECT_EQ(*counter, 0);
}

}  // namespace
