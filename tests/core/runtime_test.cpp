#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <ctime>
#include <fstream>
#include <future>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

TEST(Runtime, ScheduleMovesTheCoroutineOntoAnArenaThread) {
  sluice::runtime rt({.threads = 2});
  auto caller = std::this_thread::get_id();
  auto where = rt.block_on([](sluice::runtime& r) -> sluice::task<std::pair<std::thread::id, sluice::runtime*>> {
    co_await r.schedule();
    co_return std::pair{std::this_thread::get_id(), sluice::runtime::current()};
  }(rt));
  EXPECT_NE(where.first, caller);
  EXPECT_EQ(where.second, &rt);
}

// id() tells runtimes apart where addresses do not: a runtime made in the
// storage of a destroyed one has its address but a new id.
TEST(Runtime, EveryRuntimeHasItsOwnIdEvenAtAReusedAddress) {
  alignas(sluice::runtime) unsigned char storage[sizeof(sluice::runtime)];
  auto* first = new (storage) sluice::runtime({.threads = 1});
  const auto first_id = first->id();
  first->~runtime();
  auto* second = new (storage) sluice::runtime({.threads = 1});
  const auto second_id = second->id();
  second->~runtime();
  sluice::runtime third({.threads = 1});
  EXPECT_NE(first_id, 0u);
  EXPECT_NE(second_id, first_id);
  EXPECT_NE(third.id(), first_id);
  EXPECT_NE(third.id(), second_id);
}

TEST(Runtime, UsesTheConfiguredNumberOfArenaThreads) {
  sluice::runtime rt({.threads = 3});
  EXPECT_EQ(rt.threads(), 3u);
  // Three jobs that wait for each other can only finish if three threads run at once.
  std::atomic<int> arrived{0};
  std::vector<sluice::oneshot_receiver<void>> done;
  for (int i = 0; i < 3; ++i)
    done.push_back(rt.offload([&arrived] {
      arrived.fetch_add(1);
      while (arrived.load() < 3) std::this_thread::yield();
    }));
  for (auto& d : done) d.get();
  EXPECT_EQ(arrived.load(), 3);
}

TEST(Runtime, SleepForResumesAfterTheDeadlineWithoutHoldingAThread) {
  sluice::runtime rt({.threads = 1});
  // 200 concurrent sleepers on a single arena thread: they overlap only if a
  // sleeping coroutine holds no thread.
  auto run = [](sluice::runtime& r) -> sluice::task<int> {
    std::vector<sluice::join_handle<int>> handles;
    for (int i = 0; i < 200; ++i)
      handles.push_back(r.spawn([](int v) -> sluice::task<int> {
        auto start = std::chrono::steady_clock::now();
        co_await sluice::sleep_for(20ms);
        if (std::chrono::steady_clock::now() - start < 20ms) throw std::logic_error("woke early");
        co_return v;
      }(i)));
    int sum = 0;
    for (auto& h : handles) sum += co_await h;
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(run(rt)), 199 * 200 / 2);
}

TEST(Runtime, SpawnedTaskResultAndExceptionReachTheHandle) {
  sluice::runtime rt({.threads = 2});
  auto ok = rt.spawn([]() -> sluice::task<int> { co_return 3; }());
  auto bad = rt.spawn([]() -> sluice::task<int> {
    co_await sluice::sleep_for(1ms);
    throw std::out_of_range("spawned failure");
  }());
  EXPECT_EQ(ok.get(), 3);
  EXPECT_THROW(bad.get(), std::out_of_range);
}

TEST(Runtime, DestructionWaitsForDetachedTasks) {
  std::atomic<bool> finished{false};
  {
    sluice::runtime rt({.threads = 2});
    (void)rt.spawn([](std::atomic<bool>& f) -> sluice::task<void> {
      co_await sluice::sleep_for(30ms);
      f.store(true);
    }(finished));
  }
  EXPECT_TRUE(finished.load());
}

