#include <sluice/core/runtime.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "free_tcp_port.hpp"
#include "gzip_body.hpp"
#include "loopback_server.hpp"

using namespace std::chrono_literals;
using sluice::http::error;

namespace {

using sluice::test::gzip;

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

sluice::task<std::size_t> fetch_sequentially(sluice::http::client& c, std::string url, int count) {
  std::size_t ok = 0;
  for (int i = 0; i < count; ++i) {
    auto r = co_await c.get(url);
    if (r && r->status == 200) ++ok;
  }
  co_return ok;
}

sluice::task<std::size_t> fetch_concurrently(sluice::http::client& c, std::string url, int workers, int each) {
  std::vector<sluice::task<std::size_t>> tasks;
  for (int i = 0; i < workers; ++i) tasks.push_back(fetch_sequentially(c, url, each));
  auto counts = co_await sluice::when_all(std::move(tasks));
  std::size_t total = 0;
  for (auto n : counts) total += n;
  co_return total;
}

class HttpClient : public ::testing::Test {
 protected:
  HttpClient() : server(128) {
    auto& r = server.routes();
    r.Get("/hello", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.set_header("X-Custom-Thing", "abc");
      res.set_content("hello", "text/plain");
    });
    r.Get("/slow", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      std::this_thread::sleep_for(20ms);
      res.set_content("slow", "text/plain");
    });
    r.Get("/overlap", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      // The first 50 requests wait for one another, so whether they overlap
      // depends on the client alone, not on how fast a sanitized build on a
      // busy machine gets them started within the 20 ms below. A client that
      // cannot keep 50 in flight leaves them waiting for the 30 s limit.
      (void)server.wait_for_requests(50);
      std::this_thread::sleep_for(20ms);
      res.set_content("slow", "text/plain");
    });
    r.Get("/stall", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      server.stall();
      res.set_content("late", "text/plain");
    });
    r.Get("/large", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.set_content(pattern(20u << 20), "application/octet-stream");
    });
    r.Get("/chunked", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.set_chunked_content_provider("application/octet-stream", [](std::size_t offset, httplib::DataSink& sink) {
        if (offset >= 100'000) {
          sink.done();
          return true;
        }
        std::string chunk = pattern(100'000).substr(offset, 1000);
        return sink.write(chunk.data(), chunk.size());
      });
    });
    r.Get("/gzip", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      {
        std::lock_guard lock(mutex);  // read by the test thread: sockets are invisible to TSan
        accept_encoding = req.get_header_value("Accept-Encoding");
      }
      // application/octet-stream: cpp-httplib then leaves the body alone.
      res.set_header("Content-Encoding", "gzip");
      res.set_content(gzip(pattern(50'000)), "application/octet-stream");
    });
    r.Post("/echo", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.set_content(req.method + ":" + req.body, "application/octet-stream");
    });
    // What the server saw: method, body and the headers a leak would show.
    // HEAD reaches the Get handler (cpp-httplib answers it without the body).
    auto inspect = [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      std::string seen = req.method + "|body=" + req.body;
      for (const char* name : {"X-Test", "Authorization", "Content-Type", "Content-Length"})
        seen += std::string("|") + name + "=" + (req.has_header(name) ? req.get_header_value(name) : "-");
      res.set_content(seen, "text/plain");
    };
    r.Get("/inspect", inspect);
    r.Post("/inspect", inspect);
    r.Put("/inspect", inspect);
    r.Patch("/inspect", inspect);
    r.Delete("/inspect", inspect);
    r.Options("/inspect", inspect);
    r.Get("/sleep", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(req.get_param_value("ms"))));
      res.set_content("slept", "text/plain");
    });
    r.Get("/redirect", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      // "localhost" is another host name than 127.0.0.1 as far as credentials go.
      res.set_redirect("http://localhost:" + std::to_string(server.port()) + "/landing");
    });
    r.Get("/landing", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.set_content(req.has_header("Authorization") ? "auth" : "no-auth", "text/plain");
    });
    server.start();
  }

  sluice::test::loopback_server server;
  sluice::runtime rt;
  std::mutex mutex;
  std::string accept_encoding;
};

TEST_F(HttpClient, GetReturnsStatusHeadersAndBody) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(server.url("/hello")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->effective_url, server.url("/hello"));
}

TEST_F(HttpClient, HeaderLookupIgnoresCase) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(server.url("/hello")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->headers.get("x-custom-thing"), "abc");
  EXPECT_EQ(r->headers.get("X-CUSTOM-THING"), "abc");
  EXPECT_EQ(r->headers.get("content-TYPE"), "text/plain");
  EXPECT_FALSE(r->headers.contains("x-missing"));
}

