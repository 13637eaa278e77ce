// sluice::select_blocking: select for plain threads (core/select.hpp).
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/select.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
constexpr int stress_items = 2'000;
#else
constexpr int stress_items = 20'000;
#endif

using rx_t = sluice::channel_receiver<int>;
using tx_t = sluice::channel_sender<int>;
using namespace std::chrono_literals;

// Gives a thread that is about to block time to park. Correctness never
// depends on it: a test passes whether the thread parked or not yet.
void let_it_park() { std::this_thread::sleep_for(20ms); }

TEST(SelectBlocking, AReadyArmCompletesAtOnce) {
  auto [tx_a, rx_a] = sluice::channel<int>(4);
  auto [tx_b, rx_b] = sluice::channel<std::string>(4);
  ASSERT_TRUE(tx_b.try_send(std::string("b")));
  auto r = sluice::select_blocking(rx_a, rx_b);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.index(), 1u);
  EXPECT_EQ(r.get<1>(), "b");
}

TEST(SelectBlocking, ABlockedThreadTakesOneItemAndTheOtherStaysInItsChannel) {
  auto [tx_a, rx_a] = sluice::channel<int>(4);
  auto [tx_b, rx_b] = sluice::channel<int>(4);
  std::optional<std::pair<std::size_t, int>> got;
  std::thread selecting([&, a = rx_a, b = rx_b]() mutable {
    auto r = sluice::select_blocking(a, b);
    if (r) got.emplace(r.index(), r.index() == 0 ? r.get<0>() : r.get<1>());
  });
  let_it_park();
  std::thread send_a([tx = tx_a]() mutable { (void)tx.send_blocking(1); });
  std::thread send_b([tx = tx_b]() mutable { (void)tx.send_blocking(2); });
  send_a.join();
  send_b.join();
  selecting.join();
  ASSERT_TRUE(got);
  // The losing arm took nothing: its item is still in its channel.
  auto left_a = rx_a.try_recv();
  auto left_b = rx_b.try_recv();
  if (got->first == 0) {
    EXPECT_EQ(got->second, 1);
    EXPECT_FALSE(left_a);
    EXPECT_EQ(left_b, std::optional<int>(2));
  } else {
    EXPECT_EQ(got->second, 2);
    EXPECT_FALSE(left_b);
    EXPECT_EQ(left_a, std::optional<int>(1));
  }
}

TEST(SelectBlocking, ASendArmSendsOnlyWhenItWinsAndTheLoserKeepsItsItem) {
  auto [tx_a, rx_a] = sluice::channel<std::string>(1);
  auto [tx_b, rx_b] = sluice::channel<std::string>(1);
  ASSERT_TRUE(tx_a.try_send(std::string("filler a")));
  ASSERT_TRUE(tx_b.try_send(std::string("filler b")));
  std::string x = "x", y = "y";
  std::optional<std::size_t> winner;
  std::thread selecting([&, a = tx_a, b = tx_b]() mutable {
    auto r = sluice::select_blocking(sluice::send_to(a, x), sluice::send_to(b, y));
    if (r) winner = r.index();
  });
  let_it_park();
  EXPECT_EQ(rx_b.recv_blocking(), std::optional<std::string>("filler b"));  // frees b's slot
  selecting.join();
  ASSERT_EQ(winner, std::optional<std::size_t>(1));
  EXPECT_EQ(rx_b.try_recv(), std::optional<std::string>("y"));
  EXPECT_EQ(x, "x");  // the losing arm's item is still the caller's
  EXPECT_EQ(rx_a.try_recv(), std::optional<std::string>("filler a"));
  EXPECT_FALSE(rx_a.try_recv());
}

TEST(SelectBlocking, TheStopTokenWakesABlockedThreadAndTakesNothing) {
  auto [tx_a, rx_a] = sluice::channel<int>(2);
  auto [tx_b, rx_b] = sluice::channel<int>(0);
  std::stop_source stop;
  std::atomic<int> status{-1};
  std::thread selecting([&, a = rx_a, b = rx_b]() mutable {
    auto r = sluice::select_blocking(stop.get_token(), a, b);
    status = r.cancelled() ? 1 : 0;
  });
  let_it_park();
  stop.request_stop();
  selecting.join();
  EXPECT_EQ(status.load(), 1);
  // Nothing was left queued: items sent now go to ordinary receivers.
  ASSERT_TRUE(tx_a.try_send(7));
  ASSERT_TRUE(tx_b.try_send(8));
  EXPECT_EQ(rx_a.try_recv(), std::optional<int>(7));
  EXPECT_EQ(rx_b.try_recv(), std::optional<int>(8));
}

