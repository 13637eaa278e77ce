// sluice::select: exactly one arm completes; losing arms take nothing.
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/select.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/yield_now.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
constexpr int stress_items = 3'000;
#else
constexpr int stress_items = 30'000;
#endif

using rx_t = sluice::channel_receiver<int>;
using tx_t = sluice::channel_sender<int>;

TEST(Select, AReadyArmCompletesAtOnce) {
  auto [tx_a, rx_a] = sluice::channel<int>(4);
  auto [tx_b, rx_b] = sluice::channel<std::string>(4);
  ASSERT_TRUE(tx_b.try_send(std::string("b")));
  auto r = sluice::sync_wait([](rx_t& a, sluice::channel_receiver<std::string>& b) -> sluice::task<std::string> {
    auto got = co_await sluice::select(a, b);
    if (got.index() != 1) co_return "wrong arm";
    co_return std::move(got).get<1>();
  }(rx_a, rx_b));
  EXPECT_EQ(r, "b");
  EXPECT_FALSE(rx_a.try_recv());
  EXPECT_FALSE(rx_b.try_recv());
}

// Items arrive on both channels while the select waits: it takes exactly
// one, and the other is still in its channel.
TEST(Select, ExactlyOneArmTakesAnItemTheOtherKeepsIt) {
  for (int round = 0; round < 200; ++round) {
    sluice::runtime rt({.threads = 2});
    auto [tx_a, rx_a] = sluice::channel<int>(round % 2 ? 0 : 2);
    auto [tx_b, rx_b] = sluice::channel<int>(2);
    auto selected = rt.spawn([](rx_t a, rx_t b) -> sluice::task<std::pair<std::size_t, int>> {
      auto got = co_await sluice::select(a, b);
      if (!got) co_return std::pair<std::size_t, int>{got.index(), -1};
      co_return std::pair<std::size_t, int>{got.index(), got.index() == 0 ? got.get<0>() : got.get<1>()};
    }(rx_a, rx_b));
    std::thread sender_a([&tx = tx_a] { ASSERT_TRUE(tx.send_blocking(10)); });
    std::thread sender_b([&tx = tx_b] { ASSERT_TRUE(tx.send_blocking(20)); });
    sender_a.join();
    sender_b.join();
    auto [index, value] = selected.get();
    ASSERT_LT(index, 2u);
    EXPECT_EQ(value, index == 0 ? 10 : 20);
    // The losing arm left its item where it was.
    auto left = index == 0 ? rx_b.try_recv() : rx_a.try_recv();
    ASSERT_TRUE(left);
    EXPECT_EQ(*left, index == 0 ? 20 : 10);
    EXPECT_FALSE(rx_a.try_recv());
    EXPECT_FALSE(rx_b.try_recv());
  }
}

TEST(Select, AClosedArmDropsOutAndTheOthersStillServe) {
  sluice::runtime rt({.threads = 2});
  auto [tx_a, rx_a] = sluice::channel<int>(1);
  auto [tx_b, rx_b] = sluice::channel<int>(1);
  tx_a.close();
  auto selected = rt.spawn([](rx_t a, rx_t b) -> sluice::task<int> {
    auto got = co_await sluice::select(a, b);
    co_return got.index() == 1 ? got.get<1>() : -1;
  }(rx_a, rx_b));
  ASSERT_TRUE(tx_b.send_blocking(7));
  EXPECT_EQ(selected.get(), 7);
}