TEST_F(HttpClient, HundredConcurrentRequestsOverlapOnTheServer) {
  sluice::http::client c(rt, {.max_in_flight = 100});
  auto ok = rt.block_on(fetch_concurrently(c, server.url("/overlap"), 100, 10));
  EXPECT_EQ(ok, 1000u);
  EXPECT_EQ(server.requests(), 1000u);
  EXPECT_GE(server.peak_concurrency(), 50u);
  EXPECT_LE(server.peak_concurrency(), 100u);  // max_in_flight holds
  auto s = c.stats();
  EXPECT_EQ(s.completed, 1000u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.queued, 0u);
}

TEST_F(HttpClient, MaxInFlightQueuesTheRest) {
  sluice::http::client c(rt, {.max_in_flight = 5});
  auto ok = rt.block_on(fetch_concurrently(c, server.url("/slow"), 40, 2));
  EXPECT_EQ(ok, 80u);
  EXPECT_LE(server.peak_concurrency(), 5u);
  EXPECT_GE(server.peak_concurrency(), 2u);
}

TEST_F(HttpClient, SequentialRequestsReuseOneConnection) {
  sluice::http::client c(rt);
  auto ok = rt.block_on(fetch_sequentially(c, server.url("/hello"), 200));
  EXPECT_EQ(ok, 200u);
  EXPECT_EQ(server.distinct_connections(), 1u);
  EXPECT_EQ(c.stats().connections_opened, 1u);
}

TEST_F(HttpClient, ConcurrentRequestsReuseConnectionsAcrossBursts) {
  sluice::http::client c(rt);
  EXPECT_EQ(rt.block_on(fetch_concurrently(c, server.url("/slow"), 10, 5)), 50u);
  EXPECT_EQ(rt.block_on(fetch_concurrently(c, server.url("/slow"), 10, 5)), 50u);
  // Ten at a time, twice: one connection per worker, kept across the bursts.
  EXPECT_LE(server.distinct_connections(), 12u);
  EXPECT_EQ(server.distinct_connections(), c.stats().connections_opened);
}

TEST_F(HttpClient, RefusedConnectionIsATransportErrorNamingTheUrl) {
  sluice::http::client c(rt);
  std::string url = "http://127.0.0.1:" + std::to_string(sluice::test::free_tcp_port()) + "/nothing";
  auto r = rt.block_on(c.get(url, {{"Authorization", "Bearer SECRET-TOKEN"}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::transport);
  EXPECT_EQ(r.error().url, url);
  EXPECT_NE(r.error().to_string().find(url), std::string::npos);
  EXPECT_NE(r.error().curl_code, 0);
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_EQ(r.error().to_string().find("SECRET"), std::string::npos);
}

TEST_F(HttpClient, CredentialsInTheUrlAreRedactedFromErrors) {
  sluice::http::client c(rt);
  auto port = std::to_string(sluice::test::free_tcp_port());
  auto r = rt.block_on(c.get("http://user:hunter2@127.0.0.1:" + port + "/x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().url, "http://127.0.0.1:" + port + "/x");
  EXPECT_EQ(r.error().to_string().find("hunter2"), std::string::npos);
}

TEST_F(HttpClient, UnsupportedSchemeIsInvalid) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get("ftp://127.0.0.1/file"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::invalid);
}

TEST_F(HttpClient, StallingServerTimesOut) {
  sluice::http::client c(rt, {.request_timeout = 300ms});
  auto r = rt.block_on(c.get(server.url("/stall")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::timeout) << r.error().to_string();
  EXPECT_EQ(r.error().url, server.url("/stall"));
}

TEST_F(HttpClient, PerRequestTimeoutOverridesTheClients) {
  sluice::http::client c(rt);  // no request timeout
  sluice::http::request req{.url = server.url("/stall"), .timeout = 200ms};
  auto r = rt.block_on(c.send(req));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::timeout);
}

TEST_F(HttpClient, LowSpeedLimitCatchesAStall) {
  sluice::http::client c(rt, {.low_speed_limit = 1, .low_speed_time = 1s});
  auto r = rt.block_on(c.get(server.url("/stall")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::timeout);
}

TEST_F(HttpClient, LargeBodyArrivesIntact) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(server.url("/large")));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->body.size(), 20u << 20);
  EXPECT_TRUE(r->body == pattern(20u << 20));
}

TEST_F(HttpClient, ChunkedBodyArrivesIntact) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(server.url("/chunked")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->headers.get("transfer-encoding"), "chunked");
  EXPECT_TRUE(r->body == pattern(100'000)) << r->body.size();
}

TEST_F(HttpClient, GzipBodyIsDecompressedTransparently) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(server.url("/gzip")));
  ASSERT_TRUE(r) << r.error().to_string();
  {
    std::lock_guard lock(mutex);
    EXPECT_NE(accept_encoding.find("gzip"), std::string::npos) << accept_encoding;
  }
  EXPECT_EQ(r->headers.get("content-encoding"), "gzip");
  EXPECT_TRUE(r->body == pattern(50'000)) << r->body.size();
}

TEST_F(HttpClient, PostSendsMethodAndBody) {
  sluice::http::client c(rt);
  sluice::http::request req{.method = "POST",
                            .url = server.url("/echo"),
                            .headers = {{"Content-Type", "application/octet-stream"}},
                            .body = pattern(3u << 20)};
  auto r = rt.block_on(c.send(req));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), 5 + (3u << 20));
  EXPECT_TRUE(r->body == "POST:" + pattern(3u << 20));  // not EXPECT_EQ: it would print 3 MB
}

