// sluice::yield_now: a long-running coroutine lets others run.
#include <sluice/core/runtime.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <atomic>

namespace {

// Spins until `flag` is set, yielding between checks. On a one-thread arena
// the setter can only run if yield_now really gives the thread away (if it
// resumed the spinner at once, this would never finish).
sluice::task<int> spin_until(std::atomic<bool>& flag) {
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
  std::atomic<bool> flag{false};
  int turns = rt.block_on([](sluice::runtime& r, std::atomic<bool>& f) -> sluice::task<int> {
    auto spinner = r.spawn(spin_until(f));
    auto setter = r.spawn(set_flag(f));
    co_await std::move(setter);
    co_return co_await std::move(spinner);
  }(rt, flag));
  EXPECT_TRUE(flag.load());
  EXPECT_GE(turns, 0);
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