TEST(SelectBlocking, AStoppedTokenReturnsCancelledWithoutTakingAReadyItem) {
  auto [tx, rx] = sluice::channel<int>(2);
  ASSERT_TRUE(tx.try_send(1));
  std::stop_source stop;
  stop.request_stop();
  auto r = sluice::select_blocking(stop.get_token(), rx);
  EXPECT_TRUE(r.cancelled());
  EXPECT_EQ(rx.try_recv(), std::optional<int>(1));
}

TEST(SelectBlocking, AClosedArmDropsOutAndClosingTheLastWakesTheThreadWithClosed) {
  auto [tx_a, rx_a] = sluice::channel<int>(2);
  auto [tx_b, rx_b] = sluice::channel<int>(0);
  std::vector<int> got;
  bool closed = false;
  std::thread selecting([&, a = rx_a, b = rx_b]() mutable {
    for (;;) {
      auto r = sluice::select_blocking(a, b);
      if (!r) {
        closed = r.closed();
        return;
      }
      got.push_back(r.index() == 0 ? r.get<0>() : r.get<1>());
    }
  });
  tx_a.close();
  let_it_park();
  ASSERT_TRUE(tx_b.send_blocking(5));
  let_it_park();
  tx_b.close();
  selecting.join();
  EXPECT_EQ(got, std::vector<int>{5});
  EXPECT_TRUE(closed);
}

TEST(SelectBlocking, ASendArmOnAClosedChannelDropsOut) {
  auto [tx_a, rx_a] = sluice::channel<int>(1);
  auto [tx_b, rx_b] = sluice::channel<int>(1);
  rx_a = {};  // the last receiver: a is closed
  int x = 1, y = 2;
  auto r = sluice::select_blocking(sluice::send_to(tx_a, x), sluice::send_to(tx_b, y));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.index(), 1u);
  EXPECT_EQ(rx_b.try_recv(), std::optional<int>(2));
  rx_b = {};
  auto closed = sluice::select_blocking(sluice::send_to(tx_a, x), sluice::send_to(tx_b, y));
  EXPECT_TRUE(closed.closed());
}

// Every kind of receiver on the same channels at once: plain threads in
// select_blocking, coroutines in select, coroutines and threads receiving
// from one channel. Producers send with send_blocking or with
// select_blocking send arms whose stop tokens fire at random (a cancelled
// send keeps its item and sends it again). Every item arrives exactly once.
struct mixed_case {
  std::size_t capacity;
};

class SelectBlockingStress : public ::testing::TestWithParam<mixed_case> {};

