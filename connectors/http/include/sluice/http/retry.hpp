// sluice::http::send_with_retry: exponential backoff with jitter, honouring Retry-After.
//
//   sluice::http::retry_policy policy{.max_attempts = 5,
//                                     .on_attempt = [](const auto& a) { log(a.attempt, a.target); }};
//   auto r = co_await send_with_retry(http, url, policy, stop);   // a GET
//   auto p = co_await send_with_retry(http, req, policy, stop);   // any request (name it first)
//
// An attempt is retried when the policy's `retryable` hook says so, or by
// default (default_retryable) when it failed with a transport error or a
// timeout or answered 502, 503 or 504. Cancellation, invalid requests and
// over-limit bodies are never retried. The waits are the policy's
// (sluice/core/retry.hpp: capped exponential backoff with jitter); a
// Retry-After header on a retryable response (seconds or an HTTP-date, of
// any magnitude) replaces the backoff, unless it asks for more than
// max_retry_after, in which case that response is returned as is.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "sluice/core/retry.hpp"
#include "sluice/core/task.hpp"
#include "sluice/http/client.hpp"
#include "sluice/http/message.hpp"

namespace sluice::http {

/// How send_with_retry retries: the project's one retry policy (see
/// sluice/core/retry.hpp), with a response-or-error as the outcome.
/// Default classification (when `retryable` is empty): see default_retryable().
using retry_policy = sluice::retry_policy<result<response>>;
/// What the policy's on_attempt hook sees after every attempt (`target` is the request URL).
using retry_attempt = sluice::retry_attempt<result<response>>;

/// send_with_retry's classification when the policy has no `retryable`
/// hook: transport errors, timeouts and the statuses 502, 503 and 504.
/// Cancellation, invalid requests and over-limit bodies are never retried.
/// To retry rate limiting as well:
/// `.retryable = [](const auto& r) { return default_retryable(r) || (r && r->status == 429); }`.
[[nodiscard]] bool default_retryable(const result<response>& outcome) noexcept;

/// Parses a Retry-After value: delay-seconds or an HTTP-date (relative to
/// `now`, clamped at zero). nullopt when it is neither.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Sends `req` through `c`, retrying as `policy` says; returns the last
/// attempt's outcome. Sleeps between attempts without holding a thread
/// (sluice::sleep_for on the runtime). Requesting `stop` cancels the attempt
/// in flight or ends the sleep at once, yielding kind::cancelled.
/// `policy` must outlive the returned task.
[[nodiscard]] task<result<response>> send_request_with_retry(client& c, request req, const retry_policy& policy,
                                                             std::stop_token stop = {});
/// send_with_retry() of an owned request. A template only so that a braced
/// list selects the request_ref overload; `R` is always http::request.
template <std::same_as<request> R>
[[nodiscard]] task<result<response>> send_with_retry(client& c, R req, const retry_policy& policy,
                                                     std::stop_token stop = {}) {
  return send_request_with_retry(c, std::move(req), policy, std::move(stop));
}
/// The documented spelling `co_await send_with_retry(client, {.url = u}, policy, stop)`:
/// safe on g++ 12 because request_ref is trivially destructible; its fields
/// are copied into an owned request before this returns.
[[nodiscard]] inline task<result<response>> send_with_retry(client& c, const request_ref& req,
                                                            const retry_policy& policy, std::stop_token stop = {}) {
  return send_request_with_retry(c, to_request(req), policy, std::move(stop));
}

/// send_with_retry() of a GET for `url` (anything convertible to
/// std::string_view): the natural spelling
/// `co_await send_with_retry(client, url, policy, stop)` builds no aggregate
/// inside the co_await (g++ 12 destroys such temporaries twice). A template
/// so that a braced `{.url = u}` still selects the request overload.
template <typename Url>
requires std::convertible_to<const Url&, std::string_view>
[[nodiscard]] task<result<response>> send_with_retry(client& c, const Url& url, const retry_policy& policy,
                                                     std::stop_token stop = {}) {
  return send_request_with_retry(c, request_for(std::string_view(url)), policy, std::move(stop));
}

}  // namespace sluice::http
