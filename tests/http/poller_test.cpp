// The client that drives libcurl through the reactor's poller: the reactor
// then sits in curl_multi_poll while transfers run, and whatever else it
// serves (posts from other threads, timers, another client's sockets) must
// still wake it. The server holds the transfers these tests run beside
// until the test releases them, and the client has no timeout of its own,
// so libcurl's poll has no reason to return but the reactor's epoll fd: a
// missed wake hangs until the hang guard fails the test.
#include <sluice/core/reactor.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "loopback_server.hpp"

using namespace std::chrono_literals;

namespace {

constexpr auto k_hang_guard = 20s;

// Only takes the reactor's poller slot, to see whether a client holds it.
class idle_poller final : public sluice::reactor::poller {
 public:
  [[nodiscard]] bool busy() const override { return false; }
  bool wait(int) override { return true; }
  void run() override {}
};

// True when the reactor has a poller installed (by a client); leaves it as it was.
bool poller_taken(sluice::reactor& io) {
  idle_poller probe;
  if (!io.install_poller(probe)) return true;
  std::promise<void> removed;
  io.post([&] {
    io.remove_poller(probe);
    removed.set_value();
  });
  removed.get_future().wait();
  return false;
}

// No request timeout, no stall check, libcurl's own connect timeout (300 s,
// past the hang guard): once connected, libcurl's only deadline is a
// one-off a few hundred ms after the connect, which is why every test below
// waits for more than one wake.
sluice::http::client_options without_deadlines() {
  return {.max_in_flight = 64, .connect_timeout = 0ms, .request_timeout = 0ms, .low_speed_time = 0s};
}

// Bounded enough to be polled.
sluice::http::client_options polled_options() { return {.max_in_flight = 128}; }

class HttpPolledClient : public ::testing::Test {
 protected:
  HttpPolledClient() : server(300) {
    auto& r = server.routes();
    r.Get("/stall", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      server.stall();
      res.set_content("late", "text/plain");
    });
    r.Get("/echo", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.set_content(req.get_param_value("i"), "text/plain");
    });
    server.start();
  }

  // Starts a GET of /stall on `c` and returns once the server holds it.
  sluice::join_handle<sluice::http::result<sluice::http::response>> held_request(sluice::http::client& c) {
    auto handle = rt.spawn(c.get(server.url("/stall")));
    EXPECT_TRUE(server.wait_for_requests(1));
    return handle;
  }

  sluice::test::loopback_server server;
  sluice::runtime rt;
};

TEST_F(HttpPolledClient, TheFirstClientWithBoundedTransfersTakesTheReactorsPoller) {
  EXPECT_FALSE(poller_taken(rt.io()));
  // Perform would visit every one of up to 1024 (the default) or unbounded transfers.
  for (std::size_t bound : {std::size_t{0}, std::size_t{129}, std::size_t{1024}}) {
    sluice::http::client unpolled(rt, {.max_in_flight = bound});
    EXPECT_FALSE(poller_taken(rt.io())) << bound;
  }
  auto first = std::make_unique<sluice::http::client>(rt, polled_options());
  EXPECT_TRUE(poller_taken(rt.io()));
  sluice::http::client second(rt, polled_options());  // the socket interface: works beside the first
  auto a = rt.block_on(first->get(server.url("/echo?i=1")));
  auto b = rt.block_on(second.get(server.url("/echo?i=2")));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "1");
  EXPECT_EQ(b->body, "2");
  first.reset();
  EXPECT_FALSE(poller_taken(rt.io()));  // the slot is free again; the second keeps its own way
  auto c = rt.block_on(second.get(server.url("/echo?i=3")));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->body, "3");
}

TEST_F(HttpPolledClient, APostFromAnotherThreadRunsWhileTheReactorSitsInLibcurlsPoll) {
  sluice::http::client c(rt, without_deadlines());
  ASSERT_TRUE(poller_taken(rt.io()));
  auto held = held_request(c);
  for (int i = 0; i < 3; ++i) {
    // Not a measurement: time for the reactor to go back into libcurl's
    // poll, so that the post has to wake it there (a post made while the
    // reactor is still running its round is seen without any wake).
    std::this_thread::sleep_for(50ms);
    std::promise<std::size_t> ran;
    rt.io().post([&] { ran.set_value(c.stats().in_flight); });
    auto in_flight = ran.get_future();
    ASSERT_EQ(in_flight.wait_for(k_hang_guard), std::future_status::ready);
    EXPECT_EQ(in_flight.get(), 1u);  // ran while the transfer was still held
  }
  server.release();
  auto r = held.get();
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "late");
}

