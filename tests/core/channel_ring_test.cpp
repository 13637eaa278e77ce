// Bounded channels keep their items in a stamped ring (detail/channel_ring.hpp)
// and serve waiters on their behalf. These tests aim at what that design could
// get wrong: close racing claims and hand-offs, sender and receiver handles
// dropped while others wait, coroutine and thread ends mixed on one channel,
// the ring's wrap-around at capacities that are not powers of two, and types
// whose move may throw (boxed in the ring).
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include "channel_test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sluice::test;  // channel_test_support.hpp
constexpr int scale = sluice::test::stress_scale;

// Every item a send reported as accepted is received exactly once, and
// nothing else, for close racing coroutine and thread senders that are
// waiting on a full ring (served on their behalf by receivers) and batch and
// single receivers in both worlds.
TEST(ChannelRing, CloseRacingWaitingSendersAndBatchedClaimsIsExact) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 6 * scale; ++round) {
    // 1..5: mostly full, senders parked and served; 1024: receivers chasing
    // their senders through polls that do not look at the tail.
    const std::size_t capacity = round % 6 == 5 ? 1024 : 1 + static_cast<std::size_t>(round % 5);
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    collected got;
    collected accepted;

    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    // Two thread senders, two coroutine senders.
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([s = tx, p, &accepted] { send_until_closed_blocking(s, p, 100'000, accepted); });
    for (int p = 2; p < 4; ++p) tasks.push_back(rt.spawn(send_until_closed(tx, p, 100'000, &accepted)));
    // A thread batch receiver, a coroutine batch receiver, a coroutine single receiver.
    threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 7, got); });
    tasks.push_back(rt.spawn(drain_in_batches(rx, 3, &got)));
    tasks.push_back(rt.spawn(drain_one_by_one(rx, &got)));
    { auto drop = std::move(rx); }

    // Let the stream run a varying while, then close under it.
    std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 7)));
    close_and_join(std::move(tx), tasks, threads);

    ASSERT_TRUE(exactly_once(accepted.items, got.items)) << "round " << round;
  }
}

// Sender handles are dropped one by one while the others are blocked on a
// full ring: the channel stays open until the last one goes, and every item
// of every producer arrives.
TEST(ChannelRing, SendersDroppedWhileOthersWaitOnAFullRingLoseNothing) {
  auto [tx, rx] = sluice::channel<std::uint64_t>(2);
  constexpr int senders = 6;
  std::vector<std::thread> threads;
  for (int p = 0; p < senders; ++p)
    threads.emplace_back([s = tx, p]() mutable {
      // Producer p sends (p + 1) * 500 items, then drops its handle.
      for (int i = 0; i < (p + 1) * 50 * scale; ++i)
        if (!s.send_blocking(encode(p, i))) throw std::logic_error("send failed on an open channel");
      auto drop = std::move(s);
    });
  { auto drop = std::move(tx); }
  std::vector<int> next(senders, 0);
  std::size_t total = 0;
  for (auto v : rx) {
    auto p = static_cast<std::size_t>(v >> 32);
    ASSERT_EQ(static_cast<int>(v & 0xffffffffu), next[p]) << "producer " << p << " out of order";
    ++next[p];
    ++total;
  }
  for (auto& t : threads) t.join();
  for (int p = 0; p < senders; ++p) EXPECT_EQ(next[static_cast<std::size_t>(p)], (p + 1) * 50 * scale);
  EXPECT_TRUE(rx.drained());
  EXPECT_GT(total, 0u);
}

