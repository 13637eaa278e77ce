#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <limits>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::expect_chained;
using sluice_test::iota;
using sluice_test::tracked;

namespace {

sluice::generator<int> forever() {
  for (int i = 0;; ++i) co_yield i;
}

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

TEST(Errors, FailFastRethrowsWithStageNameItemIndexAndCause) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto p = sluice::from(iota(10'000)) |
           sluice::map(
               [](int x) {
                 if (x == 4321) throw boom();
                 return x;
               },
               {.name = "picky"}) |
           sluice::to_vector(out);
  try {
    sluice::run(rt, std::move(p));
    FAIL() << "run returned";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_name(), "picky");
    EXPECT_EQ(e.stage_index(), 1u);
    EXPECT_EQ(e.item_index(), 4321u);  // map is sequential: stage index == source index
    EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos);
    EXPECT_THROW(std::rethrow_if_nested(e), boom);
    EXPECT_EQ(e.report().stages[1].failed, 1u);
    expect_chained(e.report());
  }
}

// filter's fail-fast path runs a chunk in one try (stage_io::call_each):
// the throwing item is the one named and counted, every item before it in
// the chunk was judged (kept or rejected), and the counters still add up.
TEST(Errors, AFilterThatThrowsMidChunkNamesTheItemAndKeepsTheCountsExact) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto p = sluice::from(iota(5'000)) |
           sluice::filter(
               [](int x) {
                 if (x == 777) throw boom();
                 return x % 2 == 0;
               },
               {.name = "judge"}) |
           sluice::to_vector(out);
  try {
    sluice::run(rt, std::move(p));
    FAIL() << "run returned";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_name(), "judge");
    EXPECT_EQ(e.item_index(), 777u);
    EXPECT_THROW(std::rethrow_if_nested(e), boom);
    const auto& judge = e.report().stages[1];
    EXPECT_EQ(judge.failed, 1u);
    EXPECT_GE(judge.dropped, 777u / 2);  // the odd items before 777 at least were rejected
    expect_chained(e.report());
  }
  for (int x : out) {
    EXPECT_EQ(x % 2, 0);
    EXPECT_LT(x, 777);
  }
}

TEST(Errors, AnInfiniteSourceStopsWhenAStageFails) {
  sluice::runtime rt({.threads = 2});
  auto p = sluice::from(forever()) | sluice::parallel_map([](int x) {
             if (x == 50'000) throw boom();
             return x;
           }) |
           sluice::for_each([](int) {});
  EXPECT_THROW(sluice::run(rt, std::move(p)), sluice::pipeline_error);
}

TEST(Errors, ThrowingSinkAndThrowingSourceDoNotHang) {
  sluice::runtime rt({.threads = 2});
  EXPECT_THROW(sluice::run(rt, sluice::from(forever()) | sluice::for_each([](int x) {
                                 if (x == 777) throw boom();
                               })),
               sluice::pipeline_error);
  auto bad_source = []() -> sluice::generator<int> {
    co_yield 1;
    throw boom();
  };
  try {
    sluice::run(rt, sluice::from(bad_source()) | sluice::for_each([](int) {}));
    FAIL() << "run returned";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_index(), 0u);
    EXPECT_EQ(e.item_index(), sluice::pipeline_error::no_item);
    expect_chained(e.report());
  }
}

TEST(Errors, AsyncFailureCancelsAFullPipeline) {
  sluice::runtime rt({.threads = 2});
  // The sink is slow, so every channel is full when the failure happens.
  auto p = sluice::from(forever()) |
           sluice::async_map(
               [](int x) -> sluice::task<int> {
                 if (x == 3000) throw boom();
                 co_return x;
               },
               {.concurrency = 4, .ordered = true}) |
           sluice::for_each([](int) { std::this_thread::sleep_for(1us); });
  try {
    sluice::run(rt, std::move(p));
    FAIL();
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.item_index(), 3000u);
    expect_chained(e.report());
  }
}

