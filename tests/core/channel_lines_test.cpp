// A blocking batch receiver on a bounded ring first leaves the cache line
// of slots its sender is still filling for a later call
// (channel_ring::trim_to_whole_lines, channel_receiver::recv_batch_blocking),
// on an unbounded list as well (channel_list::trim_to_whole_lines).
// These tests aim at what that could get wrong: items left behind in a
// partly filled line (a receiver that then waits forever or reports the end
// early), a cut that miscounts (items lost or taken twice), close racing
// line-trimmed claims, order across line boundaries and wraps at capacities
// that are not a multiple of a line, mixed coroutine and thread ends.
#include <sluice/core/channel.hpp>
#include <sluice/core/detail/channel_list.hpp>
#include <sluice/core/detail/channel_ring.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include "channel_test_support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace sluice::test;  // channel_test_support.hpp
constexpr int scale = sluice::test::stress_scale;

using ring = sluice::detail::channel_ring<std::uint64_t>;
using list = sluice::detail::channel_list<std::uint64_t>;

// Sends first, first+1, ... (n items) into a ring or a list (the two share
// one status type).
template <typename Storage>
void push(Storage& storage, std::uint64_t first, int n) {
  for (int i = 0; i < n; ++i) {
    std::uint64_t v = first + static_cast<std::uint64_t>(i);
    if constexpr (std::is_same_v<Storage, ring>) {
      ASSERT_EQ(storage.try_push(v, false), ring::status::ok);
    } else {
      ASSERT_EQ(storage.try_push(v), list::status::ok);
    }
  }
}

// The cut itself: whole-line polls stop at the start of the cache line
// holding the first unpublished slot, so they leave less than one line's
// worth (a line holds at most 8 slots) and then report would_block; a plain
// poll takes the rest. A poll that reaches `max` is not cut, an exact one
// never is. Runs start at every offset of a line and wrap the ring; nothing
// is skipped or taken twice, and the order is kept.
TEST(ChannelLines, WholeLinePollsStopAtTheLineASenderIsFilling) {
  ring r(64);
  std::vector<std::uint64_t> out;
  out.reserve(64);
  ring::status st{};
  std::uint64_t next = 0;
  for (int n = 1; n <= 40; ++n) {
    push(r, next, n);
    next += static_cast<std::uint64_t>(n);
    std::size_t taken = 0;
    while (std::size_t k = r.try_pop_many(out, 64, st, false, true)) taken += k;
    EXPECT_EQ(st, ring::status::would_block);
    const std::size_t left = static_cast<std::size_t>(n) - taken;
    EXPECT_LT(left, 8u) << "n " << n;
    EXPECT_EQ(r.try_pop_many(out, 64, st, false, false), left) << "n " << n;
  }
  push(r, next, 10);
  EXPECT_EQ(r.try_pop_many(out, 4, st, false, true), 4u);  // `max` reached: not cut
  EXPECT_EQ(r.try_pop_many(out, 64, st, true, true), 6u);  // exact: never cut
  next += 10;
  ASSERT_EQ(out.size(), next);
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], i);
}

// Rings smaller than four lines are never cut: there the sender's line is
// most of the ring.
TEST(ChannelLines, SmallRingsAreNotCut) {
  ring r(7);
  std::vector<std::uint64_t> out;
  out.reserve(7);
  ring::status st{};
  push(r, 0, 3);
  EXPECT_EQ(r.try_pop_many(out, 7, st, false, true), 3u);
}

// The unbounded list's whole-line polls: a run that stops short of the
// sender (the next slot is not written) is cut to the start of the line
// holding that slot (a line holds at most 8 slots), and a poll left with
// nothing reports would_block; a plain poll takes the rest. A run that
// reaches `max` or its block's end, or one on a closed list, is taken whole.
// Runs end at every offset of a line; every item arrives once, in order.
TEST(ChannelLines, UnboundedWholeLinePollsStopAtTheLineASenderIsFilling) {
  constexpr std::size_t block_slots = 127;  // channel_list's block_cap
  list l;
  std::vector<std::uint64_t> out;
  out.reserve(1024);
  list::status st{};
  std::uint64_t next = 0;
  std::size_t in_block = 0;  // the head's offset in its block
  bool cut_somewhere = false;
  // A poll (whole-line unless `plain`) that must take `want` items.
  auto take = [&](std::size_t want, std::size_t max = 256, bool plain = false) {
    const std::size_t k = l.try_pop_many(out, max, st, false, !plain);
    EXPECT_EQ(k, want) << "at item " << out.size() - k;
    in_block = (in_block + k) % block_slots;
  };
  auto take_plain = [&](std::size_t want) { take(want, 256, /*plain=*/true); };
  for (int n = 1; n <= 60; ++n) {
    if (in_block + static_cast<std::size_t>(n) >= block_slots) {  // keep the block's end out of this part
      push(l, next, static_cast<int>(block_slots - in_block));
      next += block_slots - in_block;
      take(block_slots - in_block);
      ASSERT_EQ(in_block, 0u);
    }
    push(l, next, n);
    next += static_cast<std::uint64_t>(n);
    const std::size_t got = l.try_pop_many(out, 256, st, false, true);
    in_block += got;
    EXPECT_LT(static_cast<std::size_t>(n) - got, 8u) << "n " << n;  // cut to a line's start at most
    if (got == 0) {
      EXPECT_EQ(st, list::status::would_block) << "n " << n;
    }
    if (got < static_cast<std::size_t>(n)) {
      // The poll stopped at a line's start: a second one finds nothing whole.
      EXPECT_EQ(l.try_pop_many(out, 256, st, false, true), 0u) << "n " << n;
      EXPECT_EQ(st, list::status::would_block);
    }
    take_plain(static_cast<std::size_t>(n) - got);
    cut_somewhere |= got < static_cast<std::size_t>(n);
  }
  EXPECT_TRUE(cut_somewhere);  // runs ended inside lines, not only at their ends
  // `max` reached: not cut.
  push(l, next, 10);
  next += 10;
  take(4, 4);
  take_plain(6);
  // A run that fills its block to the end: not cut.
  const std::size_t to_end = block_slots - in_block;
  push(l, next, static_cast<int>(to_end));
  next += to_end;
  if (to_end > 1) {
    take(to_end - 1, to_end - 1);  // all but the block's last slot ...
    take(1);                       // ... which ends the block: taken alone
  } else {
    take(1);
  }
  // Closed: nothing more will come, a run inside a line is taken.
  push(l, next, 5);
  next += 5;
  l.close();
  take(5);
  ASSERT_EQ(out.size(), next);
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], i);
}

