// The one cancellation model of a run: the run's std::stop_token reaches
// retries, sources and the user's stage functions, and what a stop abandons
// is counted as `cancelled`.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::expect_chained;
using sluice_test::iota;

namespace {

sluice::generator<int> forever() {
  for (int i = 0;; ++i) co_yield i;
}

// Waits (yielding) until `n` reaches `at_least`; the pipeline runs on the runtime's threads.
void wait_for(const std::atomic<int>& n, int at_least) {
  while (n.load() < at_least) std::this_thread::yield();
}

// Runs `pipeline` with a stop requested once `started` reaches `in_flight`;
// returns the report and the time from the stop request to run's return.
template <typename P>
std::pair<sluice::pipeline_report, std::chrono::nanoseconds> run_and_stop(sluice::runtime& rt, P pipeline,
                                                                          const std::atomic<int>& started,
                                                                          int in_flight) {
  std::stop_source stop;
  std::chrono::steady_clock::time_point stopped_at;
  std::thread canceller([&] {
    wait_for(started, in_flight);
    stopped_at = std::chrono::steady_clock::now();
    stop.request_stop();
  });
  auto report = sluice::run(rt, std::move(pipeline), stop.get_token());
  auto returned = std::chrono::steady_clock::now();
  canceller.join();
  return {std::move(report), returned - stopped_at};
}

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

TEST(Cancellation, BodiesHonouringTheTokenLetARunStopWithinMilliseconds) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> started{0};
  constexpr int concurrency = 16;
  // Each body would wait an hour, unless the run's token stops it.
  auto slow = [&](int x, std::stop_token stop) -> sluice::task<int> {
    ++started;
    co_await sluice::sleep_for(1h, stop);
    co_return x;
  };
  std::vector<int> out;
  auto [report, latency] = run_and_stop(
      rt, sluice::from(forever()) | sluice::async_map(slow, {.concurrency = concurrency}) | sluice::to_vector(out),
      started, concurrency);
  std::cout << "stop-to-return latency: " << ms(latency) << " ms\n";
  ::testing::Test::RecordProperty("stop_to_return_us", static_cast<int>(latency.count() / 1000));
  EXPECT_LT(latency, 5s);  // generous for a loaded host; typically a few ms
  EXPECT_TRUE(report.cancelled);
  EXPECT_TRUE(out.empty());
  const auto& stage = report.stages[1];
  // The bodies cut short: cancelled, except that a body which returned its
  // value just as the stop arrived may have passed it on (the sink then
  // counts it as cancelled: `out` stays empty and the counters balance).
  EXPECT_GE(stage.cancelled + stage.items_out, static_cast<std::uint64_t>(concurrency));
  EXPECT_EQ(stage.failed, 0u);
  expect_chained(report);
}

TEST(Cancellation, BodiesThatThrowWhenStoppedCountAsCancelledNotFailed) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  std::atomic<int> started{0};
  auto slow = [&](int, std::stop_token stop) -> sluice::task<int> {
    ++started;
    if (!co_await sluice::sleep_for(1h, stop)) throw std::runtime_error("cancelled");
    co_return 0;
  };
  auto [report, latency] = run_and_stop(
      rt,
      sluice::from(forever()) |
          sluice::async_map(slow, {.concurrency = 4, .ordered = true, .on_error = sluice::skip_to(dead.sink())}) |
          sluice::for_each([](int) {}),
      started, 4);
  EXPECT_LT(latency, 5s);
  EXPECT_EQ(dead.size(), 0u);  // a cancelled item is not a dead letter
  EXPECT_EQ(report.stages[1].failed, 0u);
  EXPECT_GE(report.stages[1].cancelled, 4u);
  expect_chained(report);
}

TEST(Cancellation, ForEachAndCustomStagesGetTheRunsToken) {
  sluice::runtime rt({.threads = 2});
  struct waiter {
    std::atomic<int>* started;
    sluice::task<int> process(int x, std::stop_token stop) {
      ++*started;
      co_await sluice::sleep_for(1h, stop);
      co_return x;
    }
  };
  std::atomic<int> started{0};
  auto [report, latency] = run_and_stop(rt,
                                        sluice::from(forever()) | sluice::stage(waiter{&started}, {.concurrency = 4}) |
                                            sluice::for_each([](int, std::stop_token stop) -> sluice::task<void> {
                                              co_await sluice::sleep_for(1h, stop);
                                            }),
                                        started, 4);
  EXPECT_LT(latency, 5s);
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(report.stages[1].failed + report.stages[2].failed, 0u);
  expect_chained(report);

  // A sink waiting on the token: the custom stage passes items straight on.
  std::atomic<int> sunk{0};
  auto [sink_report, sink_latency] =
      run_and_stop(rt, sluice::from(forever()) | sluice::map([](int x, std::stop_token stop) {
                         return stop.stop_possible() ? x : -1;
                       }) | sluice::for_each([&](int x, std::stop_token stop) -> sluice::task<void> {
                         EXPECT_GE(x, 0);  // map got a real token
                         ++sunk;
                         co_await sluice::sleep_for(1h, stop);
                       }),
                   sunk, 1);
  EXPECT_LT(sink_latency, 5s);
  EXPECT_GE(sink_report.stages[2].cancelled, 1u);
  EXPECT_EQ(sink_report.stages[2].failed, 0u);
  expect_chained(sink_report);
}

TEST(Cancellation, AFailFastErrorStopsBodiesWaitingOnTheToken) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> started{0};
  auto slow = [&](int x, std::stop_token stop) -> sluice::task<int> {
    ++started;
    co_await sluice::sleep_for(1h, stop);
    co_return x;
  };
  // Item 0 passes at once and fails in the sink while the others wait an hour.
  auto quick_first = [&](int x, std::stop_token stop) -> sluice::task<int> {
    if (x == 0) {
      wait_for(started, 4);
      co_return x;
    }
    co_return co_await slow(x, stop);
  };
  auto started_at = std::chrono::steady_clock::now();
  try {
    sluice::run(rt, sluice::from(iota(100)) | sluice::async_map(quick_first, {.concurrency = 5}) |
                        sluice::for_each([](int) { throw std::runtime_error("sink failed"); }));
    ADD_FAILURE() << "run did not throw";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_index(), 2u);
    const auto& r = e.report();
    EXPECT_EQ(r.stages[2].failed, 1u);
    EXPECT_EQ(r.stages[1].failed, 0u);
    EXPECT_GE(r.stages[1].cancelled, 4u);  // the bodies the failure cut short
    expect_chained(r);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started_at, 60s);
}

TEST(Retries, SyncAndAsyncStagesCountTheirRetries) {
  sluice::runtime rt({.threads = 2});
  std::mutex m;
  std::vector<int> seen;  // items that already failed once
  auto fails_first_time = [&](int x) {
    std::lock_guard lock(m);
    if (std::find(seen.begin(), seen.end(), x) == seen.end()) {
      seen.push_back(x);
      throw std::runtime_error("flaky");
    }
    return x;
  };
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(iota(40)) |
                                    sluice::map(fails_first_time, {.on_error = sluice::retry({.max_attempts = 2})}) |
                                    sluice::parallel_map([](int x) { return x; }) | sluice::to_vector(out));
  EXPECT_EQ(out.size(), 40u);
  EXPECT_EQ(report.stages[1].retries, 40u);
  EXPECT_EQ(report.stages[2].retries, 0u);
  EXPECT_EQ(report.stages[1].failed, 0u);
  EXPECT_NE(report.describe().find("retries"), std::string::npos);
  expect_chained(report);
}

}  // namespace
