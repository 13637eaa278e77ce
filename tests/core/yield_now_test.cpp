// sluice::yield_now: a long-running coroutine lets others run.
#include <sluice/core/runtime.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace {

// Spins until `flag` is set, yielding between checks. On a one-thread arena
// the setter can only run if yield_now really gives the thread away (if it
// resumed the spinner at once, this would never finish).
sluice::task<int> spin_until(std::atomic<bool>& started, std::atomic<bool>& flag) {
  started = true;
  int turns = 0;
  while (!flag.load()) {
    co_await sluice::yield_now();
    ++turns;
  }
  co_return turns;
}

sluice::task<void> set_flag(std::atomic<bool>& flag) {
  flag = true;
  co_return;
}

TEST(YieldNow, LetsAnotherCoroutineRunOnAOneThreadRuntime) {
  sluice::runtime rt({.threads = 1});
  std::atomic<bool> started{false};
  std::atomic<bool> flag{false};
  auto spinner = rt.spawn(spin_until(started, flag));
  while (!started.load()) std::this_thread::yield();
  // The only arena thread is now busy spinning; the setter gets it only
  // through the spinner's yields.
  auto setter = rt.spawn(set_flag(flag));
  setter.get();
  EXPECT_GE(spinner.get(), 1);
}

TEST(YieldNow, ContinuesOnTheSameRuntime) {
  sluice::runtime rt({.threads = 2});
  bool same = rt.block_on([](sluice::runtime& r) -> sluice::task<bool> {
    for (int i = 0; i < 100; ++i) {
      co_await sluice::yield_now();
      if (sluice::runtime::current() != &r) co_return false;
    }
    co_return true;
  }(rt));
  EXPECT_TRUE(same);
}

TEST(YieldNow, OutsideARuntimeCompletesAtOnce) {
  int n = sluice::sync_wait([]() -> sluice::task<int> {
    co_await sluice::yield_now();
    co_return 7;
  }());
  EXPECT_EQ(n, 7);
}

}  // namespace
