#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice_test::expect_chained;
using sluice_test::iota;
using sluice_test::scale;

namespace {

sluice::generator<int> count_to(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
}

TEST(Source, CopiesAnLvalueRange) {
  sluice::runtime rt({.threads = 2});
  auto in = iota(1000);
  std::vector<int> out;
  auto p = sluice::from(in, {.chunk = 7}) | sluice::to_vector(out);
  in.assign(5, -1);  // the source holds its own copy
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(out, iota(1000));
  EXPECT_EQ(report.stages[0].items_in, 1000u);
  expect_chained(report);
}

// The footgun from(range) used to be: a flow over a helper's local vector.
sluice::flow<int> squares(int n) {
  std::vector<int> local;
  for (int i = 0; i < n; ++i) local.push_back(i * i);
  return sluice::from(local) | sluice::map([](int x) { return x; });
}

TEST(Source, AFlowOverAHelpersLocalVectorKeepsItsItems) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(rt, squares(300) | sluice::to_vector(out));
  ASSERT_EQ(out.size(), 300u);
  EXPECT_EQ(out[299], 299 * 299);
  expect_chained(report);
}

TEST(Source, BorrowsOnlyWhenAskedTo) {
  sluice::runtime rt({.threads = 2});
  // Strings, so an item moved out of the borrowed vector would be seen empty.
  std::vector<std::string> in{"a", "b"};
  std::vector<std::string> by_ref, by_std_ref, by_cref;
  auto a = sluice::from_ref(in) | sluice::to_vector(by_ref);
  auto b = sluice::from(std::ref(in), {.chunk = 1}) | sluice::to_vector(by_std_ref);
  auto c = sluice::from(std::cref(in)) | sluice::to_vector(by_cref);
  in.push_back("c");  // seen by the borrowing sources when they run
  sluice::run(rt, std::move(a));
  sluice::run(rt, std::move(b));
  sluice::run(rt, std::move(c));
  EXPECT_EQ(by_ref, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(by_std_ref, by_ref);
  EXPECT_EQ(by_cref, by_ref);
  EXPECT_EQ(in, (std::vector<std::string>{"a", "b", "c"}));  // borrowed items are copied, never moved out
}

TEST(Source, MovesItemsOutOfAnOwnedRange) {
  sluice::runtime rt({.threads = 2});
  std::vector<std::unique_ptr<int>> in;
  for (int i = 0; i < 100; ++i) in.push_back(std::make_unique<int>(i));
  std::vector<std::unique_ptr<int>> out;
  sluice::run(rt, sluice::from(std::move(in)) | sluice::to_vector(out));
  ASSERT_EQ(out.size(), 100u);
  EXPECT_EQ(*out[42], 42);
}

TEST(Source, IteratesAGeneratorCoroutineLazily) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  sluice::run(rt, sluice::from(count_to(500)) | sluice::to_vector(out));
  EXPECT_EQ(out, iota(500));
}

TEST(Source, ReceivesFromAChannelUntilItCloses) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(16);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(tx.send_blocking(i));
  });
  std::vector<int> out;
  sluice::run(rt, sluice::from(std::move(rx)) | sluice::to_vector(out));
  producer.join();
  EXPECT_EQ(out, iota(300));
}

TEST(Map, TransformsInOrder) {
  sluice::runtime rt({.threads = 2});
  std::vector<std::string> out;
  sluice::run(
      rt, sluice::from(iota(300)) | sluice::map([](int x) { return std::to_string(x * 2); }) | sluice::to_vector(out));
  ASSERT_EQ(out.size(), 300u);
  EXPECT_EQ(out[150], "300");
}

TEST(Filter, CountsRejectedItemsAsDropped) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(
      rt, sluice::from(iota(1000)) | sluice::filter([](int x) { return x % 3 == 0; }) | sluice::to_vector(out));
  EXPECT_EQ(out.size(), 334u);
  EXPECT_EQ(report.stages[1].dropped, 666u);
  EXPECT_EQ(report.stages[1].items_out, 334u);
  expect_chained(report);
}