// Easy handles are reused between requests: nothing of one request (its
// headers, method or body) may carry over into the next.
TEST_F(HttpClient, ReusedHandlesCarryNothingOverFromThePreviousRequest) {
  sluice::http::client c(rt);
  for (int i = 0; i < 3; ++i) {
    auto with = rt.block_on(c.get(server.url("/landing"), {{"Authorization", "Bearer SECRET-TOKEN"}}));
    ASSERT_TRUE(with) << with.error().to_string();
    EXPECT_EQ(with->body, "auth");
    auto without = rt.block_on(c.get(server.url("/landing")));
    ASSERT_TRUE(without) << without.error().to_string();
    EXPECT_EQ(without->body, "no-auth");
    auto post = rt.block_on(c.send({.method = "POST", .url = server.url("/echo"), .body = "x"}));
    ASSERT_TRUE(post) << post.error().to_string();
    EXPECT_EQ(post->body, "POST:x");
    auto get = rt.block_on(c.get(server.url("/hello")));
    ASSERT_TRUE(get) << get.error().to_string();
    EXPECT_EQ(get->body, "hello");
  }
}

// The tests below run their requests one after another on one client: each
// takes the easy handle the previous one left (and the one pooled
// connection), which the counters confirm, so an option one request set
// and the next did not reset would show in what the server saw.
class HttpClientHandleReuse : public HttpClient {
 protected:
  sluice::http::result<sluice::http::response> send(sluice::http::request req) {
    auto r = rt.block_on(c.send(std::move(req)));
    EXPECT_TRUE(r) << r.error().to_string();
    return r;
  }
  std::string seen(sluice::http::request req) {
    auto r = send(std::move(req));
    return r ? r->body : "(no response)";
  }
  // A request with the defaults, so that a later request's short limit is
  // not spent on the connect, which under a sanitizer on a loaded machine
  // took over a second (CI).
  void open_connection() { ASSERT_TRUE(send(sluice::http::request_for(server.url("/hello")))); }
  // One handle and one connection served every request.
  void expect_one_handle_and_connection() {
    EXPECT_EQ(c.stats().easy_handles_created, 1u);
    EXPECT_EQ(c.stats().connections_opened, 1u);
    EXPECT_EQ(server.distinct_connections(), 1u);
  }
  sluice::http::request get() { return sluice::http::request_for(server.url("/inspect")); }

  sluice::http::client c{rt};
};

const std::string plain_get = "GET|body=|X-Test=-|Authorization=-|Content-Type=-|Content-Length=-";

TEST_F(HttpClientHandleReuse, PostWithBodyAndHeadersLeavesNothingForTheNextGet) {
  EXPECT_EQ(seen({.method = "POST",
                  .url = server.url("/inspect"),
                  .headers = {{"X-Test", "one"}, {"Content-Type", "text/x-test"}, {"Authorization", "Bearer SECRET"}},
                  .body = "payload"}),
            "POST|body=payload|X-Test=one|Authorization=Bearer SECRET|Content-Type=text/x-test|Content-Length=7");
  EXPECT_EQ(seen(get()), plain_get);
  expect_one_handle_and_connection();
}

