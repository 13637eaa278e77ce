// sluice::semaphore: limits, FIFO order, run-time limit changes, cancellation.
#include <sluice/core/runtime.hpp>
#include <sluice/core/semaphore.hpp>
#include <sluice/core/task_scope.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
constexpr int scale = 5;
#else
constexpr int scale = 1;
#endif

// Spins the calling (non-runtime) thread until `pred` holds; progress-based, no deadline.
template <typename P>
void wait_until(P pred) {
  while (!pred()) std::this_thread::yield();
}

// Acquires, records its id in `order`, then releases.
sluice::task<void> take_in_turn(sluice::semaphore& sem, int id, std::mutex& m, std::vector<int>& order) {
  co_await sem.acquire();
  {
    std::lock_guard lock(m);
    order.push_back(id);
  }
  sem.release();
}

TEST(Semaphore, TryAcquireTakesUpToTheLimit) {
  sluice::semaphore sem(2);
  EXPECT_TRUE(sem.try_acquire());
  EXPECT_TRUE(sem.try_acquire());
  EXPECT_FALSE(sem.try_acquire());
  EXPECT_EQ(sem.in_use(), 2u);
  sem.release();
  EXPECT_EQ(sem.available(), 1u);
  EXPECT_TRUE(sem.try_acquire());
}

TEST(Semaphore, AcquireSuspendsUntilAPermitIsReleased) {
  sluice::runtime rt({.threads = 2});
  sluice::semaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  std::atomic<bool> got{false};
  auto waiter = rt.spawn([](sluice::semaphore& s, std::atomic<bool>& flag) -> sluice::task<void> {
    co_await s.acquire();
    flag = true;
    s.release();
  }(sem, got));
  wait_until([&] { return sem.waiters() == 1; });
  EXPECT_FALSE(got.load());
  sem.release();
  waiter.get();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, WaitersAreServedFirstInFirstOut) {
  sluice::runtime rt({.threads = 2});
  sluice::semaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  std::mutex m;
  std::vector<int> order;
  std::vector<sluice::join_handle<void>> handles;
  constexpr int n = 20;
  for (int i = 0; i < n; ++i) {
    handles.push_back(rt.spawn(take_in_turn(sem, i, m, order)));
    // The next one queues only after this one is queued.
    wait_until([&] { return sem.waiters() == static_cast<std::size_t>(i) + 1; });
  }
  EXPECT_FALSE(sem.try_acquire()) << "try_acquire must not overtake a waiter";
  sem.release();
  for (auto& h : handles) h.get();
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, RaisingTheLimitWakesWaitersAtOnce) {
  sluice::runtime rt({.threads = 2});
  sluice::semaphore sem(0);
  std::atomic<int> holding{0};
  std::vector<sluice::join_handle<void>> handles;
  for (int i = 0; i < 3; ++i)
    handles.push_back(rt.spawn([](sluice::semaphore& s, std::atomic<int>& h) -> sluice::task<void> {
      co_await s.acquire();
      ++h;
    }(sem, holding)));
  wait_until([&] { return sem.waiters() == 3; });
  sem.set_limit(2);
  wait_until([&] { return holding.load() == 2; });
  EXPECT_EQ(sem.waiters(), 1u);
  sem.set_limit(3);
  for (auto& h : handles) h.get();
  EXPECT_EQ(holding.load(), 3);
  EXPECT_EQ(sem.in_use(), 3u);
  EXPECT_EQ(sem.available(), 0u);
}