// The last receiver goes away while senders (threads and coroutines) wait on
// a full ring: every waiting send fails with its item untouched, and items
// already in the ring are destroyed with the channel (no leak under ASan).
TEST(ChannelRing, LastReceiverDroppedFailsWaitingSendersWithItemsIntact) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<std::unique_ptr<int>>(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_send(std::make_unique<int>(i)));
  std::atomic<int> failed_intact{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([s = tx, &failed_intact]() mutable {
      auto item = std::make_unique<int>(7);
      if (!s.send_blocking(item) && item && *item == 7) failed_intact.fetch_add(1);
    });
  auto coro = rt.spawn([](sluice::channel_sender<std::unique_ptr<int>> s, std::atomic<int>* ok) -> sluice::task<void> {
    auto item = std::make_unique<int>(8);
    if (!co_await s.send(item) && item && *item == 8) ok->fetch_add(1);
  }(tx, &failed_intact));
  // The senders are (or will be) waiting: the ring is full and nobody receives.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(tx.size(), 3u);
  { auto drop = std::move(rx); }
  coro.get();
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed_intact.load(), 3);
  EXPECT_TRUE(tx.is_closed());
}

// Many laps around rings whose capacity is not a power of two (the position
// encodes index and lap separately): FIFO per producer and the exact count.
TEST(ChannelRing, WrapsAroundOddCapacitiesInOrder) {
  for (std::size_t capacity : {1u, 3u, 5u, 7u, 1000u}) {
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    constexpr int n = 2000 * scale;  // a constant: used in the lambda without a capture
    std::thread producer([s = std::move(tx)]() mutable {
      for (int i = 0; i < n; ++i) ASSERT_TRUE(s.send_blocking(static_cast<std::uint64_t>(i)));
    });
    std::uint64_t expect = 0;
    std::vector<std::uint64_t> batch;
    while (rx.recv_batch_blocking(batch, 4) > 0) {
      for (auto v : batch) ASSERT_EQ(v, expect++) << "capacity " << capacity;
      EXPECT_LE(rx.size(), capacity);
      batch.clear();
    }
    producer.join();
    EXPECT_EQ(expect, static_cast<std::uint64_t>(n)) << "capacity " << capacity;
  }
}

TEST(ChannelRing, ItemsWhoseMoveMayThrowAreCarriedIntact) {
  auto [tx, rx] = sluice::channel<throwing_move>(2);
  ASSERT_TRUE(tx.try_send(throwing_move{"a"}));
  ASSERT_TRUE(tx.try_send(throwing_move{"b"}));
  throwing_move third{"c"};
  EXPECT_FALSE(tx.try_send(third));
  EXPECT_EQ(third.text, "c") << "a send that fails leaves its item untouched";
  EXPECT_EQ(rx.try_recv()->text, "a");
  EXPECT_TRUE(tx.try_send(third));
  std::vector<throwing_move> out;
  EXPECT_EQ(rx.try_recv_batch(out, 8), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "b");
  EXPECT_EQ(out[1].text, "c");
  ASSERT_TRUE(tx.try_send(throwing_move{"left in the ring"}));  // destroyed with the channel
}

// A coroutine receiver parked on an empty ring is handed its item by a
// thread sender, and a coroutine sender parked on a full ring gets its item
// sent by a thread receiver: the hand-off in both directions across worlds.
TEST(ChannelRing, HandOffBetweenCoroutineAndThreadEndsBothWays) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(1);
  constexpr int n = 200 * scale;  // a constant: used in the lambdas without a capture
  auto consumer = rt.spawn([](sluice::channel_receiver<int> r) -> sluice::task<long> {
    long sum = 0;
    while (auto v = co_await r.recv()) sum += *v;
    co_return sum;
  }(rx));
  { auto drop = std::move(rx); }
  std::thread producer([s = std::move(tx)]() mutable {
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(s.send_blocking(i));
  });
  producer.join();
  EXPECT_EQ(consumer.get(), static_cast<long>(n) * (n + 1) / 2);

  auto [tx2, rx2] = sluice::channel<int>(1);
  auto sender = rt.spawn([](sluice::channel_sender<int> s, int count) -> sluice::task<void> {
    for (int i = 1; i <= count; ++i) {
      int v = i;
      if (!co_await s.send(v)) throw std::logic_error("send failed on an open channel");
    }
  }(tx2, n));
  { auto drop = std::move(tx2); }
  long sum = 0;
  for (int v : rx2) sum += v;
  sender.get();
  EXPECT_EQ(sum, static_cast<long>(n) * (n + 1) / 2);
}

}  // namespace