TEST(Select, EveryChannelClosedReportsClosed) {
  sluice::runtime rt({.threads = 2});
  auto [tx_a, rx_a] = sluice::channel<int>(1);
  auto [tx_b, rx_b] = sluice::channel<int>(0);
  ASSERT_TRUE(tx_a.try_send(1));
  auto selected = rt.spawn([](rx_t a, rx_t b) -> sluice::task<std::vector<int>> {
    std::vector<int> got;
    for (;;) {
      auto r = co_await sluice::select(a, b);
      if (!r) {
        if (!r.closed() || r.cancelled() || r.index() != decltype(r)::npos) got.push_back(-100);
        co_return got;
      }
      got.push_back(r.index() == 0 ? r.get<0>() : r.get<1>());
    }
  }(rx_a, rx_b));
  ASSERT_TRUE(tx_b.send_blocking(2));
  tx_a.close();  // with an item still buffered: it is delivered first
  tx_b.close();
  auto got = selected.get();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

TEST(Select, TheStopTokenCancelsAWaitingSelectAndTakesNothing) {
  sluice::runtime rt({.threads = 2});
  auto [tx_a, rx_a] = sluice::channel<int>(1);
  auto [tx_b, rx_b] = sluice::channel<int>(0);
  std::stop_source stop;
  std::atomic<bool> waiting{false};
  auto selected = rt.spawn([](std::stop_token token, rx_t a, rx_t b, std::atomic<bool>& w) -> sluice::task<bool> {
    w = true;
    auto r = co_await sluice::select(token, a, b);
    co_return r.cancelled() && !r.closed() && !r;
  }(stop.get_token(), rx_a, rx_b, waiting));
  while (!waiting) std::this_thread::yield();
  stop.request_stop();
  EXPECT_TRUE(selected.get());
  // Items sent afterwards are all there for ordinary receivers.
  ASSERT_TRUE(tx_a.try_send(1));
  ASSERT_TRUE(tx_b.try_send(2));
  EXPECT_EQ(rx_a.try_recv(), 1);
  EXPECT_EQ(rx_b.try_recv(), 2);
}

TEST(Select, AStoppedTokenCancelsBeforeLookingAtTheChannels) {
  auto [tx, rx] = sluice::channel<int>(1);
  ASSERT_TRUE(tx.try_send(5));
  std::stop_source stop;
  stop.request_stop();
  bool cancelled = sluice::sync_wait([](std::stop_token token, rx_t& r) -> sluice::task<bool> {
    auto got = co_await sluice::select(token, r);
    co_return got.cancelled();
  }(stop.get_token(), rx));
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(rx.try_recv(), 5);
}

TEST(Select, ASendArmSendsOnlyWhenItWins) {
  sluice::runtime rt({.threads = 2});
  auto [tx_full, rx_full] = sluice::channel<std::string>(1);
  auto [tx_in, rx_in] = sluice::channel<std::string>(1);
  ASSERT_TRUE(tx_full.try_send(std::string("occupant")));
  // The full channel cannot take the item; the receive arm wins, and the
  // item stays with the caller, unmoved.
  auto selected = rt.spawn([](sluice::channel_sender<std::string> out,
                              sluice::channel_receiver<std::string> in) -> sluice::task<std::string> {
    std::string item = "payload";
    auto r = co_await sluice::select(sluice::send_to(out, item), in);
    if (r.index() != 1) co_return "wrong arm";
    co_return r.get<1>() + "/" + item;
  }(tx_full, rx_in));
  ASSERT_TRUE(tx_in.send_blocking(std::string("input")));
  EXPECT_EQ(selected.get(), "input/payload");
  EXPECT_EQ(rx_full.try_recv(), "occupant");
  EXPECT_FALSE(rx_full.try_recv());

  // Now the send arm wins once a slot frees up.
  ASSERT_TRUE(tx_full.try_send(std::string("occupant")));
  auto sender = rt.spawn([](sluice::channel_sender<std::string> out,
                            sluice::channel_receiver<std::string> in) -> sluice::task<std::string> {
    std::string item = "payload";
    auto r = co_await sluice::select(sluice::send_to(out, item), in);
    co_return r.index() == 0 && item.empty() ? "sent" : "not sent";
  }(tx_full, rx_in));
  EXPECT_EQ(rx_full.recv_blocking(), "occupant");
  EXPECT_EQ(sender.get(), "sent");
  EXPECT_EQ(rx_full.try_recv(), "payload");
}

// Many selectors over several channels, against plain receivers on the same
// channels, with producers racing close: every item is received exactly once.
struct select_stress_case {
  std::size_t capacity;
  bool with_plain_receivers;
};

class SelectStress : public ::testing::TestWithParam<select_stress_case> {};

TEST_P(SelectStress, EveryItemIsReceivedExactlyOnce) {
  constexpr int channels = 3, producers_per_channel = 2, selectors = 4;
  const auto param = GetParam();
  sluice::runtime rt({.threads = 2});
  std::vector<tx_t> senders;
  std::vector<rx_t> receivers;
  for (int c = 0; c < channels; ++c) {
    auto [tx, rx] = sluice::channel<int>(param.capacity);
    senders.push_back(std::move(tx));
    receivers.push_back(std::move(rx));
  }
  std::vector<std::atomic<int>> seen(channels * producers_per_channel * stress_items);
  auto count = [&seen](int v) { seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed); };

  std::vector<sluice::join_handle<long>> consumers;
  for (int s = 0; s < selectors; ++s)
    consumers.push_back(rt.spawn([](rx_t a, rx_t b, rx_t c, decltype(count) counter) -> sluice::task<long> {
      long n = 0;
      for (;;) {
        auto r = co_await sluice::select(a, b, c);
        if (!r) co_return r.closed() ? n : -1;
        counter(r.index() == 0 ? r.get<0>() : r.index() == 1 ? r.get<1>() : r.get<2>());
        ++n;
        if (n % 64 == 0) co_await sluice::yield_now();
      }
    }(receivers[0], receivers[1], receivers[2], count)));
  if (param.with_plain_receivers)
    for (int c = 0; c < channels; ++c)
      consumers.push_back(rt.spawn([](rx_t r, decltype(count) counter) -> sluice::task<long> {
        long n = 0;
        while (auto v = co_await r.recv()) {
          counter(*v);
          ++n;
        }
        co_return n;
      }(receivers[static_cast<std::size_t>(c)], count)));
  receivers.clear();

  std::vector<std::thread> producers;
  for (int c = 0; c < channels; ++c)
    for (int p = 0; p < producers_per_channel; ++p)
      producers.emplace_back(
          [tx = senders[static_cast<std::size_t>(c)], base = (c * producers_per_channel + p) * stress_items]() mutable {
            for (int i = 0; i < stress_items; ++i)
              if (!tx.send_blocking(base + i)) throw std::logic_error("send failed on an open channel");
          });
  senders.clear();  // each channel closes when its producers finish
  for (auto& t : producers) t.join();

  long total = 0;
  for (auto& c : consumers) {
    long n = c.get();
    ASSERT_GE(n, 0) << "a select ended without every channel closed";
    total += n;
  }
  EXPECT_EQ(total, static_cast<long>(seen.size()));
  std::size_t wrong = 0;
  for (auto& s : seen) wrong += s.load() == 1 ? 0 : 1;
  EXPECT_EQ(wrong, 0u) << "items lost or duplicated";
}

