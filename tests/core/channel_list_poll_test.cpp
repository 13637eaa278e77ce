// The unbounded channel's polling claim (detail/channel_list.hpp): a poll
// claims the run of written slots from head without reading the tail, a
// batch receiver's poll leaves the line its sender is still filling, and
// retired blocks are recycled through a pool that frees its excess only
// while no poll is looking at a block. These tests aim at what that path
// could get wrong: an item taken twice or lost when close races a claim
// that crosses a block boundary, a poll that ends the stream early, a line
// left behind, and a stale block read after it was freed (ASan).
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include "channel_test_support.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sluice::test;  // channel_test_support.hpp
constexpr int scale = sluice::test::stress_scale;

// Polls with try_recv_batch until the channel is closed and drained.
void drain_by_polling(sluice::channel_receiver<std::uint64_t> rx, std::size_t max, collected& out) {
  std::vector<std::uint64_t> local;
  while (!rx.drained()) {
    if (rx.try_recv_batch(local, max) == 0) std::this_thread::yield();
  }
  out.merge(local);
}

// Close races senders whose runs straddle block boundaries (127 slots a
// block) and receivers whose claims do too: polling receivers with batches
// of 130 and 254, a blocking batch receiver (whole-line polls, then exact
// looks), a coroutine batch receiver. Every item a send reported as accepted
// is received exactly once, nothing else is, and a batch cut short by close
// leaves the rest of its run untouched.
TEST(ChannelListPoll, CloseRacingRangeClaimsAcrossBlockBoundariesIsExact) {
  sluice::runtime rt({.threads = 2});
  for (int round = 0; round < 4 * scale; ++round) {
    auto [tx, rx] = sluice::channel<std::uint64_t>();
    collected got;
    collected accepted;
    std::vector<std::thread> threads;
    std::vector<sluice::join_handle<void>> tasks;
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([s = tx, p, &accepted]() mutable {
        constexpr std::array<std::size_t, 4> runs{126, 127, 200, 3};
        std::vector<std::uint64_t> local;
        std::vector<std::uint64_t> run;
        for (int i = 0, r = 0; i < 2'000'000; ++r) {
          run.clear();
          for (std::size_t j = 0; j < runs[static_cast<std::size_t>(r) % runs.size()]; ++j)
            run.push_back(encode(p, i + static_cast<int>(j)));
          const std::size_t k = s.send_batch_blocking(std::span(run));
          local.insert(local.end(), run.begin(), run.begin() + static_cast<std::ptrdiff_t>(k));
          for (std::size_t j = k; j < run.size(); ++j)
            EXPECT_EQ(run[j], encode(p, i + static_cast<int>(j))) << "an item not sent must be left untouched";
          if (k < run.size()) break;
          i += static_cast<int>(k);
        }
        accepted.merge(local);
      });
    tasks.push_back(rt.spawn(send_until_closed(tx, 2, 2'000'000, &accepted)));
    threads.emplace_back([r = rx, &got]() mutable { drain_by_polling(std::move(r), 130, got); });
    threads.emplace_back([r = rx, &got]() mutable { drain_by_polling(std::move(r), 254, got); });
    threads.emplace_back([r = rx, &got]() mutable { drain_in_batches_blocking(std::move(r), 300, got); });
    tasks.push_back(rt.spawn(drain_in_batches(rx, 127, &got)));
    { auto drop = std::move(rx); }

    std::this_thread::sleep_for(std::chrono::microseconds(150 * (round % 7)));
    close_and_join(std::move(tx), tasks, threads);

    ASSERT_TRUE(exactly_once(accepted.items, got.items)) << "round " << round;
  }
}

// Senders stop mid-stream by dropping their handles (the last one closes):
// one polling receiver sees each sender's items complete and in the order
// it sent them, whatever the batch size of its polls (1, 5, 126, 127, 128,
// 400 in turn).
TEST(ChannelListPoll, OnePollingReceiverSeesEachSendersItemsInOrder) {
  sluice::runtime rt({.threads = 2});
  constexpr int per_producer = 30'000 * scale;
  auto [tx, rx] = sluice::channel<std::uint64_t>();
  std::vector<std::thread> threads;
  threads.emplace_back([s = tx]() mutable {
    for (int i = 0; i < per_producer; ++i) ASSERT_TRUE(s.send_blocking(encode(0, i)));
  });
  threads.emplace_back([s = tx]() mutable {
    std::vector<std::uint64_t> run;
    for (int i = 0; i < per_producer;) {
      run.clear();
      const int k = std::min(per_producer - i, 1 + i % 300);
      for (int j = 0; j < k; ++j) run.push_back(encode(1, i + j));
      ASSERT_EQ(s.send_batch_blocking(std::span(run)), run.size());
      i += k;
    }
  });
  auto coroutine_sender = rt.spawn([](sluice::channel_sender<std::uint64_t> s) -> sluice::task<void> {
    for (int i = 0; i < per_producer; ++i) {
      std::uint64_t v = encode(2, i);
      if (!co_await s.send(v)) ADD_FAILURE() << "send failed on an open channel";
    }
  }(tx));
  { auto drop = std::move(tx); }

  constexpr std::array<std::size_t, 6> batches{1, 5, 126, 127, 128, 400};
  std::array<int, 3> next{};
  std::vector<std::uint64_t> out;
  for (std::size_t call = 0; !rx.drained(); ++call) {
    out.clear();
    if (rx.try_recv_batch(out, batches[call % batches.size()]) == 0) std::this_thread::yield();
    for (auto v : out) {
      const auto p = static_cast<std::size_t>(v >> 32);
      ASSERT_LT(p, next.size());
      ASSERT_EQ(static_cast<int>(v & 0xffffffffu), next[p]) << "sender " << p;
      ++next[p];
    }
  }
  coroutine_sender.get();
  for (auto& t : threads) t.join();
  for (int n : next) EXPECT_EQ(n, per_producer);
}

