// Property: an `x-ratelimit-reset` value from the network of any spelling
// and magnitude gives a wait that is bounded (at most max_wait plus the
// second past the reset), never negative and, with a reset, never shorter
// than one second (no burst of requests); the date-time printed for it is
// printable ASCII. `x-ratelimit-remaining` and `-limit` use the same integer
// parser.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/github/rate_limit.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono_literals;
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  // A fixed clock (2026-01-01T00:00:00.250Z) keeps every run reproducible.
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600)) + 250ms;
  constexpr auto max_wait = std::chrono::milliseconds(15min);
  constexpr auto without_reset = std::chrono::milliseconds(60s);

  const auto reset = sluice::github::parse_header_integer(value);
  const auto [wait, beyond] = sluice::github::wait_for_primary_limit(reset, now, max_wait, without_reset);
  SLUICE_FUZZ_CHECK(wait.count() >= 0, "a rate-limit wait is never negative");
  if (!beyond) SLUICE_FUZZ_CHECK(wait <= max_wait + 1s, "an accepted wait is at most max_wait plus one second");
  if (reset) {
    SLUICE_FUZZ_CHECK(beyond || wait >= 1s, "a wait for a reset is at least one second (no burst)");
    for (const char c : sluice::github::utc_datetime_text(*reset))
      SLUICE_FUZZ_CHECK(c >= 0x20 && c < 0x7f, "the reset's date-time is printable ASCII");
  } else {
    SLUICE_FUZZ_CHECK(wait == without_reset, "without a reset the fixed pause applies");
  }
  return 0;
}