INSTANTIATE_TEST_SUITE_P(Mixes, SelectStress,
                         ::testing::Values(select_stress_case{1, false}, select_stress_case{8, true},
                                           select_stress_case{0, false}, select_stress_case{0, true},
                                           select_stress_case{2, true}),
                         [](const auto& test_info) {
                           return (test_info.param.capacity ? "Cap" + std::to_string(test_info.param.capacity)
                                                            : std::string("Unbounded")) +
                                  (test_info.param.with_plain_receivers ? "WithPlainReceivers" : "SelectorsOnly");
                         });

// Selectors with send arms racing each other for the slots of several bounded
// channels, while their own stop tokens fire at random: every item is either
// sent exactly once or still with its producer, never both.
TEST(SelectStressSend, SendArmsAndCancellationLoseAndDuplicateNothing) {
  constexpr int channels = 2, producers = 3;
  sluice::runtime rt({.threads = 2});
  auto [tx_a, rx_a] = sluice::channel<int>(2);
  auto [tx_b, rx_b] = sluice::channel<int>(1);
  std::vector<std::atomic<int>> seen(producers * stress_items);
  std::vector<std::stop_source> stops(producers);

  std::vector<sluice::join_handle<long>> sends;
  for (int p = 0; p < producers; ++p)
    sends.push_back(rt.spawn([](tx_t a, tx_t b, std::stop_token stop, int base) -> sluice::task<long> {
      long cancelled = 0;
      for (int i = 0; i < stress_items;) {
        int item = base + i;
        auto r = co_await sluice::select(stop, sluice::send_to(a, item), sluice::send_to(b, item));
        if (r) {
          ++i;
        } else if (r.cancelled()) {
          ++cancelled;  // the item is still ours: sent again with a fresh select
          stop = std::stop_token{};
        } else {
          co_return -1;
        }
      }
      co_return cancelled;
    }(tx_a, tx_b, stops[static_cast<std::size_t>(p)].get_token(), p * stress_items)));
  tx_a = {};
  tx_b = {};

  std::thread stopper([&stops] {
    for (auto& s : stops) {
      std::this_thread::yield();
      s.request_stop();
    }
  });
  std::vector<std::thread> receivers;
  for (auto* rx : {&rx_a, &rx_b})
    for (int r = 0; r < 2; ++r)
      receivers.emplace_back([rx = *rx, &seen]() mutable {
        for (int v : rx) seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
      });
  rx_a = {};
  rx_b = {};
  stopper.join();
  for (auto& s : sends) ASSERT_GE(s.get(), 0);
  for (auto& t : receivers) t.join();
  std::size_t wrong = 0;
  for (auto& s : seen) wrong += s.load() == 1 ? 0 : 1;
  EXPECT_EQ(wrong, 0u) << "items lost or duplicated";
  (void)channels;
}

}  // namespace
