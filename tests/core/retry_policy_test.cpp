#include <sluice/core/retry.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

using namespace std::chrono_literals;
using policy_t = sluice::retry_policy<int>;

TEST(RetryPolicy, BackoffDoublesFromBaseUpToTheCap) {
  policy_t p{.max_attempts = 10, .base_delay = 100ms, .max_delay = 1s, .jitter = 0};
  EXPECT_EQ(p.delay_for(1, std::nullopt, 0.3), 100ms);
  EXPECT_EQ(p.delay_for(2, std::nullopt, 0.3), 200ms);
  EXPECT_EQ(p.delay_for(3, std::nullopt, 0.3), 400ms);
  EXPECT_EQ(p.delay_for(4, std::nullopt, 0.3), 800ms);
  EXPECT_EQ(p.delay_for(5, std::nullopt, 0.3), 1s);
  EXPECT_EQ(p.delay_for(9, std::nullopt, 0.3), 1s);
}

TEST(RetryPolicy, AttemptsAreCountedFirstIncluded) {
  policy_t p{.max_attempts = 3, .jitter = 0};
  EXPECT_TRUE(p.delay_for(1));
  EXPECT_TRUE(p.delay_for(2));
  EXPECT_FALSE(p.delay_for(3));
  policy_t none{.max_attempts = 0};
  EXPECT_FALSE(none.delay_for(1));  // 0 means one attempt, no retry
}

TEST(RetryPolicy, JitterStaysWithinItsBand) {
  policy_t p{.max_attempts = 10, .base_delay = 1000ms, .max_delay = 1000ms, .jitter = 0.25};
  EXPECT_EQ(p.delay_for(1, std::nullopt, 0.0), 750ms);
  EXPECT_EQ(p.delay_for(1, std::nullopt, 0.5), 1000ms);
  EXPECT_EQ(p.delay_for(1, std::nullopt, 1.0), 1250ms);
  for (int i = 0; i < 1000; ++i) {
    auto d = p.delay_for(1).value();
    EXPECT_GE(d, 750ms);
    EXPECT_LE(d, 1250ms);
  }
}

TEST(RetryPolicy, RetryAfterReplacesBackoffButNeverGoesBelowItsFloor) {
  policy_t p{.max_attempts = 5, .base_delay = 100ms, .jitter = 0.2, .max_retry_after = 10s};
  EXPECT_EQ(p.delay_for(1, 3s, 0.9), 3s);
  EXPECT_EQ(p.delay_for(2, 0ms, 0.9), 160ms);  // 200 ms * (1 - 0.2): a 0 cannot become a burst
  EXPECT_FALSE(p.delay_for(1, 11s));           // longer than max_retry_after: stop here
  policy_t ignore{.max_attempts = 5, .base_delay = 100ms, .jitter = 0, .honour_retry_after = false};
  EXPECT_EQ(ignore.delay_for(1, 3s, 0.5), 100ms);
}

TEST(RetryPolicy, ExtremeValuesSaturateWithoutOverflow) {
  policy_t p{.max_attempts = std::numeric_limits<std::size_t>::max(),
             .base_delay = std::chrono::milliseconds::max() / 3,
             .max_delay = std::chrono::milliseconds::max() / 2,
             .jitter = 0};
  EXPECT_EQ(p.delay_for(1000, std::nullopt, 0.5), std::chrono::milliseconds::max() / 2);
  EXPECT_EQ(p.delay_for(std::numeric_limits<std::size_t>::max() - 1, std::nullopt, 0.5),
            std::chrono::milliseconds::max() / 2);
  policy_t negative{.max_attempts = 3, .base_delay = -5ms, .max_delay = -1ms, .jitter = 7.0};
  EXPECT_EQ(negative.delay_for(1, std::nullopt, 1.0), 0ms);
}

TEST(RetryPolicy, TheClassifierHookIsPlainData) {
  policy_t p{.retryable = [](const int& code) { return code >= 500; }};
  ASSERT_TRUE(p.retryable);
  EXPECT_TRUE(p.retryable(503));
  EXPECT_FALSE(p.retryable(404));
}
