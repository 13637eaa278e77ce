// The run report's metrics: latency histograms, source busy time, bytes,
// counters that add up, and the Prometheus text exposition.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/core/latency_histogram.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::iota;

namespace {

TEST(LatencyHistogram, BucketsTileEveryValueWithoutGaps) {
  using h = sluice::latency_histogram;
  EXPECT_EQ(h::bucket_low(0), 0u);
  for (std::size_t i = 0; i + 1 < h::bucket_count; ++i) {
    EXPECT_EQ(h::bucket_high(i) + 1, h::bucket_low(i + 1)) << i;
    EXPECT_EQ(h::bucket_of(h::bucket_low(i)), i);
    EXPECT_EQ(h::bucket_of(h::bucket_high(i)), i);
  }
  EXPECT_EQ(h::bucket_of(~std::uint64_t{0}), h::bucket_count - 1);
  // Each bucket spans at most a quarter of its lower bound (above 4 ns).
  for (std::size_t i = 4; i < h::bucket_count; ++i)
    EXPECT_LE(h::bucket_high(i) - h::bucket_low(i) + 1, h::bucket_low(i) / 4) << i;
}

TEST(LatencyHistogram, QuantilesAreWithinTheBucketErrorAndMaxIsExact) {
  sluice::latency_histogram hist;
  EXPECT_EQ(hist.summary().count, 0u);
  // 1..10000 microseconds: p50 = 5 ms, p90 = 9 ms, p99 = 9.9 ms.
  for (int us = 1; us <= 10'000; ++us) hist.record(std::chrono::microseconds(us));
  auto s = hist.summary();
  EXPECT_EQ(s.count, 10'000u);
  EXPECT_EQ(s.max, 10ms);
  auto near = [](std::chrono::nanoseconds got, std::chrono::nanoseconds want) {
    const double ratio = static_cast<double>(got.count()) / static_cast<double>(want.count());
    return ratio > 0.87 && ratio < 1.13;
  };
  EXPECT_TRUE(near(s.p50, 5ms)) << s.p50.count();
  EXPECT_TRUE(near(s.p90, 9ms)) << s.p90.count();
  EXPECT_TRUE(near(s.p99, 9900us)) << s.p99.count();
  EXPECT_LE(s.p99, s.max);
  EXPECT_EQ(s.sum, std::chrono::microseconds(10'000LL * 10'001 / 2));
  hist.record(-5ns);  // a clock that went backwards counts as 0
  EXPECT_EQ(hist.summary().count, 10'001u);
}

TEST(Metrics, AsyncStagesGetALatencyHistogramAndSourcesABusyTime) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(iota(200), {.chunk = 10}) |
                                    sluice::async_map(
                                        [](int x) -> sluice::task<int> {
                                          co_await sluice::sleep_for(x % 10 == 0 ? 20ms : 1ms);
                                          co_return x;
                                        },
                                        {.concurrency = 8}) |
                                    sluice::map([](int x) { return x; }) | sluice::to_vector(out));
  ASSERT_EQ(out.size(), 200u);
  const auto& l = report.stages[1].latency;
  EXPECT_EQ(l.count, 200u);
  EXPECT_GE(l.p50, 870us);  // a timer never fires early; 12.5% bucket error
  EXPECT_LE(l.p50, l.p90);
  EXPECT_LE(l.p90, l.p99);
  EXPECT_LE(l.p99, l.max);
  EXPECT_GE(l.max, 20ms);
  EXPECT_GE(l.p99, 17ms);  // 10% of the calls slept 20 ms (12.5% bucket error)
  EXPECT_EQ(report.stages[2].latency.count, 0u);
  EXPECT_GT(report.stages[0].busy_time.count(), 0);
  EXPECT_NE(report.describe().find("latency of #1 async_map"), std::string::npos);
  // Without retries an item's end-to-end latency is its one call's.
  const auto& e = report.stages[1].item_latency;
  EXPECT_EQ(e.count, 200u);
  EXPECT_GE(e.sum, l.sum);
  EXPECT_GE(e.max, 20ms);
  EXPECT_EQ(report.stages[2].item_latency.count, 0u);
  EXPECT_NE(report.describe().find("item latency of #1 async_map (retries included)"), std::string::npos);
}

void expect_valid_exposition(const std::string& text);

TEST(Metrics, ItemLatencyCoversEveryAttemptAndTheBackoffBetween) {
  sluice::runtime rt({.threads = 2});
  constexpr std::size_t n = 20;
  constexpr auto base = 5ms;
  std::mutex mutex;
  std::map<int, int> attempts;
  // Every item fails twice, then succeeds: three calls and two backoff sleeps each.
  auto flaky = [&](int x) -> sluice::task<int> {
    int k;
    {
      std::lock_guard lock(mutex);
      k = ++attempts[x];
    }
    co_await sluice::sleep_for(1ms);
    if (k <= 2) throw std::runtime_error("not yet");
    co_return x;
  };
  auto policy = sluice::retry({.max_attempts = 3, .base_delay = base, .jitter = 0});
  std::vector<int> out;
  auto report =
      sluice::run(rt, sluice::from(iota(n)) | sluice::async_map(flaky, {.concurrency = 4, .on_error = policy}) |
                          sluice::to_vector(out));
  ASSERT_EQ(out.size(), n);
  const auto& s = report.stages[1];
  EXPECT_EQ(s.retries, 2 * n);
  EXPECT_EQ(s.latency.count, 3 * n);   // per call
  EXPECT_EQ(s.item_latency.count, n);  // per item
  EXPECT_EQ(s.item_latency.count, s.items_out + s.failed + s.cancelled);
  // An item spans its three calls and two sleeps of at least `base` each
  // (a timer never fires early): a deterministic lower bound.
  EXPECT_GE(s.item_latency.sum, s.latency.sum + std::chrono::nanoseconds(base) * static_cast<std::int64_t>(2 * n));
  EXPECT_GE(s.item_latency.max, 2 * base + 3ms);
  EXPECT_TRUE(report.balanced()) << report.describe();
  const auto text = report.to_prometheus();
  expect_valid_exposition(text);
  EXPECT_NE(text.find("# TYPE sluice_stage_item_latency_seconds summary\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_stage_item_latency_seconds_count{"), std::string::npos);
}

TEST(Metrics, GeneratorSourceBusyTimeIncludesItsWaits) {
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(rt, sluice::from([](std::stop_token) -> sluice::async_generator<int> {
                                  for (int i = 0; i < 5; ++i) {
                                    co_await sluice::sleep_for(2ms);
                                    co_yield i;
                                  }
                                }) | sluice::for_each([](int) {}));
  EXPECT_GE(report.stages[0].busy_time, 10ms);
  EXPECT_EQ(report.stages[0].items_in, 5u);
}

TEST(Metrics, WriteJsonlCountsTheBytesItWrote) {
  sluice::runtime rt({.threads = 2});
  std::ostringstream os;
  auto report = sluice::run(rt, sluice::from(iota(1000)) | sluice::write_jsonl(os));
  EXPECT_EQ(report.stages[1].bytes, os.str().size());
  EXPECT_EQ(report.stages[0].bytes, 0u);
}

TEST(Metrics, RetriesFailuresAndCancellationsAddUp) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  std::atomic<int> calls{0};
  // Items divisible by 7 fail twice then succeed; items divisible by 11 (and
  // not by 7) always fail: three attempts, then a dead letter.
  std::map<int, int> attempts;
  std::mutex mutex;
  auto flaky = [&](int x) -> sluice::task<int> {
    calls.fetch_add(1);
    int n;
    {
      std::lock_guard lock(mutex);
      n = ++attempts[x];
    }
    if (x % 7 == 0 && n <= 2) throw std::runtime_error("flaky");
    if (x % 7 != 0 && x % 11 == 0) throw std::runtime_error("broken");
    co_return x;
  };
  auto policy = sluice::retry({.max_attempts = 3, .base_delay = 0ms, .jitter = 0}, sluice::skip_to(dead.sink()));
  std::vector<int> out;
  auto report =
      sluice::run(rt, sluice::from(iota(770)) | sluice::async_map(flaky, {.concurrency = 4, .on_error = policy}) |
                          sluice::to_vector(out));
  const auto& s = report.stages[1];
  const std::uint64_t sevens = 110, elevens = 70 - 10;  // 0..769: 110 multiples of 7, 70 of 11, 10 of 77
  EXPECT_EQ(s.failed, elevens);
  EXPECT_EQ(dead.size(), elevens);
  EXPECT_EQ(s.retries, 2 * sevens + 2 * elevens);
  EXPECT_EQ(s.items_out, 770 - elevens);
  EXPECT_EQ(s.latency.count, static_cast<std::uint64_t>(calls.load()));
  EXPECT_EQ(s.latency.count, s.items_in + s.retries);
  EXPECT_EQ(s.item_latency.count, s.items_in);  // every item finished: out, or failed after its last attempt
  EXPECT_TRUE(report.balanced()) << report.describe();
}

TEST(Metrics, ACancelledRunStaysBalancedInEveryStage) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<int> n{0};
  auto report = sluice::run(rt,
                            sluice::from(iota(100'000), {.chunk = 8}) |
                                sluice::async_map(
                                    [&](int x) -> sluice::task<int> {
                                      if (n.fetch_add(1) == 200) stop.request_stop();
                                      co_await sluice::sleep_for(50us);
                                      co_return x;
                                    },
                                    {.concurrency = 8}) |
                                sluice::map([](int x) { return x; }) | sluice::for_each([](int) {}),
                            stop.get_token());
  EXPECT_TRUE(report.cancelled);
  for (const auto& s : report.stages) EXPECT_TRUE(s.balanced()) << report.describe();
  std::uint64_t cancelled = 0;
  for (const auto& s : report.stages) cancelled += s.cancelled;
  EXPECT_GT(cancelled, 0u);
}

// A strict line-by-line reading of the text exposition format 0.0.4.
void expect_valid_exposition(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+-]+|NaN|[+-]Inf))");
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  std::set<std::string> typed;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      current = m[1];
      continue;
    }
    if (std::regex_match(line, m, type)) {
      EXPECT_EQ(m[1], current) << "TYPE after its HELP: " << line;
      EXPECT_TRUE(typed.insert(m[1]).second) << "one TYPE per family: " << line;
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "not a valid sample line: " << line;
    const std::string name = m[1];
    const bool in_family = name == current || name == current + "_sum" || name == current + "_count";
    EXPECT_TRUE(in_family) << name << " outside its family " << current;
  }
}

