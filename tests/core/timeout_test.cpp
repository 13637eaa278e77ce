// sluice::timeout: a value in time, or timeout_error after the operation was stopped.
#include <sluice/core/runtime.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/timeout.hpp>
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

sluice::task<std::string> hop_then_answer() {
  co_await sluice::yield_now();
  co_return "in time";
}

// Sleeps an hour unless stopped; records that the stop reached it.
sluice::task<int> sleeps_until_stopped(std::stop_token stop, std::atomic<bool>& stopped) {
  bool slept = co_await sluice::sleep_for(1h, stop);
  stopped = !slept;
  co_return 0;
}

TEST(Timeout, YieldsTheValueWhenTheOperationFinishesFirstAndCancelsTheTimer) {
  sluice::runtime rt({.threads = 2});
  auto r = rt.block_on([]() -> sluice::task<sluice::result<std::string, sluice::timeout_error>> {
    auto op = [](std::stop_token) { return hop_then_answer(); };
    co_return co_await sluice::timeout(1h, op);
  }());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "in time");
  EXPECT_EQ(rt.io().pending_timers(), 0u);
}

TEST(Timeout, StopsASlowOperationAndReportsElapsed) {
  sluice::runtime rt({.threads = 2});
  std::atomic<bool> stopped{false};
  auto r = rt.block_on([](std::atomic<bool>& s) -> sluice::task<sluice::result<int, sluice::timeout_error>> {
    auto op = [&s](std::stop_token t) { return sleeps_until_stopped(t, s); };
    co_return co_await sluice::timeout(20ms, op);
  }(stopped));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().why, sluice::timeout_error::reason::elapsed);
  EXPECT_EQ(r.error().limit, 20ms);
  EXPECT_STREQ(r.error().what(), "sluice::timeout: time limit elapsed");
  EXPECT_TRUE(stopped.load());  // the operation was cancelled through its token, and finished
}

TEST(Timeout, TheParentTokenStopsBoth) {
  sluice::runtime rt({.threads = 2});
  std::stop_source run_stop;
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    while (rt.io().pending_timers() < 2) std::this_thread::yield();
    run_stop.request_stop();
  });
  auto r = rt.block_on(
      [](std::stop_token parent, std::atomic<bool>& s) -> sluice::task<sluice::result<int, sluice::timeout_error>> {
        auto op = [&s](std::stop_token t) { return sleeps_until_stopped(t, s); };
        co_return co_await sluice::timeout(1h, op, parent);
      }(run_stop.get_token(), stopped));
  stopper.join();
  EXPECT_TRUE(stopped.load());
  // Both branches end on the stop; whichever ended first decides the result.
  if (!r.has_value()) {
    EXPECT_EQ(r.error().why, sluice::timeout_error::reason::stopped);
  }
  EXPECT_EQ(rt.io().pending_timers(), 0u);
}

TEST(Timeout, RethrowsWhatTheOperationThrew) {
  sluice::runtime rt({.threads = 2});
  auto run = []() -> sluice::task<void> {
    auto op = [](std::stop_token) -> sluice::task<void> {
      co_await sluice::yield_now();
      throw std::invalid_argument("bad request");
    };
    auto r = co_await sluice::timeout(1h, op);
    (void)r;
  };
  EXPECT_THROW(rt.block_on(run()), std::invalid_argument);
}

TEST(Timeout, AVoidOperationYieldsMonostate) {
  sluice::runtime rt({.threads = 2});
  auto r = rt.block_on([]() -> sluice::task<sluice::result<std::monostate, sluice::timeout_error>> {
    auto op = [](std::stop_token) -> sluice::task<void> { co_await sluice::yield_now(); };
    co_return co_await sluice::timeout(1h, op);
  }());
  EXPECT_TRUE(r.has_value());
}

TEST(Timeout, BoundsASemaphoreWaitAndTheAbandonedWaitTakesNoPermit) {
  sluice::runtime rt({.threads = 2});
  sluice::semaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  auto r =
      rt.block_on([](sluice::semaphore& s)
                      -> sluice::task<sluice::result<std::optional<sluice::semaphore_permit>, sluice::timeout_error>> {
        auto take = [&s](std::stop_token t) { return s.acquire_permit(t); };
        co_return co_await sluice::timeout(10ms, take);
      }(sem));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(sem.waiters(), 0u);
  sem.release();
  EXPECT_EQ(sem.available(), 1u);
}

TEST(Timeout, OutsideARuntimeThrowsLogicError) {
  auto run = []() -> sluice::task<void> {
    auto op = [](std::stop_token) -> sluice::task<void> { co_return; };
    auto r = co_await sluice::timeout(1h, op);
    (void)r;
  };
  // The operation finishes synchronously first, so no timer is needed...
  EXPECT_NO_THROW(sluice::sync_wait(run()));
  auto waits = []() -> sluice::task<void> {
    auto op = [](std::stop_token t) -> sluice::task<bool> { co_return co_await sluice::sleep_for(1h, t); };
    auto r = co_await sluice::timeout(1h, op);
    (void)r;
  };
  // ...but one that must wait needs a reactor.
  EXPECT_THROW(sluice::sync_wait(waits()), std::logic_error);
}

}  // namespace
