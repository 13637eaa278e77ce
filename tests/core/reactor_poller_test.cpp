// reactor::poller: a wait the reactor blocks in instead of epoll_wait while
// the poller is busy. The fake poller below waits on its own pipe and the
// reactor's epoll fd with no timeout, so everything the reactor must still
// do while it sits there (posts, timers, watches) is only done if the epoll
// fd wakes it: a missed wake hangs, and the hang guards fail the test.
#include <sluice/core/reactor.hpp>

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Longest a test waits for something that should happen at once; reaching
// it is the failure (a missed wake would wait forever).
constexpr auto k_hang_guard = 20s;

class pipe_poller final : public sluice::reactor::poller {
 public:
  pipe_poller() {
    if (::pipe(m_pipe) != 0) throw std::runtime_error("pipe");
  }
  ~pipe_poller() override {
    ::close(m_pipe[0]);
    ::close(m_pipe[1]);
  }
  pipe_poller(const pipe_poller&) = delete;
  pipe_poller& operator=(const pipe_poller&) = delete;

  // Reactor thread (from a post), as the client's own state is.
  void set_busy(bool busy) { m_busy = busy; }
  [[nodiscard]] bool busy() const override { return m_busy; }

  bool wait(int epoll_fd) override {
    waits.fetch_add(1);
    pollfd fds[2] = {{m_pipe[0], POLLIN, 0}, {epoll_fd, POLLIN, 0}};
    ::poll(fds, 2, -1);  // no timeout: only the two descriptors end it
    return fds[1].revents != 0;
  }

  void run() override {
    runs.fetch_add(1);
    pollfd fd{m_pipe[0], POLLIN, 0};
    if (::poll(&fd, 1, 0) != 1) return;
    char buffer[64];
    auto n = ::read(m_pipe[0], buffer, sizeof buffer);
    if (n > 0) bytes.fetch_add(static_cast<std::size_t>(n));
  }

  // Any thread: makes the poller's own source ready.
  void feed(std::size_t n) {
    std::vector<char> data(n, 'x');
    ASSERT_EQ(::write(m_pipe[1], data.data(), n), static_cast<ssize_t>(n));
  }

  std::atomic<int> waits{0};
  std::atomic<int> runs{0};
  std::atomic<std::size_t> bytes{0};

 private:
  int m_pipe[2] = {-1, -1};
  bool m_busy = false;
};

// Runs `fn` on the reactor thread and waits for it.
template <class Fn>
void on_reactor(sluice::reactor& r, Fn fn) {
  std::promise<void> done;
  r.post([&] {
    fn();
    done.set_value();
  });
  ASSERT_EQ(done.get_future().wait_for(k_hang_guard), std::future_status::ready);
}