TEST_F(HttpPolledClient, ReactorTimersFireWhileTransfersRun) {
  sluice::http::client c(rt, without_deadlines());
  auto held = held_request(c);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(50ms);  // into libcurl's poll again, as above
    std::promise<std::size_t> fired;
    rt.io().add_timer(sluice::reactor::clock::now() + 10ms, [&] { fired.set_value(c.stats().in_flight); });
    auto in_flight = fired.get_future();
    ASSERT_EQ(in_flight.wait_for(k_hang_guard), std::future_status::ready);
    EXPECT_EQ(in_flight.get(), 1u);
  }
  server.release();
  EXPECT_TRUE(held.get());
}

TEST_F(HttpPolledClient, ASecondClientsSocketsWakeTheFirstsPoll) {
  sluice::http::client polled(rt, without_deadlines());
  sluice::http::client other(rt, without_deadlines());
  auto held = held_request(polled);
  for (int i = 0; i < 20; ++i) {
    auto r = rt.block_on(other.get(server.url("/echo?i=" + std::to_string(i))));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->body, std::to_string(i));
  }
  EXPECT_EQ(polled.stats().in_flight, 1u);
  server.release();
  EXPECT_TRUE(held.get());
}

// libcurl's own deadlines, cancellation and shutdown, with no socket or
// timer callback: libcurl's poll wait must end at its deadline, and the
// reactor's posts must reach it.
TEST_F(HttpPolledClient, RequestTimeoutEndsAHeldTransfer) {
  sluice::http::client c(rt, {.max_in_flight = 64, .request_timeout = 300ms});
  ASSERT_TRUE(poller_taken(rt.io()));
  auto r = rt.block_on(c.get(server.url("/stall")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, sluice::http::error::kind::timeout);
  EXPECT_EQ(c.stats().in_flight, 0u);
}

TEST_F(HttpPolledClient, StopTokenCancelsAHeldTransfer) {
  sluice::http::client c(rt, without_deadlines());
  std::stop_source stop;
  auto handle = rt.spawn(c.get(server.url("/stall"), {}, stop.get_token()));
  ASSERT_TRUE(server.wait_for_requests(1));
  std::this_thread::sleep_for(50ms);  // into libcurl's poll, as above
  stop.request_stop();
  auto r = handle.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, sluice::http::error::kind::cancelled);
  EXPECT_EQ(c.stats().in_flight, 0u);
}

TEST_F(HttpPolledClient, DestroyingTheClientCancelsHeldTransfersAndFreesThePoller) {
  auto c = std::make_unique<sluice::http::client>(rt, without_deadlines());
  std::vector<sluice::join_handle<sluice::http::result<sluice::http::response>>> handles;
  for (int i = 0; i < 10; ++i) handles.push_back(rt.spawn(c->get(server.url("/stall"))));
  ASSERT_TRUE(server.wait_for_requests(10));
  c.reset();
  for (auto& h : handles) {
    auto r = h.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, sluice::http::error::kind::cancelled);
  }
  EXPECT_FALSE(poller_taken(rt.io()));
}

sluice::task<std::vector<std::string>> fetch_range(sluice::http::client& c, std::string base, int from, int to) {
  std::vector<std::string> bodies;
  for (int i = from; i < to; ++i) {
    auto r = co_await c.get(base + std::to_string(i));
    bodies.push_back(r ? r->body : "error: " + r.error().to_string());
  }
  co_return bodies;
}

// Both clients (one polled, one on the socket interface) on one reactor,
// many transfers at once: every answer arrives once, to the request that asked.
TEST_F(HttpPolledClient, ManyConcurrentTransfersEachGetTheirOwnAnswer) {
  constexpr int workers = 100;
  constexpr int each = 20;
  sluice::http::client polled(rt, {.max_connections_per_host = 100, .max_in_flight = 128});
  sluice::http::client other(rt, {.max_connections_per_host = 100});
  ASSERT_TRUE(poller_taken(rt.io()));
  const std::string base = server.url("/echo?i=");
  std::vector<sluice::task<std::vector<std::string>>> tasks;
  for (int w = 0; w < workers; ++w)
    tasks.push_back(fetch_range(w % 2 ? other : polled, base, w * each, (w + 1) * each));
  auto results = rt.block_on(sluice::when_all(std::move(tasks)));
  ASSERT_EQ(results.size(), static_cast<std::size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    const auto& bodies = results[static_cast<std::size_t>(w)];
    ASSERT_EQ(bodies.size(), static_cast<std::size_t>(each));
    for (int i = 0; i < each; ++i) ASSERT_EQ(bodies[static_cast<std::size_t>(i)], std::to_string(w * each + i));
  }
  EXPECT_EQ(polled.stats().completed + other.stats().completed, static_cast<std::uint64_t>(workers * each));
  EXPECT_EQ(polled.stats().in_flight, 0u);
}

}  // namespace
