#include <sluice/core/task_scope.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

using namespace std::chrono_literals;

namespace {

TEST(TaskScope, JoinWaitsForEveryChild) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> done{0};
  rt.block_on([](sluice::runtime& r, std::atomic<int>& d) -> sluice::task<void> {
    sluice::task_scope scope(r);
    for (int i = 0; i < 100; ++i)
      scope.spawn([](std::atomic<int>& counter, int delay) -> sluice::task<void> {
        co_await sluice::sleep_for(std::chrono::milliseconds(delay));
        counter.fetch_add(1);
      }(d, i % 7));
    co_await scope.join();
  }(rt, done));
  EXPECT_EQ(done.load(), 100);
}

TEST(TaskScope, FirstFailureIsRethrownAndStopIsRequested) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> stopped_early{0};
  auto run = [](sluice::runtime& r, std::atomic<int>& early) -> sluice::task<void> {
    sluice::task_scope scope(r);
    scope.spawn([]() -> sluice::task<void> {
      co_await sluice::sleep_for(1ms);
      throw std::runtime_error("child failed");
    }());
    for (int i = 0; i < 4; ++i)
      scope.spawn([](std::stop_token st, std::atomic<int>& e) -> sluice::task<void> {
        for (int step = 0; step < 1000; ++step) {
          if (st.stop_requested()) {
            e.fetch_add(1);
            co_return;
          }
          co_await sluice::sleep_for(1ms);
        }
      }(scope.stop_token(), early));
    co_await scope.join();
  };
  EXPECT_THROW(rt.block_on(run(rt, stopped_early)), std::runtime_error);
  EXPECT_EQ(stopped_early.load(), 4);
}

TEST(TaskScope, UnjoinedScopeDestructorWaitsForChildren) {
  sluice::runtime rt({.threads = 2});
  std::atomic<bool> finished{false};
  {
    sluice::task_scope scope(rt);
    scope.spawn([](std::atomic<bool>& f) -> sluice::task<void> {
      co_await sluice::sleep_for(20ms);
      f.store(true);
    }(finished));
  }
  EXPECT_TRUE(finished.load());
}

TEST(TaskScope, JoinWithNoChildrenCompletes) {
  sluice::runtime rt({.threads = 1});
  rt.block_on([](sluice::runtime& r) -> sluice::task<void> {
    sluice::task_scope scope(r);
    co_await scope.join();
  }(rt));
  SUCCEED();
}

}  // namespace
