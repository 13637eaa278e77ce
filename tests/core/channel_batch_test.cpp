// Batched sends (send_batch, send_batch_blocking, try_send_batch claim a run
// of slots with one CAS) and the batch receive's bounds. Aimed at what a
// batched claim could get wrong: close racing a claim of several slots (all
// of a run goes in or none of it), runs that wrap around the ring or fill a
// list block and link the next one, order within and across batches, mixed
// coroutine and thread ends; plus a huge `max` for recv_batch and a type
// whose move throws in the middle of a received batch.
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include "channel_test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sluice::test;  // channel_test_support.hpp
constexpr int scale = sluice::test::stress_scale;

// 1..3 and 7: runs wrap around small rings; 1024: long runs; 0: unbounded,
// runs that fill a 127-slot block and link in the next.
const std::size_t capacities[] = {1, 2, 3, 7, 1024, 0};

std::vector<std::uint64_t> batch_of(int producer, int first, int n) {
  std::vector<std::uint64_t> v;
  for (int i = 0; i < n; ++i) v.push_back(encode(producer, first + i));
  return v;
}

// One sender, batches of every size from 1 to 150 (40 for small rings): the receiver sees every
// item once, in the order sent.
TEST(ChannelBatch, BatchedSendsKeepOrderAcrossWrapsAndBlocks) {
  for (std::size_t capacity : capacities) {
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    // Small rings hand most items over through a wake-up (a scheduler
    // latency each on a loaded machine): fewer batches there.
    const int batches = capacity == 0 || capacity > 7 ? 150 : 40;
    std::thread producer([s = std::move(tx), batches]() mutable {
      int next = 0;
      for (int b = 1; b <= batches; ++b) {
        auto items = batch_of(0, next, b);
        ASSERT_EQ(s.send_batch_blocking(items), items.size());
        next += b;
      }
    });
    std::vector<std::uint64_t> got;
    while (rx.recv_batch_blocking(got, 5) > 0) {
    }
    producer.join();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(batches * (batches + 1) / 2)) << "capacity " << capacity;
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], encode(0, static_cast<int>(i))) << capacity;
    EXPECT_TRUE(rx.drained());
  }
}

TEST(ChannelBatch, TrySendBatchTakesWhatFitsAndLeavesTheRest) {
  auto [tx, rx] = sluice::channel<std::string>(4);
  std::vector<std::string> items{"a", "b", "c", "d", "e", "f"};
  EXPECT_EQ(tx.try_send_batch(items), 4u);
  EXPECT_EQ(items[4], "e");  // untouched
  EXPECT_EQ(items[5], "f");
  EXPECT_EQ(tx.try_send_batch(std::span(items).subspan(4)), 0u);  // full
  EXPECT_EQ(rx.try_recv().value(), "a");
  EXPECT_EQ(tx.try_send_batch(std::span(items).subspan(4)), 1u);
  EXPECT_EQ(items[5], "f");
  EXPECT_EQ(tx.try_send_batch({}), 0u);
  std::vector<std::string> got;
  EXPECT_EQ(rx.try_recv_batch(got, 10), 4u);
  EXPECT_EQ(got, (std::vector<std::string>{"b", "c", "d", "e"}));
  tx.close();
  std::vector<std::string> late{"x", "y"};
  EXPECT_EQ(tx.try_send_batch(late), 0u);
  EXPECT_EQ(tx.send_batch_blocking(late), 0u);
  EXPECT_EQ(late, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(rx.drained());
}

TEST(ChannelBatch, AwaitedSendBatchSuspendsUntilOneFitsThenReportsHowMany) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(2);
  ASSERT_TRUE(tx.try_send(-1));
  ASSERT_TRUE(tx.try_send(-2));
  std::atomic<bool> started{false};
  auto sender = rt.spawn([](sluice::channel_sender<int> s, std::atomic<bool>* go) -> sluice::task<std::size_t> {
    std::vector<int> items{1, 2, 3, 4, 5};
    std::size_t sent = 0;
    go->store(true);
    while (sent < items.size()) {
      std::size_t k = co_await s.send_batch(std::span(items).subspan(sent));
      if (k == 0) break;
      sent += k;
    }
    co_return sent;
  }(tx, &started));
  while (!started.load()) std::this_thread::yield();
  std::vector<int> got;
  while (got.size() < 7) {
    auto v = rx.recv_blocking();
    ASSERT_TRUE(v);
    got.push_back(*v);
  }
  EXPECT_EQ(sender.get(), 5u);
  EXPECT_EQ(got, (std::vector<int>{-1, -2, 1, 2, 3, 4, 5}));

  // Closed while suspended on a full channel: 0, nothing moved.
  ASSERT_TRUE(tx.try_send(6));
  ASSERT_TRUE(tx.try_send(7));
  auto blocked = rt.spawn([](sluice::channel_sender<int> s) -> sluice::task<std::size_t> {
    std::vector<int> items{8, 9};
    co_return co_await s.send_batch(items);
  }(tx));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  tx.close();
  EXPECT_EQ(blocked.get(), 0u);
  std::vector<int> rest;
  while (rx.recv_batch_blocking(rest, 10) > 0) {
  }
  EXPECT_EQ(rest, (std::vector<int>{6, 7}));
}

