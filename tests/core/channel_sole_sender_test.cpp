// A bounded channel whose sends all come from one thread lets that thread
// claim slots with a plain store instead of a CAS (detail/sole_sender.hpp).
// These tests aim at what that could get wrong: a second thread sending
// through the same handle or a copy of it while the owner streams (the owner
// must be demoted before any CAS races its plain store), close racing the
// owner (the mark must not be lost, nor an accepted item), receivers parking
// between the owner's items (the plain claim has no StoreLoad order; a
// lost wake-up hangs, so these are bounded by a deadline), and the owner
// parked on a full ring and served by a receiver (a waker's CAS between the
// owner's plain claims). Every item exactly once, in order per sender.
#include <sluice/core/channel.hpp>
#include <sluice/core/detail/sole_sender.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include "channel_test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace sluice::test;  // channel_test_support.hpp
constexpr int scale = sluice::test::stress_scale;
using sluice::detail::sole_sender_gate;

// A thread batch receiver that also checks the order of what it got.
void drain_checking_order(sluice::channel_receiver<std::uint64_t> rx, std::size_t max, collected& out) {
  std::vector<std::uint64_t> local;
  while (rx.recv_batch_blocking(local, max) > 0) {
  }
  EXPECT_TRUE(in_order_per_producer(local));
  out.merge(local);
}

TEST(SoleSenderGate, ShareWaitsForTheOwnerToLeave) {
  if (!sluice::detail::heavy_barrier_available()) GTEST_SKIP() << "no membarrier: the gate is never claimed";
  sole_sender_gate gate;
  std::atomic<bool> entered{false}, left{false}, shared{false};
  std::thread owner([&] {
    const auto me = sluice::detail::this_thread_token();
    ASSERT_TRUE(gate.claim(me));
    ASSERT_TRUE(gate.enter(me));
    entered.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(shared.load()) << "share() returned while the owner was inside";
    left.store(true);
    gate.leave();
    // Demoted: the owner may not enter again.
    while (!shared.load()) std::this_thread::yield();
    EXPECT_FALSE(gate.enter(me));
  });
  while (!entered.load()) std::this_thread::yield();
  gate.share();
  EXPECT_TRUE(left.load());
  shared.store(true);
  owner.join();
  EXPECT_FALSE(gate.is_unclaimed());
}

TEST(SoleSenderGate, OnlyTheClaimingThreadEnters) {
  if (!sluice::detail::heavy_barrier_available()) GTEST_SKIP() << "no membarrier: the gate is never claimed";
  sole_sender_gate gate;
  const auto me = sluice::detail::this_thread_token();
  ASSERT_TRUE(gate.claim(me));
  std::thread other([&] {
    const auto them = sluice::detail::this_thread_token();
    EXPECT_NE(them, me);
    EXPECT_FALSE(gate.enter(them));
    EXPECT_FALSE(gate.claim(them));
  });
  other.join();
  ASSERT_TRUE(gate.enter(me));
  gate.leave();
  gate.share();  // by the owner itself: no barrier, and for good
  EXPECT_FALSE(gate.enter(me));
  EXPECT_FALSE(gate.claim(me));
}

// A receiver parking needs a heavy barrier while the gate is owned. Where
// parks come often against the owner's plain sends (a ping-pong), the gate
// demotes itself for good instead of paying an interrupt per park; where
// the owner streams many items per park, it stays owned.
TEST(SoleSenderGate, FrequentParkingDemotesTheGateAndRareParkingKeepsIt) {
  if (!sluice::detail::heavy_barrier_available()) GTEST_SKIP() << "no membarrier: the gate is never claimed";
  const auto me = sluice::detail::this_thread_token();
  auto park_once = [](sole_sender_gate& gate) {  // from another thread, as a receiver's park
    std::thread receiver_side([&gate] { gate.before_waiter_looks(); });
    receiver_side.join();
  };
  sole_sender_gate ping_pong;
  ASSERT_TRUE(ping_pong.claim(me));
  int parks = 0;
  for (; parks < 64 && ping_pong.enter(me); ++parks) {  // one send per park, while the owner may send alone
    ping_pong.leave();
    park_once(ping_pong);
  }
  EXPECT_EQ(parks, 16);  // demoted at the 16th barrier (k_min_barriers)
  EXPECT_FALSE(ping_pong.owned_by(me));
  EXPECT_FALSE(ping_pong.enter(me));

  sole_sender_gate stream;
  ASSERT_TRUE(stream.claim(me));
  for (int p = 0; p < 64; ++p) {  // a thousand sends per park
    for (int k = 0; k < 1000; ++k) {
      ASSERT_TRUE(stream.enter(me));
      stream.leave();
    }
    park_once(stream);
  }
  EXPECT_TRUE(stream.owned_by(me));
  EXPECT_EQ(stream.parking_barriers(), 64u);
}

