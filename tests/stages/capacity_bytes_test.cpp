// `.capacity_bytes` on every stage that has an input channel a user would
// bound: batch, to_channel, custom stages, the merge join, the first stage
// of a broadcast branch or partition lane, and the limits in flight across
// a fan-out. Each bounded run is checked against live bytes (counted by the
// items, not RSS), beside a control run without the bound that piles up.
#include <gtest/gtest.h>

#include <sluice/sluice.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "heap_meter.hpp"
#include "test_support.hpp"

namespace {

using sluice_test::blob;
using sluice_test::blob_size;
using sluice_test::expect_chained;
using sluice_test::heap_meter;
using sluice_test::peak_blobs;
using sluice_test::wait_for_pile;

constexpr long blobs = 160;
constexpr std::size_t bound = 8 * blob_size;

sluice::generator<blob> make_blobs(std::atomic<long>& produced, long count = blobs) {
  for (long i = 0; i < count; ++i) {
    blob b(blob_size);
    produced.fetch_add(1);
    co_yield std::move(b);
  }
}

// The first item waits for a pile-up (or for the source to be held back).
auto slow_start(std::atomic<long>& produced, std::atomic<long>& consumed, long target = blobs / 2) {
  return [&produced, &consumed, target](const blob& b) {
    if (consumed.fetch_add(1) == 0) wait_for_pile(produced, target);
    EXPECT_EQ(b.size(), blob_size);
  };
}

// ---------------------------------------------------------------- batch --

// source | batch(4) | to_channel(1 item) read by a thread that starts late.
long batch_peak(std::size_t capacity_bytes) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0};
  auto [tx, rx] = sluice::channel<std::vector<blob>>(1);
  long received = 0;
  std::thread reader([&, rx = rx]() mutable {
    wait_for_pile(produced, blobs / 2);
    while (auto batch = rx.recv_blocking()) received += static_cast<long>(batch->size());
  });
  auto p = sluice::from(make_blobs(produced), {.chunk = 1}) | sluice::batch(4, {}, {.capacity_bytes = capacity_bytes}) |
           sluice::to_channel(tx, {.capacity = 1});
  auto report = sluice::run(rt, std::move(p));
  reader.join();
  EXPECT_EQ(received, blobs);
  expect_chained(report);
  return peak_blobs();
}

TEST(CapacityBytes, BatchBoundsItsInputInBytes) {
  const long unbounded = batch_peak(0);
  EXPECT_GE(unbounded, blobs / 3) << "control: without a bound the batch's input piles up";
  const long bounded = batch_peak(bound);
  // The bound (8), the open batch (4), to_channel's input (2 batches), the
  // one in its hands and the channel's (1 batch each), the reader's batch
  // and the source's item: at most 8 + 4 + 8 + 4 + 4 + 4 + 1.
  EXPECT_LE(bounded, 33) << "unbounded: " << unbounded;
}

TEST(CapacityBytes, BatchShowsTheBoundInDescribe) {
  std::vector<std::vector<int>> out;
  auto p = sluice::from(sluice_test::iota(3)) | sluice::batch(2, {}, {.capacity_bytes = 4096}) | sluice::to_vector(out);
  EXPECT_NE(p.describe().find("capacity_bytes 4096"), std::string::npos) << p.describe();
}

// ----------------------------------------------------------- to_channel --

long to_channel_peak(std::size_t capacity_bytes) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0};
  auto [tx, rx] = sluice::channel<blob>(1);
  long received = 0;
  std::thread reader([&, rx = rx]() mutable {
    wait_for_pile(produced, blobs / 2);
    while (auto b = rx.recv_blocking()) ++received;
  });
  auto report = sluice::run(rt, sluice::from(make_blobs(produced), {.chunk = 1}) |
                                    sluice::to_channel(tx, {.capacity_bytes = capacity_bytes}));
  reader.join();
  EXPECT_EQ(received, blobs);
  expect_chained(report);
  return peak_blobs();
}

TEST(CapacityBytes, ToChannelBoundsItsInputInBytes) {
  const long unbounded = to_channel_peak(0);
  EXPECT_GE(unbounded, blobs / 3) << "control";
  const long bounded = to_channel_peak(bound);
  // The bound, the item in to_channel's hands, the channel's, the reader's and the source's.
  EXPECT_LE(bounded, 8 + 4) << "unbounded: " << unbounded;
}

// -------------------------------------------------------- custom stages --

// A custom stage that waits for a pile-up before its first item.
struct slow_measure {
  std::atomic<long>* produced = nullptr;
  std::atomic<long>* consumed = nullptr;
  std::size_t process(blob b) const {
    if (consumed->fetch_add(1) == 0) wait_for_pile(*produced, blobs / 2);
    return b.size();
  }
};
// The same, declaring its bound itself.
struct bounded_measure : slow_measure {
  static constexpr std::size_t capacity_bytes = bound;
};

template <typename S>
S measuring(std::atomic<long>& produced, std::atomic<long>& consumed) {
  S s{};
  s.produced = &produced;
  s.consumed = &consumed;
  return s;
}