// Close races thread and coroutine senders claiming runs of slots and
// thread and coroutine receivers taking batches and single items: exactly
// the items a batch reported as sent arrive, once each; the rest of every
// batch is untouched.
TEST(ChannelBatch, CloseRacingBatchedClaimsIsExact) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 6 * scale; ++round) {
    const std::size_t capacity = capacities[static_cast<std::size_t>(round) % std::size(capacities)];
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    collected got;
    collected accepted;
    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    constexpr int per_sender = 20'000;
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([s = tx, p, &accepted]() mutable {
        std::vector<std::uint64_t> local;
        for (int i = 0; i < per_sender;) {
          const int n = std::min(1 + (i % 61), per_sender - i);
          auto items = batch_of(p, i, n);
          const std::size_t k = s.send_batch_blocking(items);
          local.insert(local.end(), items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k));
          if (k < items.size()) {
            for (std::size_t j = k; j < items.size(); ++j) EXPECT_EQ(items[j], encode(p, i + static_cast<int>(j)));
            break;
          }
          i += n;
        }
        accepted.merge(local);
      });
    for (int p = 2; p < 4; ++p)
      tasks.push_back(
          rt.spawn([](sluice::channel_sender<std::uint64_t> s, int id, collected* acc) -> sluice::task<void> {
            std::vector<std::uint64_t> local;
            for (int i = 0; i < per_sender;) {
              const int n = std::min(1 + (i % 200), per_sender - i);
              auto items = batch_of(id, i, n);
              const std::size_t k = co_await s.send_batch(items);
              local.insert(local.end(), items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k));
              if (k == 0) {
                EXPECT_EQ(items[0], encode(id, i));
                break;
              }
              i += static_cast<int>(k);
            }
            acc->merge(local);
          }(tx, p, &accepted)));
    threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 13, got); });
    tasks.push_back(rt.spawn(drain_in_batches(rx, 64, &got)));
    tasks.push_back(rt.spawn(drain_one_by_one(rx, &got)));
    { auto drop = std::move(rx); }

    std::this_thread::sleep_for(std::chrono::microseconds(150 * (round % 5)));
    close_and_join(std::move(tx), tasks, threads);

    ASSERT_TRUE(exactly_once(accepted.items, got.items)) << "round " << round << ", capacity " << capacity;
    // Per sender, what arrived is a prefix of what it meant to send.
    for (std::size_t i = 1; i < got.items.size(); ++i) {
      if (got.items[i] >> 32 == got.items[i - 1] >> 32) {
        ASSERT_EQ(got.items[i], got.items[i - 1] + 1);
      }
    }
  }
}

// Senders that only drop their handles (no close): every batch of every
// sender arrives, in order per sender.
TEST(ChannelBatch, BatchedSendersDroppingHandlesLoseNothing) {
  sluice::runtime rt({.threads = 2});
  for (std::size_t capacity : capacities) {
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    // Tiny rings hand over nearly every item through a wake-up: fewer items.
    const int per_sender = (capacity == 0 || capacity > 3 ? 2'000 : 200) * scale;
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([s = tx, p, per_sender]() mutable {
        for (int i = 0; i < per_sender; i += 50) {
          auto items = batch_of(p, i, 50);
          if (s.send_batch_blocking(items) != items.size())
            throw std::logic_error("batch cut short on an open channel");
        }
      });
    auto coro = rt.spawn([](sluice::channel_sender<std::uint64_t> s, int n) -> sluice::task<void> {
      for (int i = 0; i < n;) {
        auto items = batch_of(2, i, std::min(77, n - i));
        std::size_t k = co_await s.send_batch(items);
        if (k == 0) throw std::logic_error("batch refused on an open channel");
        i += static_cast<int>(k);
      }
    }(tx, per_sender));
    { auto drop = std::move(tx); }
    std::vector<std::uint64_t> got;
    while (rx.recv_batch_blocking(got, 100) > 0) {
    }
    coro.get();
    for (auto& t : threads) t.join();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(3 * per_sender)) << "capacity " << capacity;
    std::vector<int> next(3, 0);
    for (auto v : got) {
      const auto p = static_cast<std::size_t>(v >> 32);
      ASSERT_LT(p, 3u);
      ASSERT_EQ(static_cast<int>(v & 0xffffffffu), next[p]++) << "out of order, capacity " << capacity;
    }
  }
}

