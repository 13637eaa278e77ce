// GitHub's primary rate limit: reading `x-ratelimit-*` values that come from
// the network, and turning `x-ratelimit-reset` into a wait.
//
// Kept apart from the fetcher so that every byte of these headers can be
// fuzzed (tests/fuzz/fuzz_rate_limit.cpp): values of any magnitude must give
// a bounded, non-negative wait and never a burst of requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::github {

/// A decimal integer header value (leading spaces allowed, trailing bytes
/// ignored as GitHub's values have none), or nullopt when it does not start
/// with a number or does not fit in 64 bits. Never throws.
[[nodiscard]] std::optional<std::int64_t> parse_header_integer(std::string_view value) noexcept;

/// What to do when the primary rate limit is spent.
struct primary_limit_wait {
  std::chrono::milliseconds wait{0};  ///< how long every request pauses (≥ 1 s with a reset)
  bool beyond_max_wait = false;       ///< the wait would exceed max_wait: fail instead of waiting
};

/// The pause for a spent primary limit. `reset_epoch` is `x-ratelimit-reset`
/// (seconds since the epoch, from the network, any magnitude) or nullopt when
/// absent or unreadable; then `without_reset` is the pause. With a reset the
/// pause lasts until one second past it (retrying at the reset second itself
/// is limited again) and is never shorter than one second, so a reset in the
/// past is no burst. Compared in whole seconds before any conversion, so no
/// value overflows. Never throws.
[[nodiscard]] primary_limit_wait wait_for_primary_limit(std::optional<std::int64_t> reset_epoch,
                                                        std::chrono::system_clock::time_point now,
                                                        std::chrono::milliseconds max_wait,
                                                        std::chrono::milliseconds without_reset) noexcept;

/// An instant as a full UTC date-time ("2026-11-30T15:04:05Z"); a value
/// outside years 1900–9999 is said to be one ("epoch second N (not a
/// representable date)"). Printable ASCII only.
[[nodiscard]] std::string utc_datetime_text(std::int64_t epoch_seconds);

}  // namespace sluice::github