// What a job captured is destroyed before the runtime counts the job done:
// TBB destroys its task only after the job returns, and a capture left to
// that could outlive the runtime (LeakSanitizer once caught a coroutine's
// LIFO claim still held by a finished task at a program's exit).
TEST(Runtime, DestructionWaitsForWhatFinishedJobsCaptured) {
  struct slow_to_destroy {
    std::atomic<int>* destroyed;
    explicit slow_to_destroy(std::atomic<int>* d) noexcept : destroyed(d) {}
    slow_to_destroy(slow_to_destroy&& other) noexcept : destroyed(std::exchange(other.destroyed, nullptr)) {}
    ~slow_to_destroy() {
      if (!destroyed) return;
      std::this_thread::sleep_for(20ms);  // long enough for the destructor to have returned without waiting
      destroyed->fetch_add(1);
    }
  };
  constexpr int jobs = 4;
  std::atomic<int> destroyed{0};
  {
    sluice::runtime rt({.threads = 2});
    for (int i = 0; i < jobs; ++i) rt.execute([held = slow_to_destroy(&destroyed)] {});
  }
  EXPECT_EQ(destroyed.load(), jobs);
}

// The calling thread's name as the OS reports it (top -H, perf, gdb).
std::string os_thread_name() {
  std::ifstream comm("/proc/thread-self/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

sluice::task<std::string> blocking_pool_thread_name(sluice::runtime& rt) {
  co_return co_await rt.spawn_blocking([] { return os_thread_name(); });
}

TEST(Runtime, ItsOwnThreadsCarryNamesTheOsShows) {
  sluice::runtime rt({.threads = 1});
  std::promise<std::string> on_reactor;
  rt.io().post([&on_reactor] { on_reactor.set_value(os_thread_name()); });
  EXPECT_EQ(on_reactor.get_future().get(), "sluice-reactor");
  EXPECT_EQ(rt.block_on(blocking_pool_thread_name(rt)), "sluice-blocking");
}

TEST(Runtime, SleepOutsideARuntimeIsAClearError) {
  auto t = []() -> sluice::task<void> { co_await sluice::sleep_for(1ms); };
  EXPECT_THROW(sluice::sync_wait(t()), std::logic_error);
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A coroutine parks its handle in `parked` and waits for someone to resume it.
struct park_here {
  std::mutex* mutex;
  std::vector<std::coroutine_handle<>>* parked;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    std::lock_guard lock(*mutex);
    parked->push_back(h);
  }
  void await_resume() const noexcept {}
};

TEST(Runtime, PostBatchResumesEveryHandleExactlyOnceOnTheArena) {
  sluice::runtime rt({.threads = 2});
  // One handle (a plain post), as many as arena threads, many more.
  for (int n : {1, 2, 8, 9, 100}) {
    std::mutex mutex;
    std::vector<std::coroutine_handle<>> parked;
    std::vector<int> resumed(static_cast<std::size_t>(n), 0);
    std::atomic<int> off_arena{0};
    std::vector<sluice::join_handle<void>> tasks;
    for (int i = 0; i < n; ++i)
      tasks.push_back(rt.spawn([](park_here park, int& count, std::atomic<int>& off) -> sluice::task<void> {
        co_await park;
        ++count;
        if (sluice::runtime::current() == nullptr) off.fetch_add(1);
      }(park_here{&mutex, &parked}, resumed[static_cast<std::size_t>(i)], off_arena)));
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (parked.size() == static_cast<std::size_t>(n)) break;
      }
      std::this_thread::yield();
    }
    rt.post_batch(std::move(parked));  // from a thread outside the arena, as the reactor does
    for (auto& t : tasks) t.get();
    for (int i = 0; i < n; ++i) EXPECT_EQ(resumed[static_cast<std::size_t>(i)], 1) << "n=" << n << " i=" << i;
    EXPECT_EQ(off_arena.load(), 0);
  }
  rt.post_batch({});  // nothing to do
}