// The asymmetric Dekker the gate rests on, as a store-buffering litmus
// test: the hot side stores, compiler barrier, loads; the rare side stores,
// heavy barrier, loads. Both loads missing the other's store is what x86's
// store buffer allows without fences (with a compiler barrier on both sides
// about 6 % of rounds on this project's VM), and what heavy_barrier() must
// rule out.
TEST(SoleSenderGate, HeavyBarrierOrdersAgainstACompilerBarrier) {
  if (!sluice::detail::heavy_barrier_available()) GTEST_SKIP() << "no membarrier";
  constexpr int rounds = 20'000;
  std::atomic<int> a{0}, b{0}, ready{0};
  std::vector<unsigned char> hot_saw(rounds), rare_saw(rounds);
  // Both sides leave the same spin together, so their store-load windows
  // overlap (without the heavy barrier about 6 % of rounds miss both).
  auto start_round = [&ready](int r) {
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (ready.load(std::memory_order_acquire) < 2 * (r + 1)) {
    }
  };
  std::thread hot([&] {
    for (int r = 0; r < rounds; ++r) {
      start_round(r);
      a.store(r + 1, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      hot_saw[static_cast<std::size_t>(r)] = b.load(std::memory_order_relaxed) == r + 1;
    }
  });
  for (int r = 0; r < rounds; ++r) {
    start_round(r);
    b.store(r + 1, std::memory_order_relaxed);
    sluice::detail::heavy_barrier();
    rare_saw[static_cast<std::size_t>(r)] = a.load(std::memory_order_relaxed) == r + 1;
  }
  hot.join();
  int both_missed = 0;
  for (std::size_t r = 0; r < rounds; ++r) both_missed += !hot_saw[r] && !rare_saw[r];
  EXPECT_EQ(both_missed, 0);
}

// The owner streams through its handle; after a while a second thread sends
// through the very same handle (the sender count stays 1), or through a copy
// it makes on its own thread. Nothing lost or duplicated, order kept per
// producer.
void second_sender_joins(bool copy_the_handle) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 6 * scale; ++round) {
    const std::size_t capacities[] = {1, 3, 1024, 0, 5, 0};  // 0: unbounded (the list's sole-sender claim)
    const std::size_t capacity = capacities[round % 6];
    constexpr int n = 20'000;
    auto ends = sluice::channel<std::uint64_t>(capacity);
    auto& tx = ends.first;  // captured by reference below (clang 14 cannot capture a structured binding)
    auto& rx = ends.second;
    collected got, accepted;
    std::atomic<int> owner_sent{0};
    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    threads.emplace_back([r = rx, &got]() mutable { drain_checking_order(std::move(r), 64, got); });
    tasks.push_back(rt.spawn(drain_one_by_one(rx, &got)));
    { auto drop = std::move(rx); }

    std::thread owner([&tx, &owner_sent, &accepted] {
      std::vector<std::uint64_t> local;
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(tx.send_blocking(encode(0, i)));
        local.push_back(encode(0, i));
        owner_sent.store(i + 1, std::memory_order_relaxed);
      }
      accepted.merge(local);
    });
    std::thread second([&tx, &owner_sent, &accepted, copy_the_handle, round] {
      while (owner_sent.load(std::memory_order_relaxed) < 100 * (round % 5)) std::this_thread::yield();
      std::vector<std::uint64_t> local;
      auto send_all = [&local](sluice::channel_sender<std::uint64_t>& s) {
        for (int i = 0; i < n; ++i) {
          ASSERT_TRUE(s.send_blocking(encode(1, i)));
          local.push_back(encode(1, i));
        }
      };
      if (copy_the_handle) {
        auto copy = tx;
        send_all(copy);
      } else {
        send_all(tx);
      }
      accepted.merge(local);
    });
    owner.join();
    second.join();
    { auto drop = std::move(tx); }  // the last sender: closes
    for (auto& t : tasks) t.get();
    for (auto& t : threads) t.join();
    ASSERT_TRUE(exactly_once(accepted.items, got.items)) << "round " << round;
  }
}

TEST(ChannelSoleSender, ASecondThreadSendingThroughTheOwnersHandleLosesNothing) { second_sender_joins(false); }
TEST(ChannelSoleSender, AHandleCopiedOnAnotherThreadMidStreamLosesNothing) { second_sender_joins(true); }