TEST_P(SelectBlockingStress, ThreadAndCoroutineSelectsAndPlainReceiversLoseAndDuplicateNothing) {
  constexpr int channels = 3, plain_producers = 3, select_producers = 2;
  constexpr int producers = plain_producers + select_producers;
  const std::size_t capacity = GetParam().capacity;
  sluice::runtime rt({.threads = 2});
  std::vector<tx_t> senders;
  std::vector<rx_t> receivers;
  for (int c = 0; c < channels; ++c) {
    auto [tx, rx] = sluice::channel<int>(capacity);
    senders.push_back(std::move(tx));
    receivers.push_back(std::move(rx));
  }
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(producers) * stress_items);
  std::atomic<long> received{0};
  auto count = [&seen, &received](int v) {
    seen.at(static_cast<std::size_t>(v)).fetch_add(1, std::memory_order_relaxed);
    received.fetch_add(1, std::memory_order_relaxed);
  };
  using counter_t = decltype(count);

  // Consumers.
  std::vector<std::thread> threads;
  std::atomic<int> thread_failures{0};
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, a = receivers[0], b = receivers[1], c = receivers[2]]() mutable {
      for (;;) {
        auto r = sluice::select_blocking(a, b, c);
        if (!r) {
          if (!r.closed()) ++thread_failures;
          return;
        }
        count(r.index() == 0 ? r.get<0>() : r.index() == 1 ? r.get<1>() : r.get<2>());
      }
    });
  threads.emplace_back([&, r = receivers[1]]() mutable {
    for (int v : r) count(v);
  });
  std::vector<sluice::join_handle<bool>> coroutines;
  for (int s = 0; s < 2; ++s)
    coroutines.push_back(rt.spawn([](rx_t a, rx_t b, rx_t c, counter_t counter) -> sluice::task<bool> {
      for (long n = 1;; ++n) {
        auto r = co_await sluice::select(a, b, c);
        if (!r) co_return r.closed();
        counter(r.index() == 0 ? r.get<0>() : r.index() == 1 ? r.get<1>() : r.get<2>());
        if (n % 64 == 0) co_await sluice::yield_now();
      }
    }(receivers[0], receivers[1], receivers[2], count)));
  coroutines.push_back(rt.spawn([](rx_t r, counter_t counter) -> sluice::task<bool> {
    while (auto v = co_await r.recv()) counter(*v);
    co_return true;
  }(receivers[2], count)));
  receivers.clear();

  // Producers.
  std::vector<std::thread> sending;
  for (int p = 0; p < plain_producers; ++p)
    sending.emplace_back([tx = senders[static_cast<std::size_t>(p % channels)], base = p * stress_items]() mutable {
      for (int i = 0; i < stress_items; ++i)
        if (!tx.send_blocking(base + i)) throw std::logic_error("send failed on an open channel");
    });
  // Each select producer's current stop source; the stopper fires it now and
  // then, and the producer replaces a fired one.
  struct stop_slot {
    std::mutex mutex;
    std::stop_source source;
  };
  std::vector<stop_slot> stops(select_producers);
  std::atomic<long> cancelled_sends{0};
  std::atomic<bool> producing{true};
  for (int p = 0; p < select_producers; ++p)
    sending.emplace_back([&, a = senders[0], b = senders[1], c = senders[2], slot = &stops[static_cast<std::size_t>(p)],
                          base = (plain_producers + p) * stress_items]() mutable {
      for (int i = 0; i < stress_items;) {
        int item = base + i;
        std::stop_token token;
        {
          std::lock_guard lock(slot->mutex);
          token = slot->source.get_token();
        }
        auto r = sluice::select_blocking(token, sluice::send_to(a, item), sluice::send_to(b, item),
                                         sluice::send_to(c, item));
        if (r) {
          ++i;
        } else if (r.cancelled()) {
          ++cancelled_sends;  // the item is still ours: send it again under a fresh source
          std::lock_guard lock(slot->mutex);
          slot->source = std::stop_source{};
        } else {
          throw std::logic_error("a send select found every channel closed");
        }
      }
    });
  std::thread stopper([&] {
    while (producing.load()) {
      for (auto& slot : stops) {
        std::lock_guard lock(slot.mutex);
        slot.source.request_stop();
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  senders.clear();
  for (auto& t : sending) t.join();
  producing = false;
  stopper.join();
  // The producers' handles are gone: every channel is closed now.
  for (auto& t : threads) t.join();
  for (auto& c : coroutines) EXPECT_TRUE(c.get()) << "a coroutine select ended without every channel closed";
  EXPECT_EQ(thread_failures.load(), 0);
  EXPECT_EQ(received.load(), static_cast<long>(seen.size()));
  std::size_t wrong = 0;
  for (auto& s : seen) wrong += s.load() == 1 ? 0 : 1;
  EXPECT_EQ(wrong, 0u) << "items lost or duplicated";
}

INSTANTIATE_TEST_SUITE_P(Capacities, SelectBlockingStress,
                         ::testing::Values(mixed_case{1}, mixed_case{8}, mixed_case{0}), [](const auto& test_info) {
                           return test_info.param.capacity ? "Cap" + std::to_string(test_info.param.capacity)
                                                           : std::string("Unbounded");
                         });

}  // namespace
