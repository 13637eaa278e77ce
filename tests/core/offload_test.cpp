#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// The seed's parallel_sum: compute on the pool, await the result via a oneshot.
// (The lambda is named, not a temporary inside the co_await expression: g++ 12
// destroys such capturing temporaries twice; see docs/known-issues.md.)
sluice::task<long> parallel_sum(std::vector<int> nums) {
  auto sum = [nums = std::move(nums)] {
    return tbb::parallel_reduce(
        tbb::blocked_range<std::size_t>(0, nums.size()), 0L,
        [&](const tbb::blocked_range<std::size_t>& r, long acc) {
          for (auto i = r.begin(); i != r.end(); ++i) acc += nums[i];
          return acc;
        },
        std::plus<>());
  };
  co_return co_await sluice::offload(std::move(sum));
}

TEST(Offload, NestedParallelReduceResultReturnsToTheAwaitingTask) {
  sluice::runtime rt({.threads = 2});
  EXPECT_EQ(rt.block_on(parallel_sum(std::vector<int>(1 << 20, 1))), 1 << 20);
}

TEST(Offload, ExceptionFromTheOffloadedFunctionIsRethrown) {
  sluice::runtime rt({.threads = 2});
  auto t = []() -> sluice::task<int> {
    co_return co_await sluice::offload([]() -> int { throw std::domain_error("x"); });
  };
  EXPECT_THROW(rt.block_on(t()), std::domain_error);
}

TEST(Offload, OutsideARuntimeIsAClearError) {
  EXPECT_THROW((void)sluice::offload([] { return 1; }), std::logic_error);
}

TEST(SpawnBlocking, BlockingWorkDoesNotStallTheArena) {
  // One arena thread. Four blocking jobs sleep 200 ms each on the blocking
  // pool; meanwhile a coroutine on the arena must keep making progress.
  sluice::runtime rt({.threads = 1});
  auto run = [](sluice::runtime& r) -> sluice::task<int> {
    std::vector<sluice::oneshot_receiver<int>> blocking;
    std::atomic<bool> all_started{false};
    for (int i = 0; i < 4; ++i)
      blocking.push_back(sluice::spawn_blocking([i] {
        std::this_thread::sleep_for(200ms);
        return i;
      }));
    int ticks = 0;
    while (!blocking.back().ready() && ticks < 1000) {
      co_await sluice::sleep_for(1ms);
      ++ticks;
    }
    int sum = 0;
    for (auto& b : blocking) sum += co_await b;
    (void)all_started;
    (void)r;
    co_return ticks * 100 + sum;
  };
  int result = rt.block_on(run(rt));
  EXPECT_EQ(result % 100, 0 + 1 + 2 + 3);
  EXPECT_GT(result / 100, 10) << "the arena made no progress while blocking jobs ran";
}

TEST(SpawnBlocking, PoolIsBoundedAndQueuesBeyondItsLimit) {
  sluice::runtime rt({.threads = 1, .max_blocking_threads = 2});
  std::atomic<int> running{0}, peak{0};
  std::vector<sluice::oneshot_receiver<void>> jobs;
  for (int i = 0; i < 8; ++i)
    jobs.push_back(rt.spawn_blocking([&] {
      int now = running.fetch_add(1) + 1;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      std::this_thread::sleep_for(10ms);
      running.fetch_sub(1);
    }));
  for (auto& j : jobs) j.get();
  EXPECT_LE(peak.load(), 2);
  EXPECT_GE(peak.load(), 1);
}

TEST(SpawnBlocking, ExceptionReachesTheAwaiter) {
  sluice::runtime rt({.threads = 1});
  auto rx = rt.spawn_blocking([]() -> int { throw std::runtime_error("disk on fire"); });
  EXPECT_THROW(rx.get(), std::runtime_error);
}

}  // namespace
