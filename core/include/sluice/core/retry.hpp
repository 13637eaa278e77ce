// sluice::retry_policy: the project's one retry/backoff policy.
//
//   sluice::retry_policy<http::result<http::response>> policy{.max_attempts = 5, .base_delay = 100ms};
//   if (auto d = policy.delay_for(attempt, retry_after)) co_await sleep_for(*d, stop);  // else give up
//
// Every layer that retries (http::send_with_retry, the GitHub fetcher, the
// stages' retry) describes its retries with this type and computes its waits
// with delay_for(), so backoff, jitter and Retry-After handling are written
// once. The policy is plain data; `Outcome` is what one attempt produces in
// the layer using it (an http::result, an exception_ptr ...) and only types
// the two hooks. The layer decides *whether* an outcome is retryable (its
// default classification, or the `retryable` hook when set) and the policy
// decides *how long* to wait and *when to stop*.
//
// Backoff: the delay after failed attempt n (1-based) is
// min(max_delay, base_delay * 2^(n-1)), scaled by a uniform factor in
// [1 - jitter, 1 + jitter]. A server-requested delay (Retry-After) replaces
// it when honour_retry_after is set, but is never shorter than the backoff's
// unjittered lower bound (so `Retry-After: 0` repeated cannot become a burst
// of requests) and ends the retries when it exceeds max_retry_after. All
// arithmetic saturates: no input overflows.
//
// Thread-safety: a policy is read-only while used and may be shared by any
// number of concurrent users; delay_for() is const and thread-safe (each
// thread has its own random generator). Cancellation is the caller's: wait
// with sluice::sleep_for(d, stop) on the run's stop token.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string_view>

#include "sluice/core/detail/std_parts.hpp"

namespace sluice {

/// What a policy's on_attempt hook sees after every attempt.
template <typename Outcome>
struct retry_attempt {
  std::size_t attempt = 1;    // 1-based
  std::string_view target{};  // what was attempted (a URL: may carry credentials, redact before logging)
  const Outcome* outcome{};   // this attempt's outcome
  /// Sleep before the next attempt; nullopt when this attempt is the last
  /// (success, not retryable, attempts exhausted or Retry-After too long).
  std::optional<std::chrono::milliseconds> next_delay{};
};

namespace detail {

/// A uniform number in [0, 1) from a per-thread generator (core/src/retry.cpp,
/// which keeps <random>, about 17k preprocessed lines, out of this header).
double retry_random_unit();

/// min(max, base * 2^(attempt-1)), doubling saturated at `max`.
constexpr std::chrono::milliseconds capped_exponential(std::chrono::milliseconds base, std::chrono::milliseconds max,
                                                       std::size_t attempt) noexcept {
  base = std::max(base, std::chrono::milliseconds(0));
  max = std::max(max, std::chrono::milliseconds(0));
  std::chrono::milliseconds delay = std::min(base, max);
  for (std::size_t i = 1; i < attempt && delay < max; ++i)
    delay = delay > max / 2 ? max : delay * 2;  // never overflows: stops at max
  return std::min(delay, max);
}

}  // namespace detail

/// How one layer retries; designated-initialiser friendly. See the file comment.
template <typename Outcome>
struct retry_policy {
  /// Total attempts, the first included (1 = no retry; 0 is treated as 1).
  std::size_t max_attempts = 4;
  /// Backoff after the first failed attempt; doubled for every further one.
  std::chrono::milliseconds base_delay{200};
  /// Upper bound of one backoff delay (before jitter).
  std::chrono::milliseconds max_delay{30'000};
  /// Each backoff delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter] (clamped to [0, 1]).
  double jitter = 0.2;
  /// Use a server-requested delay (Retry-After) instead of the backoff.
  bool honour_retry_after = true;
  /// A requested delay longer than this ends the retries (the outcome is returned as is).
  std::chrono::milliseconds max_retry_after{120'000};
  /// Classifier hook: true when `outcome` is worth another attempt. Empty:
  /// the using layer's default classification (documented by that layer).
  std::function<bool(const Outcome&)> retryable{};
  /// Called after every attempt, on the thread that made it; must not throw.
  std::function<void(const retry_attempt<Outcome>&)> on_attempt{};

  /// The backoff after failed attempt `attempt` (1-based), jittered with
  /// `unit` in [0, 1) (0.5 = no jitter). Pure; never overflows.
  [[nodiscard]] std::chrono::milliseconds backoff(std::size_t attempt, double unit) const noexcept {
    const std::chrono::milliseconds nominal = detail::capped_exponential(base_delay, max_delay, attempt);
    const double spread = std::min(std::max(jitter, 0.0), 1.0);  // std::clamp is in <algorithm>
    if (spread == 0.0) return nominal;
    const double factor = 1.0 - spread + 2.0 * spread * std::min(std::max(unit, 0.0), 1.0);
    const double scaled = static_cast<double>(nominal.count()) * factor;
    // Saturate: a double at or past 2^63 does not convert back to an integer.
    if (scaled >= 9.2e18) return std::chrono::milliseconds::max();
    // Round half up; scaled is non-negative here.
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(scaled + 0.5));
  }

  /// The wait before attempt `attempt + 1` after attempt `attempt` failed
  /// retryably, or nullopt when the policy ends here: attempts exhausted, or
  /// a requested `retry_after` longer than max_retry_after. A requested delay
  /// is raised to at least the unjittered backoff's lower bound
  /// (nominal * (1 - jitter)), so a server cannot drive a burst. Pure apart
  /// from the jitter draw; never overflows.
  [[nodiscard]] std::optional<std::chrono::milliseconds> delay_for(
      std::size_t attempt, std::optional<std::chrono::milliseconds> retry_after = std::nullopt) const {
    return delay_for(attempt, retry_after, detail::retry_random_unit());
  }
  /// delay_for() with the jitter draw given (tests, deterministic callers).
  [[nodiscard]] std::optional<std::chrono::milliseconds> delay_for(std::size_t attempt,
                                                                   std::optional<std::chrono::milliseconds> retry_after,
                                                                   double unit) const noexcept {
    if (attempt >= std::max<std::size_t>(max_attempts, 1)) return std::nullopt;
    if (honour_retry_after && retry_after) {
      if (*retry_after > max_retry_after) return std::nullopt;
      return std::max(*retry_after, backoff(attempt, 0.0));
    }
    return backoff(attempt, unit);
  }
};

// The policy of the stages' error_policy, compiled once in core/src/retry.cpp
// rather than in every pipeline program, with the std::optional code of its
// delays (docs/architecture.md, "Header cost").
extern template struct retry_policy<std::exception_ptr>;

}  // namespace sluice