TEST(Inspect, SeesEveryItemAndPassesItOn) {
  sluice::runtime rt({.threads = 2});
  long seen = 0;
  std::vector<int> out;
  sluice::run(rt, sluice::from(iota(100)) | sluice::inspect([&](const int& x) { seen += x; }) | sluice::to_vector(out));
  EXPECT_EQ(seen, 4950);
  EXPECT_EQ(out, iota(100));
}

TEST(FlatMap, EmitsEveryElementAndCountsInputs) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(iota(100)) | sluice::flat_map([](int x) {
                                  return std::vector<int>(static_cast<std::size_t>(x % 4), x);
                                }) | sluice::to_vector(out));
  EXPECT_EQ(out.size(), 150u);  // 25 * (0 + 1 + 2 + 3)
  EXPECT_EQ(report.stages[1].items_out, 100u);
  EXPECT_EQ(report.stages[1].emitted, 150u);
  expect_chained(report);
}

// Counts its copies, so a test can tell elements moved from elements copied.
struct copy_counted {
  static inline std::atomic<int> copies{0};
  int value = 0;
  explicit copy_counted(int v) : value(v) {}
  copy_counted(const copy_counted& other) : value(other.value) { ++copies; }
  copy_counted(copy_counted&&) noexcept = default;
  copy_counted& operator=(const copy_counted& other) {
    value = other.value;
    ++copies;
    return *this;
  }
  copy_counted& operator=(copy_counted&&) noexcept = default;
  ~copy_counted() = default;
};

TEST(FlatMap, MovesTheElementsOfAContainerItReturnsByValue) {
  sluice::runtime rt({.threads = 2});
  std::vector<std::unique_ptr<int>> owners;  // move-only elements: a copy would not compile
  sluice::run(rt, sluice::from(iota(50)) | sluice::flat_map([](int x) {
                    std::vector<std::unique_ptr<int>> pair;
                    pair.push_back(std::make_unique<int>(x));
                    pair.push_back(std::make_unique<int>(-x));
                    return pair;
                  }) | sluice::to_vector(owners));
  ASSERT_EQ(owners.size(), 100u);
  EXPECT_EQ(*owners[98], 49);
  EXPECT_EQ(*owners[99], -49);

  copy_counted::copies = 0;
  std::vector<copy_counted> out;
  sluice::run(rt, sluice::from(iota(50)) | sluice::flat_map([](int x) {
                    std::vector<copy_counted> three;
                    for (int k = 0; k < 3; ++k) three.emplace_back(x);
                    return three;
                  }) | sluice::to_vector(out));
  EXPECT_EQ(out.size(), 150u);
  EXPECT_EQ(copy_counted::copies.load(), 0);
}

TEST(FlatMap, CopiesTheElementsOfAViewAndLeavesTheStorageItShowsIntact) {
  sluice::runtime rt({.threads = 2});
  std::vector<std::string> words = {"alpha", "be", "gamma"};
  std::vector<std::string> out;
  // A span returned by value: an rvalue, but its elements are the caller's strings.
  sluice::run(rt, sluice::from(iota(2)) | sluice::flat_map([&words](int) {
                    return std::span<std::string>(words).subspan(1);
                  }) | sluice::to_vector(out));
  EXPECT_EQ(out, (std::vector<std::string>{"be", "gamma", "be", "gamma"}));
  EXPECT_EQ(words, (std::vector<std::string>{"alpha", "be", "gamma"}));
}

