// reactor::rearm and reactor::park: re-arming a watch keeps its callback,
// a parked fd delivers nothing (and is dropped from epoll if it becomes
// ready), and a parked fd comes back with rearm.
#include <sluice/core/reactor.hpp>

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;

namespace {

// Runs `fn` on the reactor thread and waits for it.
template <typename F>
auto on_reactor(sluice::reactor& r, F fn) {
  std::promise<decltype(fn())> done;
  auto result = done.get_future();
  r.post([&] {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      done.set_value();
    } else {
      done.set_value(fn());
    }
  });
  return result.get();
}

struct pipe_fds {
  std::array<int, 2> fd{-1, -1};
  pipe_fds() { EXPECT_EQ(::pipe(fd.data()), 0); }
  ~pipe_fds() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void put() const { ASSERT_EQ(::write(fd[1], "x", 1), 1); }
  void take() const {
    char c;
    ASSERT_EQ(::read(fd[0], &c, 1), 1);
  }
};

// Waits (generously, for loaded machines) until `count` reaches `want`.
bool reaches(const std::atomic<int>& count, int want) {
  for (int i = 0; i < 5000 && count.load() < want; ++i) std::this_thread::sleep_for(1ms);
  return count.load() >= want;
}

TEST(ReactorRearm, RearmWithoutAWatchReportsFalse) {
  sluice::reactor r;
  pipe_fds p;
  EXPECT_FALSE(on_reactor(r, [&] { return r.rearm(p.fd[0], EPOLLIN); }));
}

TEST(ReactorRearm, RearmKeepsTheCallbackAndChangesTheEvents) {
  sluice::reactor r;
  pipe_fds p;
  std::atomic<int> readable{0};
  std::atomic<int> writable{0};
  // Watch the write end for nothing useful first, then re-arm it for EPOLLOUT.
  on_reactor(r, [&] {
    r.watch(p.fd[1], EPOLLIN, [&](std::uint32_t ev) {
      if (ev & EPOLLOUT) {
        writable.fetch_add(1);
        r.park(p.fd[1]);  // once is enough
      }
    });
  });
  EXPECT_TRUE(on_reactor(r, [&] { return r.rearm(p.fd[1], EPOLLOUT); }));
  EXPECT_TRUE(reaches(writable, 1));
  // The read end: a plain watch that takes each byte.
  on_reactor(r, [&] {
    r.watch(p.fd[0], EPOLLIN, [&](std::uint32_t) {
      p.take();
      readable.fetch_add(1);
    });
  });
  p.put();
  EXPECT_TRUE(reaches(readable, 1));
  on_reactor(r, [&] {
    r.unwatch(p.fd[0]);
    r.unwatch(p.fd[1]);
  });
}

TEST(ReactorRearm, AParkedFdDeliversNothingUntilRearmed) {
  sluice::reactor r;
  pipe_fds p;
  std::atomic<int> calls{0};
  on_reactor(r, [&] {
    r.watch(p.fd[0], EPOLLIN, [&](std::uint32_t) {
      p.take();
      calls.fetch_add(1);
    });
  });
  p.put();
  ASSERT_TRUE(reaches(calls, 1));
  on_reactor(r, [&] { r.park(p.fd[0]); });
  p.put();  // ready while parked: dropped from epoll, no callback
  std::this_thread::sleep_for(50ms);
  on_reactor(r, [] {});  // the reactor has looked at the event by now
  EXPECT_EQ(calls.load(), 1);
  // Re-arming registers it again (it was deregistered) and the byte arrives.
  EXPECT_TRUE(on_reactor(r, [&] { return r.rearm(p.fd[0], EPOLLIN); }));
  EXPECT_TRUE(reaches(calls, 2));
  // Parked and re-armed with no event in between: still registered, still works.
  on_reactor(r, [&] { r.park(p.fd[0]); });
  EXPECT_TRUE(on_reactor(r, [&] { return r.rearm(p.fd[0], EPOLLIN); }));
  p.put();
  EXPECT_TRUE(reaches(calls, 3));
  on_reactor(r, [&] { r.unwatch(p.fd[0]); });
}

TEST(ReactorRearm, AnUnwatchedParkedFdNumberCanBeWatchedAgainAfterReuse) {
  sluice::reactor r;
  std::atomic<int> calls{0};
  int number = -1;
  {
    pipe_fds first;
    number = first.fd[0];
    on_reactor(r, [&] { r.watch(first.fd[0], EPOLLIN, [](std::uint32_t) {}); });
    on_reactor(r, [&] {
      r.park(first.fd[0]);
      r.unwatch(first.fd[0]);  // the owner's duty before closing
    });
  }
  pipe_fds second;  // most likely reuses `number`
  on_reactor(r, [&] {
    EXPECT_FALSE(r.rearm(second.fd[0], EPOLLIN));
    r.watch(second.fd[0], EPOLLIN, [&](std::uint32_t) {
      second.take();
      calls.fetch_add(1);
    });
  });
  second.put();
  EXPECT_TRUE(reaches(calls, 1)) << "fd " << second.fd[0] << " (first was " << number << ")";
  on_reactor(r, [&] { r.unwatch(second.fd[0]); });
}

}  // namespace
