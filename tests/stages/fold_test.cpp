// The aggregating sinks: parallel fold, count_by, group_by, top_k, reduce.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_support.hpp"

using sluice_test::iota;
using sluice_test::scale;

namespace {

// An accumulator that counts its copies: the parallel fold must never copy one.
struct copy_counting_acc {
  static inline std::atomic<int> copies{0};
  long sum = 0;
  std::vector<int> seen;
  copy_counting_acc() = default;
  copy_counting_acc(const copy_counting_acc& o) : sum(o.sum), seen(o.seen) { copies.fetch_add(1); }
  copy_counting_acc(copy_counting_acc&&) noexcept = default;
  copy_counting_acc& operator=(const copy_counting_acc& o) {
    copies.fetch_add(1);
    sum = o.sum;
    seen = o.seen;
    return *this;
  }
  copy_counting_acc& operator=(copy_counting_acc&&) noexcept = default;
};

sluice::generator<int> ones() {
  for (;;) co_yield 1;
}

}  // namespace

TEST(Fold, ParallelFoldSeesEveryItemOnceAndNeverCopiesTheAccumulator) {
  sluice::runtime rt({.threads = 4});
  const std::size_t n = 200'000 / scale;
  copy_counting_acc::copies = 0;
  copy_counting_acc result;
  result.sum = 1000;  // the starting value is kept: folding adds to it
  auto report = sluice::run(rt, sluice::from(iota(n), {.chunk = 64}) |
                                    sluice::fold(
                                        result,
                                        [](copy_counting_acc& acc, int x) {
                                          acc.sum += x;
                                          acc.seen.push_back(x);
                                        },
                                        [](copy_counting_acc& acc, copy_counting_acc&& other) {
                                          acc.sum += other.sum;
                                          acc.seen.insert(acc.seen.end(), other.seen.begin(), other.seen.end());
                                        }));
  EXPECT_EQ(copy_counting_acc::copies.load(), 0);
  EXPECT_EQ(result.sum, 1000 + static_cast<long>(n) * static_cast<long>(n - 1) / 2);
  std::sort(result.seen.begin(), result.seen.end());
  ASSERT_EQ(result.seen.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(result.seen[i], static_cast<int>(i)) << "lost or duplicated item";
  sluice_test::expect_chained(report);
  EXPECT_EQ(report.stages.back().items_out, n);
}

TEST(Fold, UsesOneAccumulatorPerWorker) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> made{0};
  std::vector<int> merged_ids;
  auto p = sluice::from(iota(10'000), {.chunk = 16}) | sluice::fold(
                                                           merged_ids,
                                                           [&made](std::vector<int>& acc, int) {
                                                             if (acc.empty()) acc.push_back(made.fetch_add(1));
                                                           },
                                                           [](std::vector<int>& acc, std::vector<int>&& other) {
                                                             acc.insert(acc.end(), other.begin(), other.end());
                                                           },
                                                           {.workers = 3});
  EXPECT_NE(p.stages().back().parameters.find("workers 3"), std::string::npos);
  sluice::run(rt, std::move(p));
  // Each worker that received anything made exactly one accumulator.
  EXPECT_LE(merged_ids.size(), 3u);
  EXPECT_GE(merged_ids.size(), 1u);
  EXPECT_EQ(static_cast<std::size_t>(made.load()), merged_ids.size());
}

TEST(Fold, AThrowingOpFailsTheRunNamingTheStage) {
  sluice::runtime rt({.threads = 2});
  long total = 0;
  auto p = sluice::from(iota(1000)) | sluice::fold(
                                          total,
                                          [](long& acc, int x) {
                                            if (x == 500) throw std::runtime_error("bad item");
                                            acc += x;
                                          },
                                          [](long& acc, long&& other) { acc += other; }, {.name = "sum"});
  try {
    sluice::run(rt, std::move(p));
    FAIL() << "expected pipeline_error";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_EQ(e.stage_name(), "sum");
    EXPECT_EQ(e.report().stages.back().failed, 1u);
  }
}

TEST(Fold, CancellationStopsTheFoldAndKeepsWhatWasFolded) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  long total = 0;
  std::atomic<long> seen{0};
  auto p = sluice::from(ones()) | sluice::fold(
                                      total,
                                      [&](long& acc, int x) {
                                        acc += x;
                                        if (seen.fetch_add(1) == 10'000) stop.request_stop();
                                      },
                                      [](long& acc, long&& other) { acc += other; });
  auto report = sluice::run(rt, std::move(p), stop.get_token());
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(total, static_cast<long>(report.stages.back().items_out));
  sluice_test::expect_chained(report);
}

TEST(CountBy, CountsEveryKeyWithoutAllocatingLookupStrings) {
  sluice::runtime rt({.threads = 4});
  const std::size_t n = 100'000 / scale;
  std::vector<std::string> words;
  for (std::size_t i = 0; i < n; ++i) words.push_back("w" + std::to_string(i % 7));
  sluice::key_map<std::string, std::size_t> counts;
  counts["w0"] = 5;  // existing entries are added to
  auto report = sluice::run(
      rt, sluice::from(words) | sluice::count_by(counts, [](const std::string& w) { return std::string_view(w); }));
  ASSERT_EQ(counts.size(), 7u);
  std::size_t total = 0;
  for (const auto& [k, v] : counts) total += v;
  EXPECT_EQ(total, n + 5);
  EXPECT_EQ(counts["w1"], (n + 5) / 7);
  sluice_test::expect_chained(report);
}

TEST(CountBy, WorksWithAnOrderedMapAndIntegerKeys) {
  sluice::runtime rt({.threads = 2});
  std::map<int, long> counts;
  sluice::run(rt, sluice::from(iota(1000)) | sluice::count_by(counts, [](int x) { return x % 10; }));
  ASSERT_EQ(counts.size(), 10u);
  for (const auto& [k, v] : counts) EXPECT_EQ(v, 100) << k;
}

TEST(GroupBy, SumsAndCollectsPerKey) {
  sluice::runtime rt({.threads = 3});
  struct sale {
    std::string shop;
    double amount;
  };
  std::vector<sale> sales;
  for (int i = 0; i < 3000; ++i) sales.push_back({i % 3 == 0 ? "a" : "b", 1.5});
  sluice::key_map<std::string, double> totals;
  sluice::run(rt, sluice::from(sales) | sluice::group_by(
                                            totals, [](const sale& s) { return std::string_view(s.shop); },
                                            sluice::sum([](const sale& s) { return s.amount; })));
  EXPECT_DOUBLE_EQ(totals["a"], 1000 * 1.5);
  EXPECT_DOUBLE_EQ(totals["b"], 2000 * 1.5);

  std::map<int, std::vector<int>> groups;
  sluice::run(rt, sluice::from(iota(100)) | sluice::group_by(
                                                groups, [](int x) { return x % 2; }, sluice::collect()));
  ASSERT_EQ(groups.size(), 2u);
  auto evens = groups[0];
  std::sort(evens.begin(), evens.end());
  ASSERT_EQ(evens.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(evens[static_cast<std::size_t>(i)], 2 * i);
}

TEST(GroupBy, ACustomAggregateStartsNewKeysAtItsInit) {
  sluice::runtime rt({.threads = 2});
  std::map<int, int> minimum;
  sluice::run(rt, sluice::from(iota(1000)) | sluice::group_by(
                                                 minimum, [](int x) { return x % 4; },
                                                 sluice::aggregate(
                                                     1 << 30, [](int& m, int x) { m = std::min(m, x); },
                                                     [](int& m, int&& other) { m = std::min(m, other); })));
  ASSERT_EQ(minimum.size(), 4u);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(minimum[k], k);
}

TEST(GroupBy, AThrowingKeyFailsTheRun) {
  sluice::runtime rt({.threads = 2});
  std::map<int, std::size_t> counts;
  auto p = sluice::from(iota(100)) | sluice::count_by(counts, [](int x) {
             if (x == 42) throw std::invalid_argument("no key");
             return x;
           });
  EXPECT_THROW(sluice::run(rt, std::move(p)), sluice::pipeline_error);
}

TEST(TopK, KeepsTheLargestKeysLargestFirst) {
  sluice::runtime rt({.threads = 4});
  const std::size_t n = 50'000 / scale;
  std::vector<int> values(n);
  // A permutation of 0..n-1, so the expected top is unambiguous.
  for (std::size_t i = 0; i < n; ++i) values[i] = static_cast<int>((i * 7919) % n);
  std::vector<int> top;
  auto report = sluice::run(rt, sluice::from(values) | sluice::top_k(top, 5, [](int x) { return x; }));
  ASSERT_EQ(top.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(top[i], static_cast<int>(n - 1 - i));
  EXPECT_EQ(report.stages.back().items_out, n);
}

TEST(TopK, FromACountMapAndFewerItemsThanN) {
  sluice::runtime rt({.threads = 2});
  std::map<std::string, std::size_t> counts{{"a", 3}, {"b", 9}, {"c", 1}};
  std::vector<std::pair<std::string, std::size_t>> top;
  sluice::run(rt, sluice::from(counts) | sluice::top_k(top, 10, [](const auto& kv) { return kv.second; }));
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, "b");
  EXPECT_EQ(top[1].first, "a");
  EXPECT_EQ(top[2].first, "c");
  std::vector<std::pair<std::string, std::size_t>> none;
  sluice::run(rt, sluice::from(counts) | sluice::top_k(none, 0, [](const auto& kv) { return kv.second; }));
  EXPECT_TRUE(none.empty());
}

TEST(Reduce, IsTheParallelFoldForSmallValues) {
  sluice::runtime rt({.threads = 4});
  long total = 7;
  auto report =
      sluice::run(rt, sluice::from(iota(100'000)) | sluice::reduce(total, 0L, [](long a, long b) { return a + b; }));
  EXPECT_EQ(total, 7 + 100'000L * 99'999L / 2);
  EXPECT_EQ(report.stages.back().kind, "reduce");
}

TEST(SequentialFold, AppliesFnInOrder) {
  sluice::runtime rt({.threads = 2});
  std::string s;
  sluice::run(rt,
              sluice::from(iota(10)) | sluice::fold(s, [](std::string acc, int x) { return acc + std::to_string(x); }));
  EXPECT_EQ(s, "0123456789");
}