// Close, from a receiver's thread, races the sole sender: the closed mark
// stays set (a plain claim of the tail racing close's fetch_or would erase
// it), every send that reported success is received exactly once, a failed
// send leaves its item untouched (send_until_closed_blocking checks), and
// the receivers see the end.
TEST(ChannelSoleSender, CloseRacingTheSoleSenderIsExact) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 40 * scale; ++round) {
    const std::size_t capacities[] = {1, 2, 7, 1024, 1024, 0};  // 0: unbounded
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacities[round % 6]);
    collected got, accepted;
    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    threads.emplace_back(
        [s = std::move(tx), &accepted]() mutable { send_until_closed_blocking(std::move(s), 0, 1'000'000, accepted); });
    threads.emplace_back([r = rx, &got]() mutable { drain_checking_order(std::move(r), 256, got); });
    tasks.push_back(rt.spawn(drain_in_batches(rx, 5, &got)));
    std::this_thread::sleep_for(std::chrono::microseconds(50 * (round % 9)));
    rx.close();
    // A plain claim racing the mark would erase it: the sender would go on.
    EXPECT_TRUE(rx.is_closed()) << "round " << round << ": the closed mark was lost";
    { auto drop = std::move(rx); }
    for (auto& t : tasks) t.get();
    for (auto& t : threads) t.join();
    ASSERT_TRUE(exactly_once(accepted.items, got.items)) << "round " << round;
  }
}

// Receivers park between the sole sender's items (channel_test_support.hpp,
// "ping-pong").
enum class receiver_kind { thread_single, thread_batch, coroutine_single, coroutine_batch };

sluice::task<void> ack_coroutine(sluice::channel_receiver<std::uint64_t> rx, bool batch,
                                 std::atomic<std::uint64_t>* acked) {
  std::vector<std::uint64_t> buf;
  for (;;) {
    if (batch) {
      buf.clear();
      if (co_await rx.recv_batch(buf, 16) == 0) co_return;
      acked->store(buf.back() + 1, std::memory_order_release);
    } else {
      auto v = co_await rx.recv();
      if (!v) co_return;
      acked->store(*v + 1, std::memory_order_release);
    }
  }
}

void ping_pong(receiver_kind kind, bool unbounded = false) {
  sluice::runtime rt({.threads = 1});
  const std::size_t capacity = unbounded ? 0 : kind == receiver_kind::thread_batch ? 1024 : 4;
  auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
  std::atomic<std::uint64_t> acked{0};
  std::thread thread_receiver;
  std::optional<sluice::join_handle<void>> task_receiver;
  switch (kind) {
    case receiver_kind::thread_single:
      thread_receiver = ack_receiver_thread(rx, 0, acked);
      break;
    case receiver_kind::thread_batch:
      thread_receiver = ack_receiver_thread(rx, 256, acked);
      break;
    case receiver_kind::coroutine_single:
    case receiver_kind::coroutine_batch:
      task_receiver.emplace(rt.spawn(ack_coroutine(rx, kind == receiver_kind::coroutine_batch, &acked)));
      break;
  }
  { auto drop = std::move(rx); }

  const std::uint64_t n = 2'000 * static_cast<std::uint64_t>(scale);
  // 0 to ~60 us between items: the receiver's backoff before it parks is a few us.
  const bool all_acked = send_each_after_ack(
      n, [&tx](std::uint64_t i) { return tx.send_blocking(i); }, acked, std::chrono::nanoseconds(200), 300);
  { auto drop = std::move(tx); }
  if (thread_receiver.joinable()) thread_receiver.join();
  if (task_receiver) task_receiver->get();
  if (all_acked) {
    EXPECT_EQ(acked.load(), n);
  }
}

TEST(ChannelSoleSender, ThreadReceiverParkingBetweenItemsIsAlwaysWoken) { ping_pong(receiver_kind::thread_single); }
TEST(ChannelSoleSender, ThreadBatchReceiverParkingBetweenItemsIsAlwaysWoken) { ping_pong(receiver_kind::thread_batch); }
TEST(ChannelSoleSender, CoroutineReceiverParkingBetweenItemsIsAlwaysWoken) {
  ping_pong(receiver_kind::coroutine_single);
}
TEST(ChannelSoleSender, CoroutineBatchReceiverParkingBetweenItemsIsAlwaysWoken) {
  ping_pong(receiver_kind::coroutine_batch);
}
TEST(ChannelSoleSender, UnboundedThreadReceiverParkingBetweenItemsIsAlwaysWoken) {
  ping_pong(receiver_kind::thread_single, true);
}
TEST(ChannelSoleSender, UnboundedThreadBatchReceiverParkingBetweenItemsIsAlwaysWoken) {
  ping_pong(receiver_kind::thread_batch, true);
}
TEST(ChannelSoleSender, UnboundedCoroutineBatchReceiverParkingBetweenItemsIsAlwaysWoken) {
  ping_pong(receiver_kind::coroutine_batch, true);
}

