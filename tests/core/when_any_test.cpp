// sluice::when_any: the first branch to finish wins, the others are stopped.
#include <sluice/core/runtime.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/task_scope.hpp>
#include <sluice/core/when_any.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>

using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
constexpr int scale = 5;
#else
constexpr int scale = 1;
#endif

// Sleeps an hour unless stopped; records that it saw the stop and finished.
sluice::task<int> sleeps_until_stopped(std::stop_token stop, std::atomic<bool>& stopped) {
  bool slept = co_await sluice::sleep_for(1h, stop);
  stopped = !slept;
  co_return -1;
}

sluice::task<std::string> answer_after_a_hop() {
  co_await sluice::yield_now();
  co_return "fast";
}

TEST(WhenAny, TheFirstToFinishWinsAndTheOthersAreStopped) {
  sluice::runtime rt({.threads = 2});
  std::atomic<bool> stopped{false};
  auto result = rt.block_on([](std::atomic<bool>& s) -> sluice::task<std::variant<int, std::string>> {
    auto slow = [&s](std::stop_token t) { return sleeps_until_stopped(t, s); };
    auto fast = [](std::stop_token) { return answer_after_a_hop(); };
    co_return co_await sluice::when_any(slow, fast);
  }(stopped));
  ASSERT_EQ(result.index(), 1u);
  EXPECT_EQ(std::get<1>(result), "fast");
  // when_any returned, so the loser has finished, and it finished because it was stopped.
  EXPECT_TRUE(stopped.load());
  EXPECT_EQ(rt.io().pending_timers(), 0u);
}

TEST(WhenAny, TheWinnersExceptionIsRethrown) {
  sluice::runtime rt({.threads = 2});
  std::atomic<bool> stopped{false};
  auto run = [](std::atomic<bool>& s) -> sluice::task<void> {
    auto slow = [&s](std::stop_token t) { return sleeps_until_stopped(t, s); };
    auto broken = [](std::stop_token) -> sluice::task<void> {
      co_await sluice::yield_now();
      throw std::runtime_error("branch failed");
    };
    co_await sluice::when_any(slow, broken);
  };
  EXPECT_THROW(rt.block_on(run(stopped)), std::runtime_error);
  EXPECT_TRUE(stopped.load());
}

TEST(WhenAny, ALoserThatThrowsAfterTheStopIsIgnored) {
  sluice::runtime rt({.threads = 2});
  auto result = rt.block_on([]() -> sluice::task<std::variant<std::monostate, int>> {
    auto throws_when_stopped = [](std::stop_token t) -> sluice::task<void> {
      if (!co_await sluice::sleep_for(1h, t)) throw std::runtime_error("cancelled");
    };
    auto quick = [](std::stop_token) -> sluice::task<int> { co_return 5; };
    co_return co_await sluice::when_any(throws_when_stopped, quick);
  }());
  ASSERT_EQ(result.index(), 1u);
  EXPECT_EQ(std::get<1>(result), 5);
}

TEST(WhenAny, TheParentTokenStopsEveryBranch) {
  sluice::runtime rt({.threads = 2});
  std::stop_source run_stop;
  std::atomic<bool> a{false};
  std::atomic<bool> b{false};
  std::thread stopper([&] {
    while (rt.io().pending_timers() < 2) std::this_thread::yield();
    run_stop.request_stop();
  });
  auto result = rt.block_on(
      [](std::stop_token parent, std::atomic<bool>& sa, std::atomic<bool>& sb) -> sluice::task<std::variant<int, int>> {
        auto first = [&sa](std::stop_token t) { return sleeps_until_stopped(t, sa); };
        auto second = [&sb](std::stop_token t) { return sleeps_until_stopped(t, sb); };
        co_return co_await sluice::when_any(parent, first, second);
      }(run_stop.get_token(), a, b));
  stopper.join();
  EXPECT_TRUE(a.load());
  EXPECT_TRUE(b.load());
  EXPECT_EQ(std::visit([](int v) { return v; }, result), -1);
}

TEST(WhenAny, AcceptsReadyMadeTasksAndPlainAwaitables) {
  sluice::runtime rt({.threads = 2});
  auto result = rt.block_on([]() -> sluice::task<std::variant<int, bool>> {
    auto timer = [](std::stop_token t) { return sluice::sleep_for(1h, t); };  // awaitable bool
    co_return co_await sluice::when_any([]() -> sluice::task<int> { co_return 3; }(), timer);
  }());
  ASSERT_EQ(result.index(), 0u);
  EXPECT_EQ(std::get<0>(result), 3);
}

TEST(WhenAny, WorksOutsideARuntime) {
  auto result = sluice::sync_wait([]() -> sluice::task<std::variant<std::monostate, int>> {
    auto never_mind = [](std::stop_token) -> sluice::task<void> { co_return; };
    auto later = [](std::stop_token) -> sluice::task<int> { co_return 1; };
    co_return co_await sluice::when_any(never_mind, later);
  }());
  EXPECT_EQ(result.index(), 0u);  // both finish synchronously; the first started wins
}

// Races acquire_permit(token) on a nearly exhausted semaphore against a
// quick branch, over and over, while other coroutines hold and release the
// permits: whenever the acquire branch loses after it was granted, its permit
// is destroyed with the discarded value, so none is ever lost.
TEST(WhenAny, StressALosingAcquireNeverLeaksItsPermit) {
  constexpr std::size_t limit = 2;
  sluice::semaphore sem(limit);
  std::atomic<int> acquired_wins{0};
  std::atomic<int> other_wins{0};
  {
    sluice::runtime rt({.threads = 4});
    const int racers = 16;
    const int rounds = 300 / scale;
    auto racer = [](sluice::semaphore& s, int n, std::atomic<int>& wins_a,
                    std::atomic<int>& wins_b) -> sluice::task<void> {
      for (int i = 0; i < n; ++i) {
        auto take = [&s](std::stop_token t) { return s.acquire_permit(t); };
        auto other = [](std::stop_token) -> sluice::task<void> { co_await sluice::yield_now(); };
        auto r = co_await sluice::when_any(take, other);
        if (r.index() == 0) {
          if (std::get<0>(r).has_value()) ++wins_a;
          co_await sluice::yield_now();  // hold the permit across a suspension
        } else {
          ++wins_b;
        }
      }
    };
    rt.block_on([](sluice::runtime& r, auto race, sluice::semaphore& s, int n, int each, std::atomic<int>& wa,
                   std::atomic<int>& wb) -> sluice::task<void> {
      sluice::task_scope scope(r);
      for (int i = 0; i < n; ++i) scope.spawn(race(s, each, wa, wb));
      co_await scope.join();
    }(rt, racer, sem, racers, rounds, acquired_wins, other_wins));
  }
  EXPECT_GT(acquired_wins.load() + other_wins.load(), 0);
  EXPECT_EQ(sem.in_use(), 0u);
  EXPECT_EQ(sem.available(), limit);
  EXPECT_EQ(sem.waiters(), 0u);
}

}  // namespace