TEST_F(HttpClientHandleReuse, HeadLeavesNoNobodyForTheNextGetOrPost) {
  auto head = send({.method = "HEAD", .url = server.url("/inspect")});
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(seen(get()), plain_get);  // a NOBODY left over would send HEAD and return no body
  (void)send({.method = "HEAD", .url = server.url("/inspect")});
  EXPECT_EQ(seen({.method = "POST", .url = server.url("/inspect"), .body = "b"}),
            "POST|body=b|X-Test=-|Authorization=-|Content-Type=application/x-www-form-urlencoded|Content-Length=1");
  expect_one_handle_and_connection();
}

TEST_F(HttpClientHandleReuse, CustomMethodsLeaveNothingForTheNextGet) {
  EXPECT_EQ(seen({.method = "DELETE", .url = server.url("/inspect")}),
            "DELETE|body=|X-Test=-|Authorization=-|Content-Type=-|Content-Length=-");
  EXPECT_EQ(seen(get()), plain_get);
  EXPECT_EQ(seen({.method = "PUT", .url = server.url("/inspect"), .headers = {{"X-Test", "put"}}, .body = "xy"}),
            "PUT|body=xy|X-Test=put|Authorization=-|Content-Type=application/x-www-form-urlencoded|Content-Length=2");
  EXPECT_EQ(seen(get()), plain_get);
  EXPECT_EQ(seen({.method = "PATCH", .url = server.url("/inspect")}),
            "PATCH|body=|X-Test=-|Authorization=-|Content-Type=application/x-www-form-urlencoded|Content-Length=0");
  EXPECT_EQ(seen({.method = "OPTIONS", .url = server.url("/inspect")}),
            "OPTIONS|body=|X-Test=-|Authorization=-|Content-Type=-|Content-Length=-");
  EXPECT_EQ(seen(get()), plain_get);
  expect_one_handle_and_connection();
}

TEST_F(HttpClientHandleReuse, CredentialsInTheUrlLeaveNoAuthorizationForTheNextRequest) {
  const auto with_user = "http://user:hunter2@127.0.0.1:" + std::to_string(server.port()) + "/inspect";
  EXPECT_NE(seen(sluice::http::request_for(with_user)).find("Authorization=Basic "), std::string::npos);
  EXPECT_EQ(seen(get()), plain_get);
  expect_one_handle_and_connection();
}

// A short timeout of one request must not cut the next one short. The
// second request waits 3 s for its answer; a leaked 2 s timeout or 1 s
// inactivity limit ends it as a timeout whatever the machine's load.
TEST_F(HttpClientHandleReuse, PerRequestTimeoutsDoNotCarryOver) {
  ASSERT_NO_FATAL_FAILURE(open_connection());
  auto quick = send({.url = server.url("/hello"), .timeout = 2s, .inactivity_timeout = 1s});
  ASSERT_TRUE(quick);
  auto slow = send(sluice::http::request_for(server.url("/sleep?ms=3000")));
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->body, "slept");
  expect_one_handle_and_connection();
}

// The handle remembers the options it holds and sets only what differs
// (easy_slot): an override, then the defaults, then the same override again
// must each reach libcurl. The last request would wait 3.5 s; its 2 s limit
// must end it whatever the machine's load.
TEST_F(HttpClientHandleReuse, AnOverrideAfterTheDefaultsIsSetAgain) {
  ASSERT_NO_FATAL_FAILURE(open_connection());
  auto quick = send({.url = server.url("/hello"), .timeout = 2s});
  ASSERT_TRUE(quick);
  auto slow = send(sluice::http::request_for(server.url("/sleep?ms=2500")));
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->body, "slept");
  auto cut = rt.block_on(c.send({.url = server.url("/sleep?ms=3500"), .timeout = 2s}));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().what, error::kind::timeout);
  EXPECT_EQ(c.stats().easy_handles_created, 1u);  // the timed-out handle is freed only now
}

// Header lists alternate between the client's shared one and a request's
// own, built anew each time (a new list may reuse a freed one's address).
TEST_F(HttpClientHandleReuse, HeaderListsAlternateWithoutCarryingOver) {
  for (int round = 0; round < 4; ++round) {
    const std::string value = "v" + std::to_string(round);
    EXPECT_EQ(seen({.url = server.url("/inspect"), .headers = {{"X-Test", value}}}),
              "GET|body=|X-Test=" + value + "|Authorization=-|Content-Type=-|Content-Length=-");
    EXPECT_EQ(seen({.url = server.url("/inspect"), .headers = {{"X-Test", value + "b"}}}),
              "GET|body=|X-Test=" + value + "b|Authorization=-|Content-Type=-|Content-Length=-");
    EXPECT_EQ(seen(get()), plain_get);
    EXPECT_EQ(seen(get()), plain_get);
  }
  expect_one_handle_and_connection();
}

