#include "sluice/http/retry.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "sluice/core/sleep.hpp"
#include "sluice/http/redact.hpp"

namespace sluice::http {

namespace {

using std::chrono::milliseconds;

// Larger than any wait anyone would take, small enough that adding it to a
// clock never overflows: absurd Retry-After values saturate here.
constexpr milliseconds k_saturated_wait = std::chrono::hours(24 * 365 * 100);

bool retryable(const result<response>& outcome, const retry_policy& policy) {
  if (!outcome && (outcome.error().what == error::kind::cancelled || outcome.error().what == error::kind::invalid ||
                   outcome.error().what == error::kind::too_large))
    return false;  // trying again cannot help, whatever the hook says
  return policy.retryable ? policy.retryable(outcome) : default_retryable(outcome);
}

// The delay before the next attempt, or nullopt to stop here.
std::optional<milliseconds> next_delay(std::size_t attempt, const result<response>& outcome,
                                       const retry_policy& policy) {
  if (!retryable(outcome, policy)) return std::nullopt;
  std::optional<milliseconds> requested;
  if (outcome && policy.honour_retry_after)
    if (auto header = outcome->headers.get("retry-after")) requested = parse_retry_after(*header);
  return policy.delay_for(attempt, requested);
}

}  // namespace

bool default_retryable(const result<response>& outcome) noexcept {
  if (outcome) return outcome->status == 502 || outcome->status == 503 || outcome->status == 504;
  return outcome.error().what == error::kind::transport || outcome.error().what == error::kind::timeout;
}

std::optional<milliseconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::ranges::all_of(value, [](char c) { return c >= '0' && c <= '9'; })) {
    // Any number of digits: compare in seconds before converting, so a
    // value beyond the range of milliseconds saturates instead of wrapping.
    std::uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    const auto cap =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(k_saturated_wait).count());
    if (ec != std::errc{} || end != value.data() + value.size() || seconds >= cap) return k_saturated_wait;
    return std::chrono::duration_cast<milliseconds>(std::chrono::seconds(static_cast<std::int64_t>(seconds)));
  }
  // libcurl parses all three HTTP-date formats (RFC 9110 section 5.6.7).
  std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  // In whole seconds first: a date in the year 292277026596 must not overflow the clock.
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto cap_s = std::chrono::duration_cast<std::chrono::seconds>(k_saturated_wait).count();
  const std::int64_t when_s = static_cast<std::int64_t>(when);
  if (when_s <= now_s) return milliseconds(0);
  if (when_s - now_s >= cap_s) return k_saturated_wait;
  const auto diff = std::chrono::system_clock::time_point(std::chrono::seconds(when_s)) - now;
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(diff));
}

task<result<response>> send_request_with_retry(client& c, request req, const retry_policy& policy,
                                               std::stop_token stop) {
  for (std::size_t attempt = 1;; ++attempt) {
    result<response> outcome = co_await c.send(req, stop);
    auto delay = next_delay(attempt, outcome, policy);
    if (policy.on_attempt) policy.on_attempt(retry_attempt{attempt, req.url, &outcome, delay});
    if (!delay) co_return outcome;
    // A named awaiter: GCC 12 mishandles non-trivial temporaries in co_await.
    auto nap = sleep_for(*delay, stop);  // ends early, timer cancelled, when stop is requested
    if (!co_await nap)
      co_return error{error::kind::cancelled, redact_url(req.url), "cancelled by stop token while waiting to retry"};
  }
}

}  // namespace sluice::http