TEST(Semaphore, LoweringTheLimitTakesEffectAsPermitsReturn) {
  sluice::semaphore sem(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(sem.try_acquire());
  sem.set_limit(2);  // four out, two allowed: nobody may take one until two are back
  EXPECT_EQ(sem.limit(), 2u);
  EXPECT_EQ(sem.in_use(), 4u);
  sem.release();
  EXPECT_FALSE(sem.try_acquire());
  sem.release();
  EXPECT_FALSE(sem.try_acquire());  // two out == limit
  sem.release();
  EXPECT_TRUE(sem.try_acquire());
  EXPECT_FALSE(sem.try_acquire());
}

TEST(Semaphore, AStopRequestWithdrawsAWaiterWhichHoldsNothing) {
  sluice::runtime rt({.threads = 2});
  sluice::semaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  std::stop_source stop;
  auto cancelled = rt.spawn([](sluice::semaphore& s, std::stop_token t) -> sluice::task<bool> {
    co_return co_await s.acquire(t);
  }(sem, stop.get_token()));
  wait_until([&] { return sem.waiters() == 1; });
  // A second, uncancelled waiter queued behind it must get the permit.
  auto behind = rt.spawn([](sluice::semaphore& s) -> sluice::task<void> { co_await s.acquire(); }(sem));
  wait_until([&] { return sem.waiters() == 2; });
  stop.request_stop();
  EXPECT_FALSE(cancelled.get());
  EXPECT_EQ(sem.waiters(), 1u);
  sem.release();
  behind.get();
  EXPECT_EQ(sem.in_use(), 1u);
}

TEST(Semaphore, AnAlreadyStoppedTokenGivesUpAtOnceEvenWithPermitsFree) {
  sluice::semaphore sem(1);
  std::stop_source stop;
  stop.request_stop();
  bool got = sluice::sync_wait([](sluice::semaphore& s, std::stop_token t) -> sluice::task<bool> {
    co_return co_await s.acquire(t);
  }(sem, stop.get_token()));
  EXPECT_FALSE(got);
  EXPECT_EQ(sem.available(), 1u);
}

TEST(Semaphore, APermitIsReturnedWhenDestroyed) {
  sluice::semaphore sem(1);
  sluice::sync_wait([](sluice::semaphore& s) -> sluice::task<void> {
    {
      sluice::semaphore_permit p = co_await s.acquire_permit();
      EXPECT_TRUE(static_cast<bool>(p));
      EXPECT_EQ(s.available(), 0u);
      sluice::semaphore_permit moved = std::move(p);
      EXPECT_FALSE(static_cast<bool>(p));
    }
    EXPECT_EQ(s.available(), 1u);
    std::stop_source stop;
    auto held = co_await s.acquire_permit(stop.get_token());
    EXPECT_TRUE(held.has_value());
    held.reset();
    EXPECT_EQ(s.available(), 1u);
  }(sem));
}

TEST(Semaphore, WakesAThreadlessWaiterInline) {
  // Outside any runtime the releaser resumes the waiter itself.
  sluice::semaphore sem(1);
  ASSERT_TRUE(sem.try_acquire());
  bool done = false;
  auto t = [](sluice::semaphore& s, bool& flag) -> sluice::task<void> {
    co_await s.acquire();
    flag = true;
  }(sem, done);
  std::thread releaser([&] {
    wait_until([&] { return sem.waiters() == 1; });
    sem.release();
  });
  sluice::sync_wait(std::move(t));
  releaser.join();
  EXPECT_TRUE(done);
}

sluice::task<void> requests_stop_soon(std::stop_source stop) {
  co_await sluice::yield_now();
  stop.request_stop();
}

struct stress_counters {
  std::atomic<int> holders{0};
  std::atomic<int> peak{0};
  std::atomic<int> granted{0};
  std::atomic<int> cancelled{0};
};

sluice::task<void> stress_worker(sluice::semaphore& sem, int id, int rounds, stress_counters& c) {
  for (int r = 0; r < rounds; ++r) {
    std::stop_source stop;
    if ((id + r) % 5 == 0) stop.request_stop();  // gives up before waiting
    // A stop from another coroutine, racing the grant.
    if ((id + r) % 3 == 0) (void)sluice::runtime::current()->spawn(requests_stop_soon(stop));
    if (!co_await sem.acquire(stop.get_token())) {
      ++c.cancelled;
      continue;
    }
    ++c.granted;
    int now = ++c.holders;
    int seen = c.peak.load();
    while (now > seen && !c.peak.compare_exchange_weak(seen, now)) {
    }
    co_await sluice::yield_now();  // hold across a suspension
    --c.holders;
    sem.release();
  }
}

// Many coroutines acquire, hold across a suspension and release, while the
// limit moves and some acquires are cancelled: the number of holders never
// exceeds the largest limit set, every acquire ends (granted or cancelled),
// and every permit comes back.
TEST(Semaphore, StressLimitChangesAndCancellationsLoseNoPermit) {
  constexpr std::size_t max_limit = 6;
  const int workers = 32;
  const int rounds = 400 / scale;
  sluice::semaphore sem(3);
  stress_counters counters;
  {
    sluice::runtime rt({.threads = 4});
    std::atomic<bool> done{false};
    std::thread tuner([&] {
      const std::size_t limits[] = {1, 4, 2, max_limit, 3, 0, 5};
      for (std::size_t i = 0; !done.load(); ++i) {
        sem.set_limit(limits[i % std::size(limits)]);
        std::this_thread::yield();
      }
      sem.set_limit(max_limit);
    });
    rt.block_on(
        [](sluice::runtime& r, sluice::semaphore& s, int n, int rounds_each, stress_counters& c) -> sluice::task<void> {
          sluice::task_scope scope(r);
          for (int id = 0; id < n; ++id) scope.spawn(stress_worker(s, id, rounds_each, c));
          co_await scope.join();
        }(rt, sem, workers, rounds, counters));
    done = true;
    tuner.join();
  }
  EXPECT_EQ(counters.granted.load() + counters.cancelled.load(), workers * rounds);
  EXPECT_GT(counters.granted.load(), 0);
  EXPECT_GT(counters.cancelled.load(), 0);
  EXPECT_LE(counters.peak.load(), static_cast<int>(max_limit));
  EXPECT_EQ(counters.holders.load(), 0);
  EXPECT_EQ(sem.waiters(), 0u);
  EXPECT_EQ(sem.in_use(), 0u);
  EXPECT_EQ(sem.available(), max_limit);
}

}  // namespace
