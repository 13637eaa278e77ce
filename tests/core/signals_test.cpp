// sluice::stop_on_signals: a signal stops the token (through the reactor),
// the previous disposition comes back, and a second signal exits at once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "sluice/core/signals.hpp"

namespace {

// Waits (generously: the machine may be loaded) for the token to stop.
bool wait_stopped(const std::stop_token& token) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!token.stop_requested() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return token.stop_requested();
}

extern "C" void count_usr2(int) {}

}  // namespace

TEST(StopOnSignals, SigintStopsTheTokenAndNamesTheSignal) {
  sluice::runtime rt({.threads = 2});
  auto signals = sluice::stop_on_signals(rt, {SIGINT, SIGTERM});
  EXPECT_FALSE(signals.token().stop_requested());
  EXPECT_EQ(signals.signal(), 0);
  ASSERT_EQ(::raise(SIGINT), 0);
  ASSERT_TRUE(wait_stopped(signals.token()));
  EXPECT_EQ(signals.signal(), SIGINT);
}

TEST(StopOnSignals, SigtermStopsAStopCallbackOnTheToken) {
  sluice::runtime rt({.threads = 2});
  auto signals = sluice::stop_on_signals(rt);
  std::stop_source run;
  std::stop_callback forward(signals.token(), [&run] { run.request_stop(); });
  ASSERT_EQ(::raise(SIGTERM), 0);
  ASSERT_TRUE(wait_stopped(run.get_token()));
  EXPECT_EQ(signals.signal(), SIGTERM);
}

TEST(StopOnSignals, DestructionRestoresThePreviousHandler) {
  struct sigaction mine {
  }, seen{};
  mine.sa_handler = count_usr2;
  sigemptyset(&mine.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &mine, nullptr), 0);
  {
    sluice::runtime rt({.threads = 2});
    auto signals = sluice::stop_on_signals(rt, {SIGUSR2});
    ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &seen), 0);
    EXPECT_NE(seen.sa_handler, &count_usr2);
  }
  ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &seen), 0);
  EXPECT_EQ(seen.sa_handler, &count_usr2);
  std::signal(SIGUSR2, SIG_DFL);
}

TEST(StopOnSignals, OnlyOneAtATimeAndBadSignalsAreRefused) {
  sluice::runtime rt({.threads = 2});
  auto signals = sluice::stop_on_signals(rt, {SIGUSR1});
  EXPECT_THROW(sluice::signal_stop(rt, {SIGUSR2}), std::logic_error);
  EXPECT_THROW(sluice::signal_stop(rt, {}), std::invalid_argument);
  EXPECT_THROW(sluice::signal_stop(rt, {SIGKILL}), std::invalid_argument);
}

TEST(StopOnSignalsDeathTest, ASecondSignalExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        sluice::runtime rt({.threads = 2});
        auto signals = sluice::stop_on_signals(rt);
        ::raise(SIGTERM);
        if (!wait_stopped(signals.token())) std::_Exit(3);
        ::raise(SIGINT);  // while the first is still being handled: exit now
        std::_Exit(4);
      },
      ::testing::ExitedWithCode(128 + SIGINT), "");
}

TEST(StopOnSignals, ANotifySignalCallsItsFunctionAndDoesNotStop) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> notified{0};
  std::atomic<int> which{0};
  {
    auto signals = sluice::stop_on_signals(rt, {SIGINT, SIGTERM}, {.signals = {SIGQUIT}, .on_notify = [&](int sig) {
                                                                     which = sig;
                                                                     notified.fetch_add(1);
                                                                   }});
    ASSERT_EQ(::raise(SIGQUIT), 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (notified.load() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(notified.load(), 1);
    EXPECT_EQ(which.load(), SIGQUIT);
    EXPECT_FALSE(signals.token().stop_requested());
    EXPECT_EQ(signals.signal(), 0);
    // A stop signal still stops, and a notify signal is not "the second one".
    ASSERT_EQ(::raise(SIGQUIT), 0);
    ASSERT_EQ(::raise(SIGINT), 0);
    ASSERT_TRUE(wait_stopped(signals.token()));
    EXPECT_EQ(signals.signal(), SIGINT);
  }
  struct sigaction seen {};
  ASSERT_EQ(::sigaction(SIGQUIT, nullptr, &seen), 0);
  EXPECT_EQ(seen.sa_handler, SIG_DFL);
}

TEST(StopOnSignals, ASignalThatBothStopsAndNotifiesIsRefused) {
  sluice::runtime rt({.threads = 1});
  EXPECT_THROW((void)sluice::stop_on_signals(rt, {SIGINT}, {.signals = {SIGINT}}), std::invalid_argument);
}