// An unbounded channel with one sending thread: the thread owns the gate
// (claims list positions with plain stores), and its items arrive in order
// across many blocks (127 slots each, the last slot's sender links the next).
TEST(ChannelSoleSender, AnUnboundedChannelsSoleSenderClaimsWithPlainStoresInOrder) {
  auto [tx, rx] = sluice::channel<std::uint64_t>(0);
  static constexpr std::uint64_t n = 100'000;
  std::thread receiver([r = std::move(rx)]() mutable {
    std::vector<std::uint64_t> buf;
    std::uint64_t next = 0;
    while (r.recv_batch_blocking(buf, 300) > 0) {
      for (auto v : buf) ASSERT_EQ(v, next++);
      buf.clear();
    }
    EXPECT_EQ(next, n);
  });
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(tx.send_blocking(i));
  { auto drop = std::move(tx); }
  receiver.join();
}

// The sole sender keeps filling a small ring, so it parks again and again and
// a receiver sends its item for it (a CAS on the tail between the owner's
// plain claims, without demoting it). Every item arrives, in order. On the
// larger rings the sender also waits for a freed window (an eighth of the
// ring) before it refills, and takes fewer slots when none comes.
TEST(ChannelSoleSender, OwnerParkedOnAFullRingIsServedInOrder) {
  for (std::size_t capacity : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{64}, std::size_t{1024}}) {
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    constexpr int n = 20'000 * scale;  // a constant: used in the lambda without a capture
    std::thread sender([s = std::move(tx)]() mutable {
      for (int i = 0; i < n; ++i) ASSERT_TRUE(s.send_blocking(encode(0, i)));
    });
    std::vector<std::uint64_t> got;
    for (int i = 0; auto v = rx.recv_blocking(); ++i) {
      got.push_back(*v);
      if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));  // let the sender park
    }
    sender.join();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(n)) << "capacity " << capacity;
    for (int i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], encode(0, i)) << "capacity " << capacity;
  }
}

// A blocking sole sender that finds the ring full first waits for its
// receivers to free a window of slots (an eighth of the ring); it must
// still send into a partly freed window without more receives (its later
// looks, and the exact look before it parks, take any free slot). The
// sender fills the ring and sends the rest on the same thread, so it owns
// the gate throughout; each of the window's first slots is tried as the
// last one freed.
TEST(ChannelSoleSender, BlockingSenderTakesAPartlyFreedWindowWithoutMoreReceives) {
  constexpr std::uint64_t capacity = 64;  // a window of 8 slots
  for (std::uint64_t freed = 1; freed <= 8; ++freed) {
    auto ends = sluice::channel<std::uint64_t>(capacity);
    auto& tx = ends.first;  // captured by reference (clang 14 cannot capture a structured binding)
    auto& rx = ends.second;
    std::atomic<std::uint64_t> sent{0};
    std::atomic<bool> go{false};
    std::thread sender([&tx, &sent, &go, freed] {
      for (std::uint64_t i = 0; i < capacity; ++i)
        if (!tx.send_blocking(i)) return;
      sent.store(capacity, std::memory_order_release);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::uint64_t i = 0; i < freed; ++i) {
        if (!tx.send_blocking(capacity + i)) return;
        sent.store(capacity + i + 1, std::memory_order_release);
      }
    });
    while (sent.load(std::memory_order_acquire) < capacity) std::this_thread::yield();
    for (std::uint64_t i = 0; i < freed; ++i) ASSERT_EQ(rx.try_recv(), std::optional<std::uint64_t>(i));
    go.store(true, std::memory_order_release);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (sent.load(std::memory_order_acquire) < capacity + freed && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(sent.load(), capacity + freed) << "a sender waited for more of its window to be freed";
    rx.close();  // frees the sender if it is stuck
    sender.join();
    for (std::uint64_t i = freed; i < sent.load(); ++i) ASSERT_EQ(rx.try_recv(), std::optional<std::uint64_t>(i));
  }
}

}  // namespace