// A smaller body limit on one request must not refuse the next one's body.
TEST_F(HttpClientHandleReuse, PerRequestBodyLimitDoesNotCarryOver) {
  auto limited = rt.block_on(c.send({.url = server.url("/inspect"), .max_body_bytes = 4}));
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().what, error::kind::too_large);
  EXPECT_EQ(seen(get()), plain_get);
}

// A failed transfer's handle is not reused; the next request gets a fresh
// one and succeeds.
TEST_F(HttpClientHandleReuse, AFailedTransfersHandleIsReplaced) {
  EXPECT_EQ(seen(get()), plain_get);
  auto refused = rt.block_on(c.get("http://127.0.0.1:" + std::to_string(sluice::test::free_tcp_port()) + "/x"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(seen(get()), plain_get);
  EXPECT_EQ(c.stats().easy_handles_created, 2u);
}

TEST_F(HttpClient, RedirectsAreOffByDefault) {
  sluice::http::client c(rt);
  auto r = rt.block_on(c.get(server.url("/redirect")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 302);
}

TEST_F(HttpClient, FollowedRedirectNeverForwardsAuthorizationToAnotherHost) {
  sluice::http::client c(rt, {.follow_redirects = true});
  auto r = rt.block_on(c.get(server.url("/redirect"), {{"Authorization", "Bearer SECRET-TOKEN"}}));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "no-auth");
  EXPECT_NE(r->effective_url.find("localhost"), std::string::npos);
}

TEST_F(HttpClient, StopTokenCancelsARequestInFlight) {
  sluice::http::client c(rt);
  std::stop_source stop;
  auto handle = rt.spawn(c.get(server.url("/stall"), {}, stop.get_token()));
  ASSERT_TRUE(server.wait_for_requests(1));
  EXPECT_EQ(c.stats().in_flight, 1u);
  stop.request_stop();
  auto r = handle.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::cancelled);
  EXPECT_EQ(r.error().url, server.url("/stall"));
  EXPECT_EQ(c.stats().in_flight, 0u);
}

TEST_F(HttpClient, StopTokenCancelsAQueuedRequest) {
  sluice::http::client c(rt, {.max_in_flight = 1});
  std::stop_source stop;
  auto first = rt.spawn(c.get(server.url("/stall")));
  ASSERT_TRUE(server.wait_for_requests(1));
  auto second = rt.spawn(c.get(server.url("/stall"), {}, stop.get_token()));
  while (c.stats().queued != 1) std::this_thread::yield();
  stop.request_stop();
  auto r = second.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::cancelled);
  server.release();
  auto r1 = first.get();
  ASSERT_TRUE(r1) << r1.error().to_string();
  EXPECT_EQ(server.requests(), 1u);
}

TEST_F(HttpClient, AlreadyStoppedTokenNeverReachesTheServer) {
  sluice::http::client c(rt);
  std::stop_source stop;
  stop.request_stop();
  auto r = rt.block_on(c.get(server.url("/hello"), {}, stop.get_token()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::cancelled);
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(HttpClient, DestroyingTheClientCancelsRequestsInFlight) {
  auto c = std::make_unique<sluice::http::client>(rt);
  std::vector<sluice::join_handle<sluice::http::result<sluice::http::response>>> handles;
  for (int i = 0; i < 20; ++i) handles.push_back(rt.spawn(c->get(server.url("/stall"))));
  ASSERT_TRUE(server.wait_for_requests(20));
  c.reset();
  for (auto& h : handles) {
    auto r = h.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, error::kind::cancelled);
  }
}

TEST_F(HttpClient, ReactorHasNothingArmedWhenIdle) {
  sluice::http::client c(rt);
  EXPECT_EQ(rt.block_on(fetch_concurrently(c, server.url("/hello"), 10, 3)), 30u);
  // libcurl's timer is cancelled once nothing is in flight: the reactor can sleep.
  std::promise<std::size_t> timers;
  rt.io().post([&] { timers.set_value(rt.io().pending_timers()); });
  EXPECT_EQ(timers.get_future().get(), 0u);
}

TEST_F(HttpClient, WorksFromAPlainThreadUnderSyncWait) {
  sluice::http::client c(rt);
  auto r = sluice::sync_wait(c.get(server.url("/hello")));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->body, "hello");
}

}  // namespace
