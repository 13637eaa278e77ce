// sluice::http::send_with_retry: exponential backoff with jitter, honouring Retry-After.
//
//   sluice::http::retry_policy policy{.max_attempts = 5,
//                                     .on_attempt = [](const auto& a) { log(a.attempt, a.url); }};
//   auto r = co_await send_with_retry(http, req, policy, stop);
//
// An attempt is retried when it failed with a transport error or a timeout,
// or answered with a status in `retry_statuses` (502, 503, 504 by default).
// Cancellation and invalid requests are never retried. The delay before
// attempt n+1 is min(max_delay, base_delay * 2^(n-1)), scaled by a random
// factor in [1 - jitter, 1 + jitter]; a Retry-After header on a retryable
// response (seconds or an HTTP-date) replaces it, unless it asks for more
// than max_retry_after, in which case that response is returned as is.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <string_view>
#include <vector>

#include "sluice/core/task.hpp"
#include "sluice/http/client.hpp"
#include "sluice/http/message.hpp"

namespace sluice::http {

/// What the on_attempt hook sees after every attempt.
struct retry_attempt {
  std::size_t attempt = 1;            // 1-based
  std::string_view url{};             // the request URL (may carry credentials: redact before logging)
  const result<response>* outcome{};  // this attempt's response or error
  /// Sleep before the next attempt; nullopt when this attempt is the last
  /// (success, not retryable, or attempts exhausted).
  std::optional<std::chrono::milliseconds> next_delay{};
};

/// How send_with_retry retries; designated-initialiser friendly.
struct retry_policy {
  /// Total attempts, the first included (1 = no retry).
  std::size_t max_attempts = 4;
  /// Backoff before the second attempt; doubled for every further attempt.
  std::chrono::milliseconds base_delay{200};
  /// Upper bound of one backoff delay (before jitter).
  std::chrono::milliseconds max_delay{30'000};
  /// Each delay is multiplied by a uniform random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
  /// Retry error::kind::transport and error::kind::timeout respectively.
  bool retry_transport_errors = true;
  bool retry_timeouts = true;
  /// Statuses that are retried (add 429 to retry rate limiting).
  std::vector<long> retry_statuses{502, 503, 504};
  /// Use a retryable response's Retry-After instead of the backoff delay.
  bool honour_retry_after = true;
  /// A Retry-After longer than this ends the retries (the response is returned).
  std::chrono::milliseconds max_retry_after{120'000};
  /// Called after every attempt, on the runtime thread that made it; must not throw.
  std::function<void(const retry_attempt&)> on_attempt{};
};

/// Parses a Retry-After value: delay-seconds or an HTTP-date (relative to
/// `now`, clamped at zero). nullopt when it is neither.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Sends `req` through `c`, retrying as `policy` says; returns the last
/// attempt's outcome. Sleeps between attempts without holding a thread
/// (sluice::sleep_for on the runtime). Requesting `stop` cancels the attempt
/// in flight or ends the sleep at once, yielding kind::cancelled.
/// `policy` must outlive the returned task.
[[nodiscard]] task<result<response>> send_with_retry(client& c, request req, const retry_policy& policy,
                                                     std::stop_token stop = {});

}  // namespace sluice::http
