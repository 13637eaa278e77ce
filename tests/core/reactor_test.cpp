#include <sluice/core/reactor.hpp>

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "../process_support.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <vector>

using namespace std::chrono_literals;

namespace {

TEST(Reactor, TimersFireInDeadlineOrderOnTheReactorThread) {
  sluice::reactor r;
  std::mutex m;
  std::vector<int> order;
  std::promise<void> all;
  auto now = sluice::reactor::clock::now();
  for (int i : {3, 1, 2}) {
    r.add_timer(now + std::chrono::milliseconds(10 * i), [&, i] {
      EXPECT_TRUE(r.on_reactor_thread());
      std::lock_guard lock(m);
      order.push_back(i);
      if (order.size() == 3) all.set_value();
    });
  }
  all.get_future().wait();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(Reactor, CancelledTimerNeverFires) {
  sluice::reactor r;
  std::atomic<bool> fired{false};
  auto id = r.add_timer(sluice::reactor::clock::now() + 20ms, [&] { fired = true; });
  EXPECT_TRUE(r.cancel_timer(id));
  EXPECT_FALSE(r.cancel_timer(id));
  std::promise<void> later;
  r.add_timer(sluice::reactor::clock::now() + 40ms, [&] { later.set_value(); });
  later.get_future().wait();
  EXPECT_FALSE(fired.load());
}

TEST(Reactor, PostRunsOnTheReactorThreadInOrder) {
  sluice::reactor r;
  std::vector<int> seen;
  std::promise<void> done;
  for (int i = 0; i < 100; ++i)
    r.post([&, i] {
      seen.push_back(i);
      if (i == 99) done.set_value();
    });
  done.get_future().wait();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
}

TEST(Reactor, WatchedFdCallbackRunsWhenReadable) {
  sluice::reactor r;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::promise<char> got;
  r.post([&] {
    r.watch(fds[0], EPOLLIN, [&](std::uint32_t events) {
      EXPECT_TRUE(events & EPOLLIN);
      char c = 0;
      EXPECT_EQ(::read(fds[0], &c, 1), 1);
      r.unwatch(fds[0]);  // unwatching from inside the callback is allowed
      got.set_value(c);
    });
  });
  ASSERT_EQ(::write(fds[1], "z", 1), 1);
  EXPECT_EQ(got.get_future().get(), 'z');
  ::close(fds[0]);
  ::close(fds[1]);
}

// A write on the reactor thread to a socket whose peer is gone is EPIPE, not
// the process's death, even with SIGPIPE at its default disposition (hiredis
// writes with plain write(): a Redis server restarting killed a producer).
TEST(Reactor, AWriteToAClosedPeerOnTheReactorThreadIsEpipeNotDeath) {
  sluice::testing::scoped_signal_disposition default_pipe(SIGPIPE, SIG_DFL);
  sluice::reactor r;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);
  std::promise<int> error;
  r.post([&] {
    const ssize_t n = ::write(fds[0], "x", 1);
    error.set_value(n < 0 ? errno : 0);
  });
  EXPECT_EQ(error.get_future().get(), EPIPE);
  ::close(fds[0]);
}

}  // namespace