TEST(Errors, RetryWithBackoffRecoversTransientFailures) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> calls{0};
  auto flaky = [&](int x) -> sluice::task<int> {
    // Every item fails on its first attempt.
    static thread_local std::vector<int> seen;
    ++calls;
    if (std::find(seen.begin(), seen.end(), x) == seen.end()) {
      seen.push_back(x);
      throw boom();
    }
    co_return x;
  };
  std::vector<int> out;
  // concurrency 1: one coroutine, but it may hop threads; use a shared record instead of thread_local.
  std::mutex m;
  std::vector<int> attempted;
  auto flaky_shared = [&](int x) -> sluice::task<int> {
    {
      std::lock_guard lock(m);
      ++calls;
      if (std::find(attempted.begin(), attempted.end(), x) == attempted.end()) {
        attempted.push_back(x);
        throw boom();
      }
    }
    co_return x;
  };
  (void)flaky;
  auto report = sluice::run(
      rt, sluice::from(iota(50)) |
              sluice::async_map(flaky_shared, {.on_error = sluice::retry({.max_attempts = 3, .base_delay = 1ms})}) |
              sluice::to_vector(out));
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, iota(50));
  EXPECT_EQ(calls.load(), 100);
  EXPECT_EQ(report.stages[1].failed, 0u);
  EXPECT_EQ(report.stages[1].retries, 50u);  // one extra call per item
  EXPECT_NE(report.describe().find("retries"), std::string::npos);
  expect_chained(report);
}

TEST(Errors, RetriesExhaustedThenFailFast) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> calls{0};
  auto always = [&](int) -> sluice::task<int> {
    ++calls;
    throw boom();
    co_return 0;
  };
  try {
    sluice::run(rt, sluice::from(iota(1)) |
                        sluice::async_map(always, {.on_error = sluice::retry({.max_attempts = 4, .base_delay = 1ms})}) |
                        sluice::for_each([](int) {}));
    ADD_FAILURE() << "run did not throw";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.report().stages[1].retries, 3u);
    EXPECT_EQ(e.report().stages[1].failed, 1u);
    EXPECT_EQ(e.report().stages[1].cancelled, 0u);
  }
  EXPECT_EQ(calls.load(), 4);
}

TEST(Errors, TheRetryPolicysClassifierStopsRetriesForExceptionsItRefuses) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> async_calls{0}, sync_calls{0};
  // The one retry policy's hook: invalid_argument is permanent, anything else worth another try.
  sluice::retry_options policy{.max_attempts = 5, .base_delay = 1ms};
  policy.retryable = [](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::invalid_argument&) {
      return false;
    } catch (...) {
      return true;
    }
  };
  auto permanent = [&](int) -> sluice::task<int> {
    ++async_calls;
    throw std::invalid_argument("permanent");
    co_return 0;
  };
  auto transient = [&](int x) {
    if (++sync_calls < 3) throw std::runtime_error("transient");
    return x;
  };
  sluice::dead_letter_queue dead;
  std::vector<int> out;
  auto report = sluice::run(
      rt, sluice::from(iota(1)) | sluice::map(transient, {.on_error = sluice::retry(policy)}) |
              sluice::async_map(permanent, {.on_error = sluice::retry(policy, sluice::skip_to(dead.sink()))}) |
              sluice::to_vector(out));
  EXPECT_EQ(sync_calls.load(), 3);   // retried while the classifier allowed it
  EXPECT_EQ(async_calls.load(), 1);  // refused at once: no retry, straight to the dead letters
  EXPECT_EQ(report.stages[1].retries, 2u);
  EXPECT_EQ(report.stages[2].retries, 0u);
  EXPECT_EQ(dead.size(), 1u);
  EXPECT_TRUE(out.empty());
  expect_chained(report);
}

// Runs 0..999 through a parallel_map (with `options`) that throws on odd
// items and sends its failures to a dead-letter queue; returns the letters.
std::vector<sluice::dead_letter> dead_letters_of_odd_items(sluice::parallel_map_options options,
                                                           sluice::pipeline_report& report) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  std::vector<int> out;
  auto odd_fails = [](int x) {
    if (x % 2) throw boom();
    return x;
  };
  options.on_error = sluice::skip_to(dead.sink());
  report = sluice::run(
      rt, sluice::from(iota(1000)) | sluice::parallel_map(odd_fails, std::move(options)) | sluice::to_vector(out));
  EXPECT_EQ(out.size(), 500u);
  return dead.take();
}

TEST(Errors, SkipSendsFailuresToTheDeadLetterSink) {
  sluice::pipeline_report report;
  auto letters = dead_letters_of_odd_items({.name = "evens"}, report);
  ASSERT_EQ(letters.size(), 500u);
  EXPECT_EQ(letters[0].stage, "evens");
  int item = std::any_cast<int>(letters[0].item);
  EXPECT_EQ(item % 2, 1);
  EXPECT_THROW(std::rethrow_exception(letters[0].error), boom);
  // Two drivers receive batches in whichever order they win the channel, so
  // an index is a position in receive order: unique, inside the input.
  std::set<std::size_t> indices;
  for (const auto& letter : letters) {
    EXPECT_LT(letter.item_index, 1000u);
    indices.insert(letter.item_index);
  }
  EXPECT_EQ(indices.size(), letters.size());
  EXPECT_EQ(report.stages[1].failed, 500u);
  expect_chained(report);
}