// A blocking batch receiver gets items that sit in a partly filled line
// although no more come and nobody closes: the whole-line looks give way to
// plain ones before the thread parks. Runs start and end at every offset in
// a line and cross line boundaries and the wrap of a 100-slot ring.
void blocking_batch_receiver_takes_short_runs(std::size_t capacity) {
  auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
  std::uint64_t next = 0;
  std::vector<std::uint64_t> got;
  for (int run = 1; run <= 40; ++run) {
    const int n = run % 13 + 1;
    for (int i = 0; i < n; ++i) ASSERT_TRUE(tx.send_blocking(next++));
    std::size_t want = got.size() + static_cast<std::size_t>(n);
    while (got.size() < want) ASSERT_GT(rx.recv_batch_blocking(got, 256), 0u) << "run " << run;
    ASSERT_EQ(got.size(), want);
  }
  // A receiver parked on an empty ring is served a single item.
  std::thread late([s = tx]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(s.send_blocking(12345));
  });
  std::vector<std::uint64_t> one;
  EXPECT_EQ(rx.recv_batch_blocking(one, 256), 1u);
  late.join();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], 12345u);
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i);
  tx.close();
  EXPECT_EQ(rx.recv_batch_blocking(got, 256), 0u);
}

TEST(ChannelLines, BlockingBatchReceiverTakesAPartlyFilledLineWithoutMoreItemsOrClose) {
  blocking_batch_receiver_takes_short_runs(100);
}

TEST(ChannelLines, BlockingBatchReceiverTakesAShortUnboundedRunWithoutMoreItemsOrClose) {
  blocking_batch_receiver_takes_short_runs(0);  // unbounded
}

// Every item a send reported as accepted is received exactly once, for close
// racing thread and coroutine senders (single and batched) and line-trimmed
// blocking batch receivers beside coroutine receivers, on rings of 32, 100
// (not a multiple of a line) and 1024 slots and unbounded; per sender, each
// receiver sees its items in order.
TEST(ChannelLines, CloseRacingLineTrimmedBatchReceiversIsExact) {
  sluice::runtime rt({.threads = 2});
  const std::size_t capacities[] = {32, 100, 1024, 0};
  for (int round = 0; round < 8 * scale; ++round) {
    const std::size_t capacity = capacities[static_cast<std::size_t>(round) % std::size(capacities)];
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    collected accepted;
    std::vector<collected> got(4);
    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    constexpr int per_sender = 30'000;
    // A thread sending one at a time, a thread sending runs of 1..29.
    threads.emplace_back([s = tx, &accepted] { send_until_closed_blocking(s, 0, per_sender, accepted); });
    threads.emplace_back([s = tx, &accepted]() mutable {
      std::vector<std::uint64_t> local;
      for (int i = 0; i < per_sender;) {
        std::vector<std::uint64_t> items;
        for (int j = 0; j < 1 + i % 29 && i + j < per_sender; ++j) items.push_back(encode(1, i + j));
        const std::size_t k = s.send_batch_blocking(items);
        local.insert(local.end(), items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k));
        if (k < items.size()) break;
        i += static_cast<int>(k);
      }
      accepted.merge(local);
    });
    // A coroutine sender.
    tasks.push_back(rt.spawn(send_until_closed(tx, 2, per_sender, &accepted)));
    // Two line-trimmed thread batch receivers (small and large batches), a
    // coroutine batch receiver, a coroutine single receiver.
    threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 5, got[0]); });
    threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 256, got[1]); });
    tasks.push_back(rt.spawn(drain_in_batches(rx, 64, &got[2])));
    tasks.push_back(rt.spawn(drain_one_by_one(rx, &got[3])));
    { auto drop = std::move(rx); }

    std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 5)));
    close_and_join(std::move(tx), tasks, threads);

    std::vector<std::uint64_t> all;
    for (auto& g : got) {
      // Per receiver, per sender: increasing (receivers see one sender's items in order).
      std::vector<std::uint64_t> last(3, 0);
      std::vector<bool> seen(3, false);
      for (std::uint64_t v : g.items) {
        const auto p = static_cast<std::size_t>(v >> 32);
        ASSERT_LT(p, 3u);
        if (seen[p]) {
          ASSERT_GT(v, last[p]) << "round " << round;
        }
        seen[p] = true;
        last[p] = v;
      }
      all.insert(all.end(), g.items.begin(), g.items.end());
    }
    ASSERT_TRUE(exactly_once(accepted.items, all)) << "round " << round << ", capacity " << capacity;
  }
}

}  // namespace
