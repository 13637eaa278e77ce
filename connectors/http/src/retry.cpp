#include "sluice/http/retry.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <string>

#include "redact.hpp"
#include "sluice/core/sleep.hpp"

namespace sluice::http {

namespace {

using std::chrono::milliseconds;

bool retryable(const result<response>& outcome, const retry_policy& policy) {
  if (outcome) return std::ranges::find(policy.retry_statuses, outcome->status) != policy.retry_statuses.end();
  switch (outcome.error().what) {
    case error::kind::transport:
      return policy.retry_transport_errors;
    case error::kind::timeout:
      return policy.retry_timeouts;
    default:
      return false;  // cancelled or invalid: trying again cannot help
  }
}

milliseconds backoff(std::size_t attempt, const retry_policy& policy) {
  // base * 2^(attempt-1) without overflow: stop doubling at max_delay.
  milliseconds delay = policy.base_delay;
  for (std::size_t i = 1; i < attempt && delay < policy.max_delay; ++i) delay *= 2;
  delay = std::min(delay, policy.max_delay);
  if (policy.jitter <= 0) return delay;
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(std::max(0.0, 1.0 - policy.jitter), 1.0 + policy.jitter);
  return milliseconds(static_cast<milliseconds::rep>(std::llround(static_cast<double>(delay.count()) * factor(rng))));
}

// The delay before the next attempt, or nullopt to stop here.
std::optional<milliseconds> next_delay(std::size_t attempt, const result<response>& outcome,
                                       const retry_policy& policy) {
  if (attempt >= policy.max_attempts || !retryable(outcome, policy)) return std::nullopt;
  if (outcome && policy.honour_retry_after) {
    if (auto header = outcome->headers.get("retry-after")) {
      if (auto wait = parse_retry_after(*header)) {
        if (*wait > policy.max_retry_after) return std::nullopt;
        return *wait;
      }
    }
  }
  return backoff(attempt, policy);
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::ranges::all_of(value, [](char c) { return c >= '0' && c <= '9'; })) {
    long long seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || end != value.data() + value.size()) return milliseconds::max();  // absurdly large
    return std::chrono::duration_cast<milliseconds>(std::chrono::seconds(seconds));
  }
  // libcurl parses all three HTTP-date formats (RFC 9110 section 5.6.7).
  std::string text(value);
  time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  auto diff = std::chrono::system_clock::from_time_t(when) - now;
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(diff));
}

task<result<response>> send_with_retry(client& c, request req, const retry_policy& policy, std::stop_token stop) {
  for (std::size_t attempt = 1;; ++attempt) {
    result<response> outcome = co_await c.send(req, stop);
    auto delay = next_delay(attempt, outcome, policy);
    if (policy.on_attempt) policy.on_attempt(retry_attempt{attempt, req.url, &outcome, delay});
    if (!delay) co_return outcome;
    // A named awaiter: GCC 12 mishandles non-trivial temporaries in co_await.
    auto nap = sleep_for(*delay, stop);  // ends early, timer cancelled, when stop is requested
    if (!co_await nap)
      co_return error{error::kind::cancelled, detail::redact_url(req.url),
                      "cancelled by stop token while waiting to retry"};
  }
}

}  // namespace sluice::http