TEST(Batch, GroupsBySizeAndUnbatchRestoresTheItems) {
  sluice::runtime rt({.threads = 2});
  std::vector<std::vector<int>> batches;
  sluice::run(rt, sluice::from(iota(1003)) | sluice::batch(100) | sluice::to_vector(batches));
  ASSERT_EQ(batches.size(), 11u);
  EXPECT_EQ(batches.back().size(), 3u);
  std::vector<int> flat;
  auto report =
      sluice::run(rt, sluice::from(iota(1003)) | sluice::batch(100) | sluice::unbatch() | sluice::to_vector(flat));
  EXPECT_EQ(flat, iota(1003));
  expect_chained(report);
}

TEST(Batch, ClosesAPartialBatchAfterMaxWait) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(16);
  auto [btx, brx] = sluice::channel<std::vector<int>>(16);
  // Both items are queued before the run starts: sent after it, a slow
  // machine (ASan, two suites at once) let the timer close a batch of one
  // between the two sends.
  ASSERT_TRUE(tx.send_blocking(1));
  ASSERT_TRUE(tx.send_blocking(2));
  std::thread runner([&, rx = std::move(rx), btx = std::move(btx)]() mutable {
    sluice::run(rt, sluice::from(std::move(rx)) | sluice::batch(1000, 20ms) | sluice::to_channel(std::move(btx)));
  });
  // The batch can only arrive through the timer: the source stays open.
  auto first = brx.recv_blocking();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, (std::vector<int>{1, 2}));
  tx.close();
  runner.join();
}

TEST(AsyncMap, ProcessesEveryItemWithBoundedConcurrency) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> in_flight{0}, peak{0};
  auto fetch = [&](int x) -> sluice::task<int> {
    int now = ++in_flight;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    co_await sluice::sleep_for(std::chrono::microseconds(x % 50));
    --in_flight;
    co_return x + 1;
  };
  std::vector<int> out;
  auto report =
      sluice::run(rt, sluice::from(iota(2000)) | sluice::async_map(fetch, {.concurrency = 8}) | sluice::to_vector(out));
  std::sort(out.begin(), out.end());
  auto expected = iota(2000);
  for (auto& x : expected) ++x;
  EXPECT_EQ(out, expected);
  EXPECT_LE(peak.load(), 8);
  EXPECT_GT(peak.load(), 1);
  expect_chained(report);
}

// A source sends its items in one chunk: every worker must still get one.
// Each call waits (up to a generous deadline) until `concurrency` calls run
// at once; a stage that worked through the chunk one item at a time would
// never get there.
TEST(AsyncMap, UnorderedKeepsEveryWorkerBusyWithItemsFromOneChunk) {
  sluice::runtime rt({.threads = 2});
  constexpr int concurrency = 4;
  std::atomic<int> running{0}, peak{0};
  auto call = [&](int x, std::stop_token stop) -> sluice::task<int> {
    int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (peak.load() < concurrency && std::chrono::steady_clock::now() < deadline)
      if (!co_await sluice::sleep_for(1ms, stop)) break;
    --running;
    co_return x;
  };
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(iota(8), {.chunk = 8}) |
                                    sluice::async_map(call, {.concurrency = concurrency}) | sluice::to_vector(out));
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, iota(8));
  EXPECT_EQ(peak.load(), concurrency);
  expect_chained(report);
}

// Random delays: some items hop through the arena a few times, some sleep.
sluice::task<int> jitter(int x) {
  thread_local std::minstd_rand rng(std::random_device{}());
  int hops = static_cast<int>(rng() % 4);
  for (int i = 0; i < hops; ++i) co_await sluice::runtime::current()->schedule();
  if (rng() % 64 == 0) co_await sluice::sleep_for(std::chrono::microseconds(rng() % 200));
  co_return x;
}

TEST(AsyncMap, OrderedOutputEqualsInputOrderUnderRandomDelays) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 100'000 / scale;
  std::vector<int> out;
  auto report =
      sluice::run(rt, sluice::from(iota(n)) | sluice::async_map(jitter, {.concurrency = 32, .ordered = true}) |
                          sluice::to_vector(out));
  EXPECT_EQ(out, iota(n));
  expect_chained(report);
}