TEST(Errors, AnOrderedStagesDeadLettersCarryTheItemsInputPosition) {
  sluice::pipeline_report report;
  auto letters = dead_letters_of_odd_items({.ordered = true}, report);
  ASSERT_EQ(letters.size(), 500u);
  for (const auto& letter : letters)  // one driver receives in source order
    EXPECT_EQ(letter.item_index, static_cast<std::size_t>(std::any_cast<int>(letter.item)));
}

TEST(Cancellation, StopTokenEndsAnInfinitePipelinePromptly) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<long> seen{0};
  std::thread canceller([&] {
    while (seen.load() < 10'000) std::this_thread::yield();
    stop.request_stop();
  });
  auto report = sluice::run(rt,
                            sluice::from(forever()) |
                                sluice::async_map([](int x) -> sluice::task<int> { co_return x; }, {.concurrency = 8}) |
                                sluice::parallel_map([](int x) { return x; }) | sluice::for_each([&](int) { ++seen; }),
                            stop.get_token());
  canceller.join();
  EXPECT_TRUE(report.cancelled);
  expect_chained(report);
}

TEST(Cancellation, StopBeforeStartRunsNothing) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  stop.request_stop();
  std::atomic<int> calls{0};
  auto report = sluice::run(rt, sluice::from(forever()) | sluice::for_each([&](int) { ++calls; }), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(calls.load(), 0);
  expect_chained(report);
}

TEST(Cancellation, SleepingRetriesObserveCancellation) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> calls{0};
  auto always = [&](int) -> sluice::task<int> {
    ++calls;
    throw boom();
    co_return 0;
  };
  std::thread canceller([&] {
    while (calls.load() < 1) std::this_thread::yield();
    stop.request_stop();
  });
  // Without cancellation this would sleep for about an hour.
  auto report =
      sluice::run(rt,
                  sluice::from(iota(1)) |
                      sluice::async_map(always, {.on_error = sluice::retry({.max_attempts = 2,
                                                                            .base_delay = std::chrono::hours(1),
                                                                            .max_delay = std::chrono::hours(1)})}) |
                      sluice::for_each([](int) {}),
                  stop.get_token());
  canceller.join();
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(report.stages[1].cancelled, 1u);  // abandoned by the stop, not failed
  EXPECT_EQ(report.stages[1].failed, 0u);
  EXPECT_EQ(report.stages[1].dropped, 0u);
  expect_chained(report);
}

TEST(Cancellation, SinkStoppingEarlyEndsTheRunWithoutError) {
  sluice::runtime rt({.threads = 2});
  int taken = 0;
  auto report = sluice::run(rt, sluice::from(forever()) | sluice::map([](int x) { return x; }) |
                                    sluice::for_each([&](int) { return ++taken < 1000; }));
  EXPECT_EQ(taken, 1000);
  EXPECT_FALSE(report.cancelled);
  EXPECT_EQ(report.stages[2].items_out, 1000u);
  expect_chained(report);
}

TEST(Backpressure, SlowSinkKeepsLiveItemsBoundedByCapacities) {
  tracked::reset();
  {
    sluice::runtime rt({.threads = 2});
    auto make = [](int x) { return tracked(x); };
    auto p =
        sluice::from(forever(), {.chunk = 16}) | sluice::map(make, {.capacity = 64}) |
        sluice::async_map([](tracked t) -> sluice::task<tracked> { co_return t; }, {.concurrency = 4, .capacity = 64}) |
        sluice::map([](tracked t) { return t; }, {.capacity = 64}) |
        sluice::for_each(
            [](const tracked& t) {
              std::this_thread::sleep_for(20us);
              return t.value < 3000;
            },
            {.capacity = 64});
    sluice::run(rt, std::move(p));
  }
  EXPECT_EQ(tracked::live.load(), 0);  // nothing leaked
  // Channels after the first map hold at most 64 items each (3 x 64) plus
  // what the stages hold while working (a chunk of 16 per sequential stage,
  // 4 in flight and a pool chunk in async_map, temporaries). Without
  // backpressure the forever() source would push millions.
  EXPECT_LE(tracked::peak.load(), 3 * 64 + 6 * 16 + 64);
}

}  // namespace