template <typename S>
long custom_peak(sluice::custom_stage_options options) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  std::vector<std::size_t> sizes;
  auto p = sluice::from(make_blobs(produced), {.chunk = 1}) | sluice::stage(measuring<S>(produced, consumed), options) |
           sluice::to_vector(sizes);
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(sizes.size(), static_cast<std::size_t>(blobs));
  expect_chained(report);
  return peak_blobs();
}

TEST(CapacityBytes, CustomStagesTakeTheBoundAsAnOptionOrFromTheStruct) {
  const long unbounded = custom_peak<slow_measure>({});
  EXPECT_GE(unbounded, blobs / 3) << "control";
  // The bound, the stage's item and the source's.
  EXPECT_LE(custom_peak<slow_measure>({.capacity_bytes = bound}), 8 + 2) << "unbounded: " << unbounded;
  EXPECT_LE(custom_peak<bounded_measure>({}), 8 + 2) << "unbounded: " << unbounded;
  std::vector<std::size_t> sizes;
  std::atomic<long> a{0}, b{0};
  auto p = sluice::from(make_blobs(a), {.chunk = 1}) | measuring<bounded_measure>(a, b) | sluice::to_vector(sizes);
  EXPECT_NE(p.describe().find("capacity_bytes " + std::to_string(bound)), std::string::npos) << p.describe();
}

// ------------------------------------------------------------ topologies --

long merge_peak(std::size_t capacity_bytes) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0};
  auto p =
      sluice::merge({.capacity_bytes = capacity_bytes}, sluice::from(make_blobs(produced, blobs / 2), {.chunk = 1}),
                    sluice::from(make_blobs(produced, blobs / 2), {.chunk = 1})) |
      sluice::for_each(slow_start(produced, consumed), {.capacity = 1});
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(consumed.load(), blobs);
  EXPECT_TRUE(report.balanced()) << report.describe();
  return peak_blobs();
}

TEST(CapacityBytes, AMergeBoundsWhatAllItsInputsHaveWaitingAtTheJoin) {
  const long unbounded = merge_peak(0);
  EXPECT_GE(unbounded, blobs / 3) << "control";
  // The bound across both inputs, a chunk in each join coroutine (2), the
  // sink's input (2) and hands (1), each source's item (2).
  EXPECT_LE(merge_peak(bound), 8 + 2 + 2 + 1 + 2) << "unbounded: " << unbounded;
}

// from | broadcast(fast sink, slow sink [capacity_bytes]): the node's sends
// into a branch go through that branch's bound.
long broadcast_peak(std::size_t branch_bytes, sluice::run_options options = {}) {
  sluice::runtime rt({.threads = 2});
  heap_meter::reset();
  std::atomic<long> produced{0}, consumed{0}, fast{0};
  auto p = sluice::from(make_blobs(produced), {.chunk = 1}) |
           sluice::broadcast({.capacity = 1}, sluice::for_each([&](const blob&) { ++fast; }, {.capacity = 2}),
                             sluice::for_each(slow_start(produced, consumed), {.capacity_bytes = branch_bytes}));
  auto report = sluice::run(rt, std::move(p), std::move(options));
  EXPECT_EQ(consumed.load(), blobs);
  EXPECT_EQ(fast.load(), blobs);
  EXPECT_TRUE(report.balanced()) << report.describe();
  return peak_blobs();
}

TEST(CapacityBytes, ABroadcastBranchBoundsItsInputInBytes) {
  const long unbounded = broadcast_peak(0);
  EXPECT_GE(unbounded, blobs / 3) << "control";
  // The bound, the node's input (2) and its chunk plus copy (2), the fast
  // sink's input (2), each sink's item (2), the source's item (1).
  EXPECT_LE(broadcast_peak(bound), 8 + 2 + 2 + 2 + 2 + 1) << "unbounded: " << unbounded;
}

TEST(CapacityBytes, TheLimitsInFlightHoldAcrossAFanOut) {
  // Without a bound on the branch, only the run's limit holds it back: the
  // node's sends count into it and the branches' receives out of it.
  const long limited = broadcast_peak(0, {.max_bytes_in_flight = bound});
  // The limit, plus each stage's item in hand (source, node + copy, two sinks).
  EXPECT_LE(limited, 8 + 5);
  EXPECT_GE(broadcast_peak(0), blobs / 3) << "control";
}

TEST(CapacityBytes, APartitionLaneBoundsItsInputInBytes) {
  auto peak = [](std::size_t lane_bytes) {
    sluice::runtime rt({.threads = 2});
    heap_meter::reset();
    std::atomic<long> produced{0}, consumed{0};
    auto p = sluice::from(make_blobs(produced), {.chunk = 1}) |
             sluice::partition([](const blob&) { return 0; }, 2,
                               sluice::for_each(slow_start(produced, consumed), {.capacity_bytes = lane_bytes}),
                               {.capacity = 1});
    auto report = sluice::run(rt, std::move(p));
    EXPECT_EQ(consumed.load(), blobs);
    EXPECT_TRUE(report.balanced()) << report.describe();
    return peak_blobs();
  };
  const long unbounded = peak(0);
  EXPECT_GE(unbounded, blobs / 3) << "control";
  // The bound, the node's input (2) and buffers (2), the lane's item, the source's.
  EXPECT_LE(peak(bound), 8 + 2 + 2 + 1 + 1) << "unbounded: " << unbounded;
}

}  // namespace