TEST(AsyncMap, UnorderedOutputIsAPermutation) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 20'000 / scale;
  std::vector<int> out;
  sluice::run(rt, sluice::from(iota(n)) | sluice::async_map(jitter, {.concurrency = 32}) | sluice::to_vector(out));
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, iota(n));
}

TEST(ParallelMap, OrderedOutputEqualsInputOrder) {
  sluice::runtime rt({.threads = 2});
  const std::size_t n = 100'000 / scale;
  std::vector<long> out;
  auto report = sluice::run(
      rt, sluice::from(iota(n)) | sluice::parallel_map([](int x) { return 3L * x; }, {.batch = 100, .ordered = true}) |
              sluice::to_vector(out));
  ASSERT_EQ(out.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 3L * static_cast<long>(i));
  expect_chained(report);
}

TEST(ParallelMap, UnorderedHandlesNonDefaultConstructibleResults) {
  struct boxed {
    explicit boxed(int v) : value(v) {}
    int value;
  };
  sluice::runtime rt({.threads = 2});
  std::vector<boxed> out;
  sluice::run(rt,
              sluice::from(iota(5000)) | sluice::parallel_map([](int x) { return boxed(x); }) | sluice::to_vector(out));
  std::vector<int> values;
  for (auto& b : out) values.push_back(b.value);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, iota(5000));
}

TEST(ParallelMap, OrderedAfterUnorderedAsyncMapKeepsAsyncOrder) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  sluice::run(rt, sluice::from(iota(5000)) | sluice::async_map(jitter, {.concurrency = 16, .ordered = true}) |
                      sluice::parallel_map([](int x) { return x; }, {.ordered = true}) | sluice::to_vector(out));
  EXPECT_EQ(out, iota(5000));
}

TEST(Sinks, ForEachFoldAndReduce) {
  sluice::runtime rt({.threads = 2});
  long sum = 0;
  sluice::run(rt, sluice::from(iota(1000)) | sluice::for_each([&](int x) { sum += x; }));
  EXPECT_EQ(sum, 499500);
  long folded = 0;
  sluice::run(rt, sluice::from(iota(1000)) | sluice::fold(folded, [](long acc, int x) { return acc + x; }));
  EXPECT_EQ(folded, 499500);
  long reduced = 0;
  sluice::run(rt, sluice::from(iota(100'000)) | sluice::reduce(reduced, 0L, [](long a, long b) { return a + b; }));
  EXPECT_EQ(reduced, 4999950000L);
}

TEST(Sinks, ForEachAcceptsAnAsyncFunction) {
  sluice::runtime rt({.threads = 2});
  std::atomic<int> count{0};
  auto report = sluice::run(rt, sluice::from(iota(100)) | sluice::for_each([&](int) -> sluice::task<void> {
                                  co_await sluice::sleep_for(10us);
                                  ++count;
                                }));
  EXPECT_EQ(count.load(), 100);
  expect_chained(report);
}

TEST(Sinks, ToChannelDeliversAndCloses) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(8);
  std::vector<int> got;
  std::thread reader([&, rx = std::move(rx)]() mutable {
    for (int v : rx) got.push_back(v);
  });
  sluice::run(rt, sluice::from(iota(500)) | sluice::to_channel(std::move(tx)));
  reader.join();  // ends only because the sink closed the channel
  EXPECT_EQ(got, iota(500));
}

TEST(Sinks, WriteJsonlWritesOneDocumentPerLine) {
  sluice::runtime rt({.threads = 2});
  std::ostringstream os;
  std::vector<std::string> words{"a", "b\"c"};
  sluice::run(rt, sluice::from(words) | sluice::write_jsonl(os));
  EXPECT_EQ(os.str(), "\"a\"\n\"b\\\"c\"\n");
  std::ostringstream nums;
  sluice::run(
      rt, sluice::from(iota(3)) | sluice::write_jsonl(nums, [](int x) { return "{\"n\":" + std::to_string(x) + "}"; }));
  EXPECT_EQ(nums.str(), "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
}

struct doubler {
  static constexpr const char* name = "doubler";
  int process(int x) const { return 2 * x; }
};
struct async_doubler {
  sluice::task<int> process(int x) const { co_return 2 * x; }
};
struct pair_sums {
  std::vector<int> process_batch(std::vector<int>& items) const {
    std::vector<int> out;
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) out.push_back(items[i] + items[i + 1]);
    return out;
  }
};

TEST(CustomStage, SyncAsyncAndBatchFormsRun) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> a, b, c;
  auto report = sluice::run(rt, sluice::from(iota(100)) | doubler{} | sluice::to_vector(a));
  EXPECT_EQ(report.stages[1].name, "doubler");
  EXPECT_EQ(a[10], 20);
  sluice::run(rt, sluice::from(iota(100)) | sluice::stage(async_doubler{}, {.ordered = true}) | sluice::to_vector(b));
  EXPECT_EQ(b, a);
  auto batched = sluice::run(rt, sluice::from(iota(100), {.chunk = 10}) | pair_sums{} | sluice::to_vector(c));
  long total = 0;
  for (int x : c) total += x;
  EXPECT_EQ(total, 4950);
  expect_chained(batched);
}

TEST(Run, IsAwaitableInsideACoroutine) {
  sluice::runtime rt({.threads = 2});
  auto body = [&]() -> sluice::task<std::size_t> {
    std::vector<int> out;
    // Built outside the co_await expression: g++ 12 mishandles temporaries
    // with default arguments inside co_await (it frees them twice).
    auto p = sluice::from(iota(100)) | sluice::to_vector(out);
    auto report = co_await sluice::run_async(rt, std::move(p));
    co_return out.size() + report.stages.size();
  };
  EXPECT_EQ(rt.block_on(body()), 102u);
}

}  // namespace