// Several outside threads (reactors of several clients, say) hand over
// batches at once, and the resumed coroutines post more work of their own:
// every coroutine runs exactly once and the runtime's destructor still waits
// for all of it.
TEST(Runtime, PostBatchFromSeveralThreadsAtOnceLosesNothing) {
  constexpr int threads = 3;
  constexpr int per_thread = 200;
  std::atomic<int> finished{0};
  {
    sluice::runtime rt({.threads = 2});
    std::mutex mutex;
    std::vector<std::coroutine_handle<>> parked;
    std::vector<sluice::join_handle<void>> tasks;
    for (int i = 0; i < threads * per_thread; ++i)
      tasks.push_back(rt.spawn([](park_here park, sluice::runtime& r, std::atomic<int>& done) -> sluice::task<void> {
        co_await park;
        co_await r.schedule();  // more arena work from inside the batch
        done.fetch_add(1);
      }(park_here{&mutex, &parked}, rt, finished)));
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (parked.size() == static_cast<std::size_t>(threads * per_thread)) break;
      }
      std::this_thread::yield();
    }
    std::vector<std::thread> posters;
    for (int t = 0; t < threads; ++t) {
      std::vector<std::coroutine_handle<>> share(parked.begin() + t * per_thread,
                                                 parked.begin() + (t + 1) * per_thread);
      posters.emplace_back([&rt, share = std::move(share)]() mutable {
        // Uneven batches: 1, 2, 3, ... handles.
        for (std::size_t at = 0, n = 1; at < share.size(); at += n, ++n) {
          auto end = share.begin() + static_cast<std::ptrdiff_t>(std::min(share.size(), at + n));
          rt.post_batch(std::vector<std::coroutine_handle<>>(share.begin() + static_cast<std::ptrdiff_t>(at), end));
        }
      });
    }
    for (auto& p : posters) p.join();
    tasks.clear();  // detached: the runtime's destructor must wait for them
  }
  EXPECT_EQ(finished.load(), threads * per_thread);
}

TEST(Runtime, IdleRuntimeDoesNotSpin) {
  sluice::runtime rt({.threads = 2});
  rt.block_on([](sluice::runtime& r) -> sluice::task<void> {
    co_await r.schedule();  // wake the arena once so its workers exist
  }(rt));
  std::this_thread::sleep_for(100ms);  // let TBB workers go back to sleep
  double before = process_cpu_seconds();
  std::this_thread::sleep_for(300ms);
  double used = process_cpu_seconds() - before;
  // A spinning arena or reactor would burn ~0.3 s per thread here.
  EXPECT_LT(used, 0.1) << "idle runtime used " << used << " s of CPU in 0.3 s";
}

}  // namespace

namespace {

TEST(Sleep, CancellableSleepCompletesWhenNotStopped) {
  sluice::runtime rt({.threads = 1});
  std::stop_source never;
  EXPECT_TRUE(rt.block_on([](std::stop_token st) -> sluice::task<bool> {
    co_return co_await sluice::sleep_for(5ms, st);
  }(never.get_token())));
}

TEST(Sleep, StopWakesASleeperEarlyAndCancelsItsTimer) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  auto sleeper = rt.spawn([](std::stop_token st) -> sluice::task<bool> {
    co_return co_await sluice::sleep_for(std::chrono::hours(1), st);
  }(stop.get_token()));
  std::this_thread::sleep_for(20ms);
  stop.request_stop();
  EXPECT_FALSE(sleeper.get());  // a missed stop would hang here for an hour
  EXPECT_EQ(rt.io().pending_timers(), 0u);
}

TEST(Sleep, AlreadyStoppedTokenReturnsAtOnce) {
  sluice::runtime rt({.threads = 1});
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(rt.block_on([](std::stop_token st) -> sluice::task<bool> {
    co_return co_await sluice::sleep_for(std::chrono::hours(1), st);
  }(stop.get_token())));
}

TEST(Sleep, StopRacingTheTimerResumesExactlyOnce) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 200; ++round) {
    std::stop_source stop;
    auto sleeper = rt.spawn([](std::stop_token st) -> sluice::task<int> {
      co_await sluice::sleep_for(std::chrono::microseconds(100), st);
      co_return 1;
    }(stop.get_token()));
    std::this_thread::sleep_for(std::chrono::microseconds(round % 3 == 0 ? 0 : 100));
    stop.request_stop();
    EXPECT_EQ(sleeper.get(), 1);
  }
}

}  // namespace