// A huge `max` neither throws nor reserves a huge buffer; every form
// still returns what is there.
TEST(ChannelBatch, RecvBatchWithAHugeMaxIsBounded) {
  constexpr std::size_t huge = std::numeric_limits<std::size_t>::max();
  sluice::runtime rt({.threads = 1});
  for (std::size_t capacity : {std::size_t{8}, std::size_t{0}}) {
    auto [tx, rx] = sluice::channel<std::uint64_t>(capacity);
    auto items = batch_of(0, 0, 6);
    ASSERT_EQ(tx.try_send_batch(items), 6u);
    std::vector<std::uint64_t> out;
    EXPECT_EQ(rx.try_recv_batch(out, huge), 6u);
    EXPECT_LE(out.capacity(), 8192u);
    ASSERT_TRUE(tx.try_send(encode(0, 6)));
    EXPECT_EQ(rx.recv_batch_blocking(out, huge), 1u);
    ASSERT_TRUE(tx.try_send(encode(0, 7)));
    auto n = rt.spawn(
        [](sluice::channel_receiver<std::uint64_t> r, std::vector<std::uint64_t>* o) -> sluice::task<std::size_t> {
          co_return co_await r.recv_batch(*o, huge);
        }(rx, &out));
    EXPECT_EQ(n.get(), 1u);
    EXPECT_EQ(out, batch_of(0, 0, 8));
    tx.close();
    EXPECT_EQ(rx.recv_batch_blocking(out, huge), 0u);
  }
}

// Moving this type throws when its `poisoned` flag is set and throwing is armed.
std::atomic<bool> g_throw_armed{false};
struct poisonable {
  int value = 0;
  bool poisoned = false;
  poisonable() = default;
  poisonable(int v, bool p) : value(v), poisoned(p) {}
  poisonable(const poisonable&) = default;
  poisonable(poisonable&& o) noexcept(false) : value(o.value), poisoned(o.poisoned) {
    if (poisoned && g_throw_armed.load()) throw std::runtime_error("move failed");
  }
  poisonable& operator=(const poisonable&) = default;
  poisonable& operator=(poisonable&& o) noexcept(false) {
    value = o.value;
    poisoned = o.poisoned;
    return *this;
  }
};

// A batch in which one item's move throws: the other items of the batch
// arrive, the exception reaches the caller, and the channel goes on
// working (no slot left claimed, close and drain still exact).
TEST(ChannelBatch, ThrowingMoveInAReceivedBatchLosesOnlyThatItemAndDoesNotStall) {
  for (std::size_t capacity : {std::size_t{8}, std::size_t{6}, std::size_t{0}}) {
    auto [tx, rx] = sluice::channel<poisonable>(capacity);
    g_throw_armed = false;
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(tx.try_send(poisonable{i, i == 2}));
    g_throw_armed = true;
    std::vector<poisonable> out;
    EXPECT_THROW(rx.try_recv_batch(out, 10), std::runtime_error) << "capacity " << capacity;
    std::vector<int> values;
    for (auto& p : out) values.push_back(p.value);
    EXPECT_EQ(values, (std::vector<int>{0, 1, 3, 4, 5})) << "capacity " << capacity;
    g_throw_armed = false;
    // Not stuck: a full lap more goes through the same slots.
    const int more = capacity ? static_cast<int>(capacity) : 300;
    std::thread producer([s = tx, more]() mutable {
      for (int i = 0; i < 3 * more; ++i)
        if (!s.send_blocking(poisonable{100 + i, false})) throw std::logic_error("send failed on an open channel");
    });
    out.clear();
    while (out.size() < static_cast<std::size_t>(3 * more)) ASSERT_GT(rx.recv_batch_blocking(out, 4), 0u);
    producer.join();
    for (int i = 0; i < 3 * more; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)].value, 100 + i);
    tx.close();
    out.clear();
    EXPECT_EQ(rx.recv_batch_blocking(out, 4), 0u);
    EXPECT_TRUE(rx.drained());
  }
}

}  // namespace
