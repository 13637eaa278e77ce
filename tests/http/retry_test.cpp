#include <sluice/core/runtime.hpp>
#include <sluice/http/retry.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "loopback_server.hpp"

using namespace std::chrono_literals;
using sluice::http::error;
using sluice::http::retry_attempt;

namespace {

struct seen_attempt {
  std::size_t attempt;
  bool ok;
  long status;
  std::optional<std::chrono::milliseconds> next_delay;
};

// Records what on_attempt reports, from whichever runtime thread calls it.
struct attempt_log {
  std::mutex mutex;
  std::vector<seen_attempt> attempts;
  auto hook() {
    return [this](const retry_attempt& a) {
      std::lock_guard lock(mutex);
      attempts.push_back({a.attempt, a.outcome->has_value(), *a.outcome ? (*a.outcome)->status : 0, a.next_delay});
    };
  }
};

class HttpRetry : public ::testing::Test {
 protected:
  HttpRetry() {
    auto& r = server.routes();
    r.Get("/flaky", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      std::lock_guard lock(mutex);
      arrivals.push_back(std::chrono::steady_clock::now());
      if (arrivals.size() == 1) {
        res.status = 503;
        res.set_header("Retry-After", "1");
        res.set_content("busy", "text/plain");
      } else {
        res.set_content("fine", "text/plain");
      }
    });
    r.Get("/busy", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.status = 503;
      res.set_header("Retry-After", "3600");
    });
    r.Get("/missing", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.status = 404;
    });
    r.Get("/bad-gateway", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = server.enter(req);
      res.status = 502;
    });
    server.start();
  }

  sluice::test::loopback_server server;
  sluice::runtime rt;
  std::mutex mutex;
  std::vector<std::chrono::steady_clock::time_point> arrivals;
};

TEST(RetryAfter, ParsesDelaySecondsAndHttpDates) {
  using sluice::http::parse_retry_after;
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("120", now), std::chrono::milliseconds(120'000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), std::chrono::milliseconds(10'000));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:57 GMT", now), std::chrono::milliseconds(20'000));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), std::chrono::milliseconds(0));  // past
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
}

TEST_F(HttpRetry, ServiceUnavailableThenOkIsRetriedAfterRetryAfter) {
  sluice::http::client c(rt);
  attempt_log log;
  sluice::http::retry_policy policy{.base_delay = 1ms, .jitter = 0, .on_attempt = log.hook()};
  auto r = rt.block_on(sluice::http::send_with_retry(c, {.url = server.url("/flaky")}, policy));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "fine");
  ASSERT_EQ(log.attempts.size(), 2u);
  EXPECT_EQ(log.attempts[0].attempt, 1u);
  EXPECT_EQ(log.attempts[0].status, 503);
  EXPECT_EQ(log.attempts[0].next_delay, std::chrono::milliseconds(1000));  // Retry-After, not the 1 ms backoff
  EXPECT_EQ(log.attempts[1].attempt, 2u);
  EXPECT_EQ(log.attempts[1].status, 200);
  EXPECT_EQ(log.attempts[1].next_delay, std::nullopt);
  std::lock_guard lock(mutex);
  ASSERT_EQ(arrivals.size(), 2u);
  EXPECT_GE(arrivals[1] - arrivals[0], 950ms);  // it really waited (a lower bound, not a speed check)
}

TEST_F(HttpRetry, TransportErrorsBackOffExponentiallyUntilAttemptsRunOut) {
  server.stop();  // nothing listens on the port any more
  sluice::http::client c(rt);
  attempt_log log;
  sluice::http::retry_policy policy{.max_attempts = 4, .base_delay = 2ms, .jitter = 0, .on_attempt = log.hook()};
  auto r = rt.block_on(sluice::http::send_with_retry(c, {.url = server.url("/flaky")}, policy));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::transport);
  ASSERT_EQ(log.attempts.size(), 4u);
  EXPECT_EQ(log.attempts[0].next_delay, std::chrono::milliseconds(2));
  EXPECT_EQ(log.attempts[1].next_delay, std::chrono::milliseconds(4));
  EXPECT_EQ(log.attempts[2].next_delay, std::chrono::milliseconds(8));
  EXPECT_EQ(log.attempts[3].next_delay, std::nullopt);
}

TEST_F(HttpRetry, BackoffIsCappedAndJittered) {
  sluice::http::client c(rt);
  attempt_log log;
  sluice::http::retry_policy policy{
      .max_attempts = 6, .base_delay = 4ms, .max_delay = 10ms, .jitter = 0.5, .on_attempt = log.hook()};
  auto r = rt.block_on(sluice::http::send_with_retry(c, {.url = server.url("/bad-gateway")}, policy));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);  // the last attempt's response
  ASSERT_EQ(log.attempts.size(), 6u);
  for (std::size_t i = 0; i + 1 < log.attempts.size(); ++i) {
    auto d = log.attempts[i].next_delay.value();
    auto nominal = std::min(4ms * (1 << i), 10ms);
    EXPECT_GE(d, nominal / 2 - 1ms);
    EXPECT_LE(d, nominal * 3 / 2 + 1ms);
  }
}

TEST_F(HttpRetry, ClientErrorsAreNotRetried) {
  sluice::http::client c(rt);
  attempt_log log;
  sluice::http::retry_policy policy{.base_delay = 1ms, .on_attempt = log.hook()};
  auto r = rt.block_on(sluice::http::send_with_retry(c, {.url = server.url("/missing")}, policy));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(log.attempts.size(), 1u);
  EXPECT_EQ(server.requests(), 1u);
}

TEST_F(HttpRetry, RetryAfterBeyondTheLimitReturnsTheResponse) {
  sluice::http::client c(rt);
  attempt_log log;
  sluice::http::retry_policy policy{.max_retry_after = 5s, .on_attempt = log.hook()};
  auto r = rt.block_on(sluice::http::send_with_retry(c, {.url = server.url("/busy")}, policy));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(log.attempts.size(), 1u);
}

TEST_F(HttpRetry, StopTokenEndsTheWaitBetweenAttempts) {
  sluice::http::client c(rt);
  attempt_log log;
  // An hour-long Retry-After: only cancellation can end this wait within the test's timeout.
  sluice::http::retry_policy policy{.max_retry_after = 2h, .on_attempt = log.hook()};
  std::stop_source stop;
  auto handle = rt.spawn(sluice::http::send_with_retry(c, {.url = server.url("/busy")}, policy, stop.get_token()));
  ASSERT_TRUE(server.wait_for_requests(1));
  std::this_thread::sleep_for(50ms);  // let it start sleeping (either way it must end cancelled)
  stop.request_stop();
  auto r = handle.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, error::kind::cancelled);
  EXPECT_EQ(server.requests(), 1u);
  std::lock_guard lock(log.mutex);
  ASSERT_EQ(log.attempts.size(), 1u);
  EXPECT_EQ(log.attempts[0].next_delay, std::chrono::milliseconds(3'600'000));
}

}  // namespace
