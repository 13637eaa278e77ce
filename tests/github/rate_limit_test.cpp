// The primary rate limit's arithmetic on values from the network
// (sluice/github/rate_limit.hpp); also fuzzed by tests/fuzz/fuzz_rate_limit.cpp.
#include "sluice/github/rate_limit.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

namespace {

using namespace std::chrono_literals;
using sluice::github::parse_header_integer;
using sluice::github::utc_datetime_text;
using sluice::github::wait_for_primary_limit;

// 2026-01-01T00:00:00.250Z
const auto k_now = std::chrono::system_clock::time_point(std::chrono::seconds(1'767'225'600)) + 250ms;
constexpr std::chrono::milliseconds k_max = 15min;
constexpr std::chrono::milliseconds k_floor = 60s;

TEST(RateLimit, HeaderIntegersOfAnyMagnitudeParseOrAreRefused) {
  EXPECT_EQ(parse_header_integer("1767225600"), 1'767'225'600);
  EXPECT_EQ(parse_header_integer("  42"), 42);
  EXPECT_EQ(parse_header_integer("-3"), -3);
  EXPECT_EQ(parse_header_integer("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(parse_header_integer("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parse_header_integer("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_header_integer(""), std::nullopt);
  EXPECT_EQ(parse_header_integer("soon"), std::nullopt);
  EXPECT_EQ(parse_header_integer("+5"), std::nullopt);
}

TEST(RateLimit, WaitsUntilOneSecondPastTheReset) {
  const auto w = wait_for_primary_limit(1'767'225'610, k_now, k_max, k_floor);
  EXPECT_FALSE(w.beyond_max_wait);
  EXPECT_EQ(w.wait, 10s + 1s - 250ms);
}

TEST(RateLimit, AResetInThePastOrNowIsOneSecondNeverABurst) {
  for (const std::int64_t reset :
       {std::int64_t{1'767'225'600}, std::int64_t{0}, std::int64_t{-5}, std::numeric_limits<std::int64_t>::min()}) {
    const auto w = wait_for_primary_limit(reset, k_now, k_max, k_floor);
    EXPECT_FALSE(w.beyond_max_wait) << reset;
    EXPECT_GE(w.wait, 1s) << reset;
    EXPECT_LE(w.wait, 1s) << reset;
  }
}

TEST(RateLimit, AResetBeyondMaxWaitIsRefusedWhateverItsMagnitude) {
  for (const std::int64_t reset :
       {std::int64_t{1'767'225'600 + 900}, std::int64_t{253'402'300'800}, std::numeric_limits<std::int64_t>::max()}) {
    const auto w = wait_for_primary_limit(reset, k_now, k_max, k_floor);
    EXPECT_TRUE(w.beyond_max_wait) << reset;
  }
  const auto just_under = wait_for_primary_limit(1'767'225'600 + 899, k_now, k_max, k_floor);
  EXPECT_FALSE(just_under.beyond_max_wait);
  EXPECT_LE(just_under.wait, k_max + 1s);
}

TEST(RateLimit, WithoutAResetTheFixedPauseAppliesUnlessBeyondMaxWait) {
  EXPECT_EQ(wait_for_primary_limit(std::nullopt, k_now, k_max, k_floor).wait, k_floor);
  EXPECT_FALSE(wait_for_primary_limit(std::nullopt, k_now, k_max, k_floor).beyond_max_wait);
  EXPECT_TRUE(wait_for_primary_limit(std::nullopt, k_now, 30s, k_floor).beyond_max_wait);
}

TEST(RateLimit, ResetInstantsPrintAsUtcOrAreSaidToBeAbsurd) {
  EXPECT_EQ(utc_datetime_text(1'767'225'600), "2026-01-01T00:00:00Z");
  EXPECT_EQ(utc_datetime_text(std::numeric_limits<std::int64_t>::max()),
            "epoch second 9223372036854775807 (not a representable date)");
  EXPECT_EQ(utc_datetime_text(-1'000'000'000'000), "epoch second -1000000000000 (not a representable date)");
}

}  // namespace
