// Unbounded channels keep their items in a linked list of blocks of slots
// (detail/channel_list.hpp). These tests aim at what that design could get
// wrong: close racing claims that span blocks, receivers taking a block's
// last slot while others still read earlier ones (who frees the block),
// blocks recycled through the spare, order across block boundaries, items
// left in the list when the channel goes, and types whose move may throw.
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
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sluice::test;  // channel_test_support.hpp
constexpr int scale = sluice::test::stress_scale;

// Every item a send reported as accepted is received exactly once, and
// nothing else, with close racing thread and coroutine senders and receivers
// of every kind: batches larger than a block (several claims), batches that
// end inside a block, single receives.
TEST(ChannelList, CloseRacingSendsAndBatchedClaimsIsExact) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 4 * scale; ++round) {
    auto [tx, rx] = sluice::channel<std::uint64_t>();
    collected got;
    collected accepted;

    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([s = tx, p, &accepted] { send_until_closed_blocking(s, p, 1'000'000, accepted); });
    for (int p = 2; p < 4; ++p) tasks.push_back(rt.spawn(send_until_closed(tx, p, 1'000'000, &accepted)));
    threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 300, got); });
    threads.emplace_back([r = rx, &got]() mutable {
      std::vector<std::uint64_t> local;
      for (auto v : r) local.push_back(v);
      got.merge(local);
    });
    tasks.push_back(rt.spawn(drain_in_batches(rx, 5, &got)));
    { auto drop = std::move(rx); }

    std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 7)));
    close_and_join(std::move(tx), tasks, threads);

    ASSERT_TRUE(exactly_once(accepted.items, got.items)) << "round " << round;
  }
}

// One sender, batch sizes that straddle block boundaries in every phase: the
// items come out in order and size() counts exactly what is buffered.
TEST(ChannelList, BatchesAcrossBlockBoundariesKeepOrderAndSize) {
  auto [tx, rx] = sluice::channel<std::uint64_t>();
  std::uint64_t sent = 0, expect = 0;
  std::vector<std::uint64_t> batch;
  for (std::size_t want : {1u, 126u, 127u, 128u, 2u, 300u, 254u, 255u, 1000u, 3u}) {
    for (std::size_t i = 0; i < want + 40; ++i) ASSERT_TRUE(tx.try_send(sent++));
    ASSERT_EQ(rx.size(), sent - expect);
    batch.clear();
    ASSERT_EQ(rx.try_recv_batch(batch, want), want);
    for (auto v : batch) ASSERT_EQ(v, expect++);
    ASSERT_EQ(rx.size(), sent - expect);
  }
  tx.close();
  batch.clear();
  while (rx.try_recv_batch(batch, 64) > 0) {
  }
  for (auto v : batch) ASSERT_EQ(v, expect++);
  EXPECT_EQ(expect, sent);
  EXPECT_TRUE(rx.drained());
  EXPECT_EQ(rx.try_recv_batch(batch, 64), 0u);
}

