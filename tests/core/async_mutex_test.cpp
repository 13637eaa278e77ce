// sluice::async_mutex: mutual exclusion across suspensions, FIFO, cancellation.
#include <sluice/core/async_mutex.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/task_scope.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
constexpr int scale = 5;
#else
constexpr int scale = 1;
#endif

template <typename P>
void wait_until(P pred) {
  while (!pred()) std::this_thread::yield();
}

// A read-modify-write of a plain int split by suspensions: only mutual
// exclusion across co_await keeps every increment (and keeps TSan quiet).
sluice::task<void> add_slowly(sluice::async_mutex& m, long& counter, int times, std::atomic<int>& inside) {
  for (int i = 0; i < times; ++i) {
    auto lock = co_await m.lock();
    EXPECT_EQ(++inside, 1);
    long seen = counter;
    co_await sluice::yield_now();
    if (i % 16 == 0) co_await sluice::sleep_for(10us);
    counter = seen + 1;
    --inside;
  }
}

TEST(AsyncMutex, IsHeldAcrossSuspensionsAndExcludesEveryoneElse) {
  sluice::runtime rt({.threads = 4});
  sluice::async_mutex m;
  long counter = 0;
  std::atomic<int> inside{0};
  const int workers = 16;
  const int times = 200 / scale;
  rt.block_on([](sluice::runtime& r, sluice::async_mutex& mx, long& c, int n, int each,
                 std::atomic<int>& in) -> sluice::task<void> {
    sluice::task_scope scope(r);
    for (int i = 0; i < n; ++i) scope.spawn(add_slowly(mx, c, each, in));
    co_await scope.join();
  }(rt, m, counter, workers, times, inside));
  EXPECT_EQ(counter, static_cast<long>(workers) * times);
  EXPECT_FALSE(m.is_locked());
}

TEST(AsyncMutex, WaitersGetTheLockInTheOrderTheyAsked) {
  sluice::runtime rt({.threads = 2});
  sluice::async_mutex m;
  ASSERT_TRUE(m.try_lock());
  std::mutex order_mutex;
  std::vector<int> order;
  std::vector<sluice::join_handle<void>> handles;
  constexpr int n = 16;
  for (int i = 0; i < n; ++i) {
    handles.push_back(
        rt.spawn([](sluice::async_mutex& mx, int id, std::mutex& om, std::vector<int>& out) -> sluice::task<void> {
          auto lock = co_await mx.lock();
          std::lock_guard g(om);
          out.push_back(id);
        }(m, i, order_mutex, order)));
    // The next one asks only after this one is queued.
    wait_until([&] { return m.waiters() == static_cast<std::size_t>(i) + 1; });
  }
  EXPECT_FALSE(m.try_lock()) << "try_lock must not overtake a waiter";
  m.unlock();
  for (auto& h : handles) h.get();
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
  EXPECT_FALSE(m.is_locked());
}

TEST(AsyncMutex, TryLockFailsWhileHeldAndAScopedLockReleasesEarly) {
  sluice::async_mutex m;
  sluice::sync_wait([](sluice::async_mutex& mx) -> sluice::task<void> {
    auto lock = co_await mx.lock();
    EXPECT_TRUE(lock.owns_lock());
    EXPECT_FALSE(mx.try_lock());
    auto moved = std::move(lock);
    EXPECT_FALSE(lock.owns_lock());
    EXPECT_TRUE(mx.is_locked());
    moved.unlock();
    EXPECT_FALSE(mx.is_locked());
    moved.unlock();  // idempotent
    EXPECT_TRUE(mx.try_lock());
    sluice::async_mutex::scoped_lock adopted(mx);
  }(m));
  EXPECT_FALSE(m.is_locked());
}

TEST(AsyncMutex, LockWithAStopTokenGivesUpWithoutTheLock) {
  sluice::runtime rt({.threads = 2});
  sluice::async_mutex m;
  ASSERT_TRUE(m.try_lock());
  std::stop_source stop;
  std::atomic<bool> waiting{false};
  auto h = rt.spawn([](sluice::async_mutex& mx, std::stop_token t, std::atomic<bool>& w) -> sluice::task<bool> {
    auto op = mx.lock(t);
    w = true;
    auto lock = co_await op;
    co_return lock.has_value();
  }(m, stop.get_token(), waiting));
  wait_until([&] { return waiting.load(); });
  stop.request_stop();
  EXPECT_FALSE(h.get());
  EXPECT_TRUE(m.is_locked());  // still ours
  m.unlock();
  EXPECT_FALSE(m.is_locked());
}

}  // namespace
