// The runtime parks an arena thread whose job ends with nothing queued on
// its own futex (core/src/runtime.cpp, park_while_idle) instead of letting
// it spin in oneTBB's idle loop. These tests aim at what that could get
// wrong: work handed over while threads are parked (from outside the arena,
// and from inside it, one job or several), and destruction while threads
// are parked. None asserts on time; a lost wake-up shows as a hang (the
// CTest timeout) or a wrong count.
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

// From outside the arena (as the reactor and block_on do), after the
// threads have had time to park, over and over.
TEST(RuntimePark, WorkPostedFromOutsideWakesParkedThreads) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 50; ++round) {
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 4)));  // let threads park (or not)
    const int got = rt.block_on([](int v) -> sluice::task<int> { co_return v + 1; }(round));
    ASSERT_EQ(got, round + 1);
  }
}

// From inside: a coroutine queues two jobs that can only finish together
// (each waits for the other to start) while the other arena thread may be
// parked: the second one must wake it.
TEST(RuntimePark, JobsQueuedFromInsideThatNeedEachOtherBothRun) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 50; ++round) {
    std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 3)));
    const int sum = rt.block_on([](sluice::runtime& r) -> sluice::task<int> {
      auto arrived = std::make_shared<std::atomic<int>>(0);
      auto meet = [arrived](int v) {
        arrived->fetch_add(1);
        while (arrived->load() < 2) std::this_thread::yield();
        return v;
      };
      auto a = r.offload([meet] { return meet(1); });
      auto b = r.offload([meet] { return meet(2); });
      const int x = co_await std::move(a);
      const int y = co_await std::move(b);
      co_return x + y;
    }(rt));
    ASSERT_EQ(sum, 3);
  }
}

// A coroutine hand-over through a channel (one job queued from inside, which
// does not wake a parked thread) keeps flowing between a producer and a
// consumer coroutine with idle gaps in between.
TEST(RuntimePark, HandOversFromInsideWithIdleGapsComplete) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(1);
  auto consumer = rt.spawn([](sluice::channel_receiver<int> r) -> sluice::task<long> {
    long sum = 0;
    while (auto v = co_await r.recv()) sum += *v;
    co_return sum;
  }(rx));
  { auto drop = std::move(rx); }
  for (int burst = 0; burst < 20; ++burst) {
    rt.block_on([](sluice::channel_sender<int>& s, int from) -> sluice::task<void> {
      for (int i = from; i < from + 50; ++i) {
        int v = i;
        if (!co_await s.send(v)) throw std::logic_error("send failed on an open channel");
      }
    }(tx, burst * 50));
    std::this_thread::sleep_for(std::chrono::microseconds(300));  // threads park between bursts
  }
  { auto drop = std::move(tx); }
  EXPECT_EQ(consumer.get(), 999L * 1000 / 2);
}

// A parked thread woken for a job that another thread starts first parks
// again (for the rest of its park time) instead of leaving: bursts of one to
// three jobs from outside, with gaps shorter than the park time, make that
// race common. Every job must still run exactly once, and a burst that
// arrives while both threads sleep in their second park must wake one.
TEST(RuntimePark, ThreadsWokenForJobsAlreadyTakenParkAgainAndWakeForLaterWork) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> ran{0};
  int posted = 0;
  for (int round = 0; round < 300; ++round) {
    const int jobs = 1 + round % 3;
    auto done = std::make_shared<std::atomic<int>>(0);
    for (int j = 0; j < jobs; ++j) {
      rt.execute([&ran, done] {
        ran.fetch_add(1);
        done->fetch_add(1);
        done->notify_all();
      });
      ++posted;
    }
    for (int seen = done->load(); seen < jobs; seen = done->load()) done->wait(seen);
    std::this_thread::sleep_for(std::chrono::microseconds(20 * (round % 7)));
  }
  EXPECT_EQ(ran.load(), posted);
}

// Destroying runtimes whose threads are parked (or about to park) neither
// hangs nor touches freed memory (ASan/TSan).
TEST(RuntimePark, DestructionWhileThreadsAreParked) {
  for (int round = 0; round < 30; ++round) {
    sluice::runtime rt({.threads = 2});
    rt.block_on([]() -> sluice::task<void> { co_return; }());
    if (round % 2) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

// The park limit grows while the arena sees idle gaps longer than it (each
// park that times out doubles it, up to its cap), which is what an
// I/O-bound run looks like. After that, work from outside and from inside
// must still run, and once idle the runtime must go quiet: parked threads
// time out into oneTBB, which puts them to sleep, and no thread is left
// spinning (a wait computed from a bad deadline would spin on EINVAL).
TEST(RuntimePark, AfterIdleGapsGrowTheParkLimitWorkRunsAndTheIdleRuntimeGoesQuiet) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 8; ++round) {
    const int got = rt.block_on([](int v) -> sluice::task<int> { co_return v * 2; }(round));
    ASSERT_EQ(got, round * 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // longer than any park limit
  }
  for (int round = 0; round < 20; ++round) {
    const int sum = rt.block_on([](sluice::runtime& r) -> sluice::task<int> {
      auto a = r.offload([] { return 1; });
      auto b = r.offload([] { return 2; });
      const int x = co_await std::move(a);
      co_return x + co_await std::move(b);
    }(rt));
    ASSERT_EQ(sum, 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // parks end, oneTBB puts its workers to sleep
  auto cpu_seconds = [] {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
  };
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double used = cpu_seconds() - before;
  EXPECT_LT(used, 0.1) << "an idle runtime used " << used << " s of CPU in 0.3 s";
}

}  // namespace