// Items nobody received are destroyed with the channel, across several
// blocks and from the middle of a partly read one (ASan reports a leak or a
// double destruction).
TEST(ChannelList, ItemsLeftInTheListAreDestroyedWithTheChannel) {
  auto counter = std::make_shared<int>(0);
  {
    auto [tx, rx] = sluice::channel<std::shared_ptr<int>>();
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(tx.try_send(std::shared_ptr<int>(counter)));
    std::vector<std::shared_ptr<int>> some;
    ASSERT_EQ(rx.try_recv_batch(some, 200), 200u);
    EXPECT_EQ(counter.use_count(), 1001);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

// A destroyed channel's blocks are kept for the next unbounded channel of
// the same item type (channel_list::spare_blocks). A block comes back
// reset: a receiver of the next channel must not take a slot that a
// sender of the earlier one wrote (its flag still set) as a new item. Each
// round leaves items in several blocks, some of them half read, and the
// next round's receivers, polling and exact, see only their own items.
TEST(ChannelList, BlocksReusedFromADestroyedChannelCarryNothingOver) {
  for (int round = 0; round < 6; ++round) {
    const std::uint64_t base = static_cast<std::uint64_t>(round) << 32;
    auto [tx, rx] = sluice::channel<std::uint64_t>();
    std::vector<std::uint64_t> batch;
    // Nothing sent yet: every look finds the channel empty, whatever the
    // reused blocks held.
    EXPECT_EQ(rx.try_recv_batch(batch, 64), 0u) << "round " << round;
    EXPECT_FALSE(rx.try_recv().has_value()) << "round " << round;
    const std::uint64_t count = 1000 + 37 * static_cast<std::uint64_t>(round);
    std::uint64_t expect = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
      ASSERT_TRUE(tx.try_send(base + i));
      if (i % 3 == 0) {  // receive behind the sender, so that blocks are retired and recycled
        batch.clear();
        rx.try_recv_batch(batch, 2);
        for (auto v : batch) ASSERT_EQ(v, base + expect++) << "round " << round;
      }
    }
    batch.clear();
    while (rx.try_recv_batch(batch, 100) > 0) {
    }
    for (auto v : batch) ASSERT_EQ(v, base + expect++) << "round " << round;
    ASSERT_EQ(expect, count) << "round " << round;
    EXPECT_EQ(rx.try_recv_batch(batch, 64), 0u) << "round " << round;
    // Leave a backlog over several blocks, the first half read, for the
    // destructor to hand on.
    for (std::uint64_t i = 0; i < 700; ++i) ASSERT_TRUE(tx.try_send(base + count + i));
    batch.clear();
    ASSERT_EQ(rx.try_recv_batch(batch, 190), 190u);
    EXPECT_EQ(batch.front(), base + count);
  }
}

// The blocks kept for reuse stay within their process-wide budget, however
// large the backlog of the channels that handed them on.
TEST(ChannelList, SpareBlocksStayWithinTheirBudget) {
  for (int round = 0; round < 2; ++round) {
    auto [tx, rx] = sluice::channel<std::uint64_t>();
    // About 1.3 M items: more blocks than the budget holds.
    for (std::uint64_t i = 0; i < (std::uint64_t{10} << 20) / 8; ++i) ASSERT_TRUE(tx.try_send(i));
  }
  EXPECT_GT(sluice::detail::spare_list_block_bytes.load(), 0u);
  EXPECT_LE(sluice::detail::spare_list_block_bytes.load(), sluice::detail::spare_list_block_budget);
  // And a channel made now takes its blocks from them.
  const auto before = sluice::detail::spare_list_block_bytes.load();
  {
    auto [tx, rx] = sluice::channel<std::uint64_t>();
    for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(tx.try_send(i));
    EXPECT_LT(sluice::detail::spare_list_block_bytes.load(), before);
  }
}

TEST(ChannelList, ItemsWhoseMoveMayThrowAreCarriedIntact) {
  auto [tx, rx] = sluice::channel<throwing_move>();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(tx.try_send(throwing_move{std::to_string(i)}));
  EXPECT_EQ(rx.try_recv()->text, "0");
  std::vector<throwing_move> out;
  EXPECT_EQ(rx.try_recv_batch(out, 200), 200u);
  ASSERT_EQ(out.size(), 200u);
  EXPECT_EQ(out.front().text, "1");
  EXPECT_EQ(out.back().text, "200");
  tx.close();
  throwing_move late{"late"};
  EXPECT_FALSE(tx.try_send(late));
  EXPECT_EQ(late.text, "late") << "a send that fails leaves its item untouched";
  // 99 left in the list, destroyed with the channel.
}

// Many short-lived receivers and senders hop between coroutines and threads
// on one unbounded channel while blocks are retired and recycled: producers
// drop their handles one by one (the channel closes with the last), and
// every item arrives exactly once.
TEST(ChannelList, MixedCoroutineAndThreadEndsWithDroppedSendersLoseNothing) {
  sluice::runtime rt({.threads = 2});
  constexpr int per_producer = 20'000 * scale;
  auto [tx, rx] = sluice::channel<std::uint64_t>();
  collected got;
  std::vector<std::thread> threads;
  std::vector<sluice::join_handle<void>> tasks;
  for (int p = 0; p < 3; ++p)
    threads.emplace_back([s = tx, p]() mutable {
      for (int i = 0; i < per_producer; ++i) ASSERT_TRUE(s.send_blocking(encode(p, i)));
    });
  tasks.push_back(rt.spawn([](sluice::channel_sender<std::uint64_t> s) -> sluice::task<void> {
    for (int i = 0; i < per_producer; ++i) {
      std::uint64_t v = encode(3, i);
      if (!co_await s.send(v)) ADD_FAILURE() << "send failed on an open channel";
    }
  }(tx)));
  { auto drop = std::move(tx); }
  for (int c = 0; c < 2; ++c)
    tasks.push_back(rt.spawn(
        [](sluice::channel_receiver<std::uint64_t> r, std::size_t batch, collected* out) -> sluice::task<void> {
          std::vector<std::uint64_t> local;
          while (co_await r.recv_batch(local, batch) > 0) {
          }
          out->merge(local);
        }(rx, c == 0 ? 1 : 200, &got)));
  threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 129, got); });
  { auto drop = std::move(rx); }
  for (auto& t : tasks) t.get();
  for (auto& t : threads) t.join();

  std::vector<std::uint64_t> expected;
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < per_producer; ++i) expected.push_back(encode(p, i));
  ASSERT_TRUE(exactly_once(expected, got.items));
}

}  // namespace