TEST(Prometheus, WritesValidExpositionWithEscapedLabels) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(
      rt, sluice::from(iota(100), {.name = "from \"db\"\nrow\\s"}) |
              sluice::async_map([](int x) -> sluice::task<int> { co_return x; }, {.name = "fetch\x1b[31m"}) |
              sluice::to_vector(out));
  const std::string text = report.to_prometheus();
  expect_valid_exposition(text);
  EXPECT_NE(text.find(R"(sluice_stage_items_in_total{stage="from \"db\"\nrow\\s",index="0",kind="source"} 100)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(sluice_stage_latency_seconds_count{stage="fetch)"), std::string::npos);
  EXPECT_NE(text.find(R"(,quantile="0.99"} )"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sluice_stage_latency_seconds summary\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_pipeline_cancelled 0\n"), std::string::npos);
}

TEST(Prometheus, SanitisesThePrefixIntoAMetricName) {
  sluice::pipeline_report report;
  report.stages.push_back({.name = "s", .kind = "source", .items_in = 3});
  auto text = report.to_prometheus("my-app 1.0");
  expect_valid_exposition(text);
  EXPECT_NE(text.find("my_app_1_0_stage_items_in_total{"), std::string::npos) << text;
  text = report.to_prometheus("9lives");
  expect_valid_exposition(text);
  EXPECT_NE(text.find("\n_9lives_stage_items_in_total{"), std::string::npos) << text;
  expect_valid_exposition(report.to_prometheus(""));
  // Invalid UTF-8 in a label value stays valid UTF-8 (U+FFFD).
  report.stages[0].name = "bad\xff";
  text = report.to_prometheus();
  EXPECT_NE(text.find("stage=\"bad\xef\xbf\xbd\""), std::string::npos);
}

}  // namespace