// A blocking batch receive leaves a partly written line to its sender for
// its first looks, then takes it: a few items with no more sends coming are
// never left behind, at any offset in a line or a block.
TEST(ChannelListPoll, APartlyFilledLineIsTakenWhenNoMoreSendsCome) {
  auto [tx, rx] = sluice::channel<std::uint64_t>();
  std::uint64_t sent = 0, expect = 0;
  std::vector<std::uint64_t> out;
  for (std::size_t k : {1u, 2u, 3u, 5u, 7u, 120u, 126u, 127u, 128u, 131u}) {
    for (std::size_t i = 0; i < k; ++i) ASSERT_TRUE(tx.try_send(sent++));
    std::size_t got = 0;
    while (got < k) {
      out.clear();
      const std::size_t n = rx.recv_batch_blocking(out, 64);
      ASSERT_GT(n, 0u);
      for (auto v : out) ASSERT_EQ(v, expect++);
      got += n;
    }
    ASSERT_EQ(got, k);
  }
  tx.close();
  out.clear();
  EXPECT_EQ(rx.recv_batch_blocking(out, 64), 0u) << "closed and drained";
  EXPECT_TRUE(rx.drained());
}

// Polls report the end: once closed and drained, try_recv_batch and
// try_recv return nothing and the blocking forms return at once.
TEST(ChannelListPoll, ClosedAndDrainedIsFinalForPolls) {
  auto [tx, rx] = sluice::channel<std::uint64_t>();
  for (std::uint64_t i = 0; i < 300; ++i) ASSERT_TRUE(tx.try_send(i));
  tx.close();
  std::vector<std::uint64_t> out;
  while (rx.try_recv_batch(out, 100) > 0) {
  }
  ASSERT_EQ(out.size(), 300u);
  for (std::uint64_t i = 0; i < 300; ++i) ASSERT_EQ(out[i], i);
  EXPECT_TRUE(rx.drained());
  EXPECT_EQ(rx.try_recv_batch(out, 100), 0u);
  EXPECT_FALSE(rx.try_recv());
  EXPECT_FALSE(rx.recv_blocking());
  EXPECT_EQ(rx.recv_batch_blocking(out, 100), 0u);
}

// An item of about 1 KiB: a block of them is larger than the block pool's
// byte budget (256 KiB), so the pool keeps two blocks and frees every block
// retired beyond that at once. It owns heap memory, so ASan reports an item
// destroyed twice or leaked.
struct kilobyte_item {
  std::unique_ptr<std::uint64_t> value;
  std::array<std::uint64_t, 127> padding{};
};

// A burst of 20,000 such items (157 blocks) is sent first, then drained by
// eight receivers (more threads than cores, so some are preempted between
// loading the head block and reading its slots) polling a few items at a
// time: blocks are retired and freed while other receivers still hold
// stale pointers to them. ASan reports a block read after it was freed:
// freeing without looking at m_peekers made it report a heap-use-after-free
// in five of six runs of 42 rounds, so this runs 60 (a round takes a few
// milliseconds).
TEST(ChannelListPoll, PollingReceiversRaceBlockRecyclingSafely) {
  for (int round = 0; round < 60; ++round) {
    auto [tx, rx] = sluice::channel<kilobyte_item>();
    constexpr int burst = 20'000;
    std::uint64_t expected = 0;
    for (int i = 0; i < burst; ++i) {
      const auto v = static_cast<std::uint64_t>(i);
      ASSERT_TRUE(tx.try_send(kilobyte_item{std::make_unique<std::uint64_t>(v), {}}));
      expected += v;
    }
    tx.close();
    std::atomic<std::uint64_t> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < 8; ++c)
      threads.emplace_back([r = rx, c, &sum, &count]() mutable {
        std::vector<kilobyte_item> out;
        const std::size_t max = 1 + static_cast<std::size_t>(c % 4);  // 1 to 4
        std::uint64_t local_sum = 0;
        int local_count = 0;
        while (!r.drained()) {
          out.clear();
          if (r.try_recv_batch(out, max) == 0) std::this_thread::yield();
          for (auto& v : out) local_sum += *v.value;
          local_count += static_cast<int>(out.size());
        }
        sum += local_sum;
        count += local_count;
      });
    { auto drop = std::move(rx); }
    for (auto& t : threads) t.join();
    EXPECT_EQ(count.load(), burst) << "round " << round;
    EXPECT_EQ(sum.load(), expected) << "round " << round;
  }
}

}  // namespace