namespace protocol_test {

// A new built-in-style stage is this much: output, check, run; stage_base
// supplies the tag, prepare (the retry copy check), info, capacity and
// output_chunk.
class negate_stage : public sluice::detail::stage_base<negate_stage> {
 public:
  template <typename In>
  using output = In;
  explicit negate_stage(sluice::stage_options options = {}) : stage_base(std::move(options), "negate") {}
  template <typename In>
  static constexpr bool check() {
    constexpr bool ok = std::is_arithmetic_v<In>;
    static_assert(ok, "negate: arithmetic items only");
    return ok;
  }
  template <typename In>
  sluice::task<void> run(sluice::detail::stage_io<In, In>& io) {
    while (auto in = co_await io.recv()) {
      for (auto& x : in->items) x = -x;
      if (!co_await io.send(in->items, in->items.size())) co_return;
    }
  }
};

using sluice::detail::stage_protocol;
static_assert(stage_protocol<negate_stage, int>);
static_assert(stage_protocol<decltype(sluice::map([](int x) { return x; })), int>);
static_assert(stage_protocol<decltype(sluice::async_map([](int x) -> sluice::task<int> { co_return x; })), int>);
static_assert(stage_protocol<decltype(sluice::parallel_map([](int x) { return x; })), int>);
static_assert(stage_protocol<decltype(sluice::filter([](int) { return true; })), int>);
static_assert(stage_protocol<decltype(sluice::batch(4)), int>);
static_assert(stage_protocol<decltype(sluice::for_each([](int) {})), int>);

TEST(StageProtocol, AStageDerivedFromStageBaseRunsWithTheBuiltIns) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto p = sluice::from(iota(100)) | negate_stage({.name = "flip"}) | sluice::to_vector(out);
  EXPECT_NE(p.describe().find("negate \"flip\""), std::string::npos);
  auto report = sluice::run(rt, std::move(p));
  ASSERT_EQ(out.size(), 100u);
  EXPECT_EQ(out[7], -7);
  expect_chained(report);
}

}  // namespace protocol_test
