// Memory-bounded backpressure: a stage's `.capacity_bytes` and run_options'
// limits in flight keep coarse items from piling up. Live bytes are measured
// with a counting allocator (every byte the items own), not RSS.
#include <gtest/gtest.h>

#include <sluice/sluice.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "heap_meter.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using sluice_test::expect_chained;

using sluice_test::blob;
using sluice_test::blob_size;
using sluice_test::heap_meter;
using sluice_test::peak_blobs;

constexpr long blobs = 200;

// Makes `blobs` blobs, counting them in `produced`.
sluice::generator<blob> make_blobs(std::atomic<long>& produced) {
  for (long i = 0; i < blobs; ++i) {  // NOLINT(modernize-loop-convert)
    blob b(blob_size);
    produced.fetch_add(1);
    co_yield std::move(b);
  }
}

// A sink whose first item waits until the source is far ahead (or two
// seconds passed): without a bound, everything piles up in its channel.
auto slow_start_sink(std::atomic<long>& produced, std::atomic<long>& consumed) {
  return [&produced, &consumed](const blob& b) {
    if (consumed.fetch_add(1) == 0) {
      const auto deadline = std::chrono::steady_clock::now() + 2s;
      while (produced.load() < blobs / 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(b.size(), blob_size);
  };
}

// For docs/pipeline.md's measured numbers.
void print_peak(const char* what) {
  std::cout << what << ": peak live " << static_cast<double>(heap_meter::peak.load()) / (1 << 20) << " MiB\n";
}

TEST(MemoryBounds, ItemBytesCountsStringAndVectorPayloads) {
  EXPECT_EQ(sluice::item_bytes(42), sizeof(int));
  EXPECT_EQ(sluice::item_bytes(std::string("short")), sizeof(std::string));
  std::string long_text(100, 'x');
  EXPECT_EQ(sluice::item_bytes(long_text), sizeof(std::string) + long_text.capacity() + 1);
  std::vector<int> numbers(10);
  EXPECT_EQ(sluice::item_bytes(numbers), sizeof(numbers) + numbers.capacity() * sizeof(int));
  std::vector<std::string> texts{long_text, "a"};
  EXPECT_EQ(sluice::item_bytes(texts),
            sizeof(texts) + texts.capacity() * sizeof(std::string) + texts[0].capacity() + 1);
}

TEST(MemoryBounds, WithoutABoundCoarseItemsPileUp) {
  // The control for the tests below: the same pipeline, no byte bound.
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  auto report = sluice::run(
      rt, sluice::from(make_blobs(produced), {.chunk = 1}) | sluice::for_each(slow_start_sink(produced, consumed)));
  EXPECT_EQ(consumed.load(), blobs);
  // Far more than any bounded run below holds (at most 10 blobs), even if
  // a loaded machine slowed the source down.
  EXPECT_GT(peak_blobs(), 16) << "the source ran ahead of the sink";
  print_peak("no bound");
  expect_chained(report);
}

TEST(MemoryBounds, CapacityBytesBoundsWhatWaitsForAStage) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  constexpr std::size_t bound = 8 * blob_size;
  auto p = sluice::from(make_blobs(produced), {.chunk = 1}) |
           sluice::for_each(slow_start_sink(produced, consumed), {.capacity_bytes = bound});
  EXPECT_NE(p.describe().find("capacity_bytes"), std::string::npos) << p.describe();
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(consumed.load(), blobs);
  // The channel holds at most `bound` bytes; the source's item being made
  // and the sink's item in hand come on top.
  EXPECT_LE(heap_meter::peak.load(), static_cast<long>(bound + 2 * blob_size)) << peak_blobs() << " blobs";
  print_peak("capacity_bytes 2 MiB");
  expect_chained(report);
}

TEST(MemoryBounds, AnItemLargerThanTheByteCapacityStillPassesAlone) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  auto report = sluice::run(rt, sluice::from(make_blobs(produced), {.chunk = 1}) |
                                    sluice::map([](blob b) { return b; }, {.capacity_bytes = blob_size / 4}) |
                                    sluice::for_each(slow_start_sink(produced, consumed), {.capacity_bytes = 1}));
  EXPECT_EQ(consumed.load(), blobs);  // no deadlock, nothing lost
  // One item per channel, one in the hands of each of the three stages.
  EXPECT_LE(peak_blobs(), 5) << peak_blobs();
  expect_chained(report);
}

// source | map | map | sink, each with its own channel, 3 channels in all.
sluice::pipeline three_channels(std::atomic<long>& produced, std::atomic<long>& consumed) {
  auto same = [](blob b) { return b; };
  return sluice::from(make_blobs(produced), {.chunk = 1}) | sluice::map(same, {.fuse = false}) |
         sluice::map(same, {.fuse = false}) | sluice::for_each(slow_start_sink(produced, consumed));
}

TEST(MemoryBounds, APipelineLimitInBytesBoundsEveryChannelTogether) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  constexpr std::size_t limit = 6 * blob_size;
  auto report = sluice::run(rt, three_channels(produced, consumed), {.max_bytes_in_flight = limit});
  EXPECT_EQ(consumed.load(), blobs);
  // The limit, plus one item in the hands of each of the four stages.
  EXPECT_LE(heap_meter::peak.load(), static_cast<long>(limit + 4 * blob_size)) << peak_blobs() << " blobs";
  print_peak("max_bytes_in_flight 1.5 MiB");
  expect_chained(report);
}

TEST(MemoryBounds, APipelineLimitInItemsBoundsEveryChannelTogether) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  auto report = sluice::run(rt, three_channels(produced, consumed), {.max_items_in_flight = 5});
  EXPECT_EQ(consumed.load(), blobs);
  EXPECT_LE(peak_blobs(), 5 + 4) << peak_blobs();
  expect_chained(report);
}

TEST(MemoryBounds, CancellingWakesASourceWaitingOnTheLimit) {
  sluice::runtime rt({.threads = 2});
  std::stop_source stop;
  std::atomic<long> produced{0};
  auto p = sluice::from(make_blobs(produced), {.chunk = 1}) | sluice::for_each([&](const blob&) {
             stop.request_stop();
             std::this_thread::sleep_for(20ms);
           });
  auto report = sluice::run(rt, std::move(p), {.max_items_in_flight = 1, .stop = stop.get_token()});
  EXPECT_TRUE(report.cancelled);
  EXPECT_LT(produced.load(), blobs);
  expect_chained(report);
}

}  // namespace