// Makes `p` busy and returns once the reactor sits in its wait.
void enter_wait(sluice::reactor& r, pipe_poller& p) {
  ASSERT_TRUE(r.install_poller(p));
  const int before = p.waits.load();
  on_reactor(r, [&] { p.set_busy(true); });
  const auto give_up = std::chrono::steady_clock::now() + k_hang_guard;
  while (p.waits.load() == before && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  ASSERT_GT(p.waits.load(), before);
}

// Takes `p` out before it dies (reactor thread only).
void uninstall(sluice::reactor& r, pipe_poller& p) {
  on_reactor(r, [&] {
    p.set_busy(false);
    r.remove_poller(p);
  });
}

TEST(ReactorPoller, APostFromAnotherThreadWakesTheBusyPollersWait) {
  sluice::reactor r;
  pipe_poller p;
  enter_wait(r, p);
  const int waits = p.waits.load();
  std::promise<bool> ran;
  r.post([&] { ran.set_value(r.on_reactor_thread()); });
  auto done = ran.get_future();
  ASSERT_EQ(done.wait_for(k_hang_guard), std::future_status::ready);
  EXPECT_TRUE(done.get());
  EXPECT_EQ(p.bytes.load(), 0u);  // the poller's own source never woke it
  EXPECT_GE(p.runs.load(), waits);
  uninstall(r, p);
}

TEST(ReactorPoller, TimersFireWhileThePollerIsBusy) {
  sluice::reactor r;
  pipe_poller p;
  enter_wait(r, p);
  std::promise<void> fired;
  r.add_timer(sluice::reactor::clock::now() + 20ms, [&] { fired.set_value(); });
  EXPECT_EQ(fired.get_future().wait_for(k_hang_guard), std::future_status::ready);
  EXPECT_EQ(r.pending_timers(), 0u);
  uninstall(r, p);
}

TEST(ReactorPoller, WatchesAreDispatchedWhileThePollerIsBusy) {
  sluice::reactor r;
  pipe_poller p;
  enter_wait(r, p);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::promise<std::uint32_t> seen;
  on_reactor(r, [&] {
    r.watch(fds[0], EPOLLIN, [&, once = false](std::uint32_t events) mutable {
      char c;
      [[maybe_unused]] auto n = ::read(fds[0], &c, 1);
      if (!std::exchange(once, true)) seen.set_value(events);
    });
  });
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  auto events = seen.get_future();
  ASSERT_EQ(events.wait_for(k_hang_guard), std::future_status::ready);
  EXPECT_TRUE(events.get() & EPOLLIN);
  on_reactor(r, [&] { r.unwatch(fds[0]); });
  uninstall(r, p);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(ReactorPoller, ThePollersOwnReadinessIsRunAfterItsWait) {
  sluice::reactor r;
  pipe_poller p;
  enter_wait(r, p);
  p.feed(5);
  const auto give_up = std::chrono::steady_clock::now() + k_hang_guard;
  while (p.bytes.load() < 5 && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(p.bytes.load(), 5u);
  uninstall(r, p);
}

TEST(ReactorPoller, AnIdlePollerIsNeverWaitedIn) {
  sluice::reactor r;
  pipe_poller p;
  ASSERT_TRUE(r.install_poller(p));
  for (int i = 0; i < 20; ++i) on_reactor(r, [] {});
  std::promise<void> fired;
  r.add_timer(sluice::reactor::clock::now() + 5ms, [&] { fired.set_value(); });
  ASSERT_EQ(fired.get_future().wait_for(k_hang_guard), std::future_status::ready);
  EXPECT_EQ(p.waits.load(), 0);
  EXPECT_EQ(p.runs.load(), 0);
  on_reactor(r, [&] { r.remove_poller(p); });
}

TEST(ReactorPoller, OnePollerAtATimeAndRemovalFreesTheSlot) {
  sluice::reactor r;
  pipe_poller first;
  pipe_poller second;
  EXPECT_TRUE(r.install_poller(first));
  EXPECT_FALSE(r.install_poller(second));
  EXPECT_FALSE(r.install_poller(first));
  on_reactor(r, [&] { r.remove_poller(second); });  // not installed: no effect
  EXPECT_FALSE(r.install_poller(second));
  on_reactor(r, [&] { r.remove_poller(first); });
  EXPECT_TRUE(r.install_poller(second));
  on_reactor(r, [&] { r.remove_poller(second); });
}

TEST(ReactorPoller, AfterRemovalTheReactorWaitsInEpollAgain) {
  sluice::reactor r;
  pipe_poller p;
  enter_wait(r, p);
  on_reactor(r, [&] { r.remove_poller(p); });  // still busy, but no longer installed
  const int waits = p.waits.load();
  for (int i = 0; i < 20; ++i) on_reactor(r, [] {});
  EXPECT_EQ(p.waits.load(), waits);
}

// Posts from several threads and the poller's own readiness, interleaved:
// every post runs exactly once, every byte fed is seen.
TEST(ReactorPoller, PostsFromManyThreadsWhileBusyRunOnceEach) {
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  sluice::reactor r;
  pipe_poller p;
  enter_wait(r, p);
  std::vector<int> seen(threads * per_thread, 0);  // reactor thread only
  std::atomic<int> ran{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int index = t * per_thread + i;
        r.post([&, index] {
          ++seen[static_cast<std::size_t>(index)];
          ran.fetch_add(1);
        });
        if (i % 100 == 0) p.feed(1);
      }
    });
  }
  for (auto& t : posters) t.join();
  const auto give_up = std::chrono::steady_clock::now() + k_hang_guard;
  const auto fed = static_cast<std::size_t>(threads * (per_thread / 100));
  while ((ran.load() < threads * per_thread || p.bytes.load() < fed) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(1ms);
  uninstall(r, p);
  EXPECT_EQ(ran.load(), threads * per_thread);
  EXPECT_EQ(p.bytes.load(), fed);
  for (int count : seen) ASSERT_EQ(count, 1);
}

}  // namespace
