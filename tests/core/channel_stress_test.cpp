// Stress: 4 producers x 4 consumers in every mix of coroutines and threads,
// bounded and unbounded, with close racing the tail of the stream. The exact
// multiset of received items must equal what was sent: nothing lost, nothing
// duplicated.
#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include "channel_test_support.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

#if defined(SLUICE_TSAN) || defined(__SANITIZE_ADDRESS__)
constexpr int items_per_producer = 5'000;
#else
constexpr int items_per_producer = 50'000;
#endif
constexpr int producers = 4;
constexpr int consumers = 4;

struct stress_case {
  bool coroutine_producers;
  bool coroutine_consumers;
  std::size_t capacity;
  bool batch_consumers;
};

class ChannelStress : public ::testing::TestWithParam<stress_case> {};

using namespace sluice::test;  // channel_test_support.hpp

TEST_P(ChannelStress, EveryItemIsReceivedExactlyOnce) {
  const auto param = GetParam();
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<std::uint64_t>(param.capacity);

  std::mutex merge_mutex;
  std::vector<std::uint64_t> received;
  auto merge = [&](std::vector<std::uint64_t>& local) {
    std::lock_guard lock(merge_mutex);
    received.insert(received.end(), local.begin(), local.end());
  };

  std::vector<sluice::join_handle<void>> tasks;
  std::vector<std::thread> threads;

  const std::size_t max = param.batch_consumers ? 64 : 0;
  for (int c = 0; c < consumers; ++c) {
    if (param.coroutine_consumers) {
      tasks.push_back(
          rt.spawn([](sluice::channel_receiver<std::uint64_t> r, std::size_t n, auto merge_fn) -> sluice::task<void> {
            auto local = co_await receive_all(std::move(r), n);
            merge_fn(local);
          }(rx, max, merge)));
    } else {
      threads.emplace_back([r = rx, max, &merge]() mutable {
        auto local = receive_all_blocking(r, max);
        merge(local);
      });
    }
  }
  { auto drop = std::move(rx); }  // consumers hold the only receivers

  for (int p = 0; p < producers; ++p) {
    if (param.coroutine_producers) {
      tasks.push_back(rt.spawn([](sluice::channel_sender<std::uint64_t> s, int id) -> sluice::task<void> {
        for (int i = 0; i < items_per_producer; ++i) {
          std::uint64_t v = encode(id, i);
          if (!co_await s.send(v)) throw std::logic_error("send failed on an open channel");
        }
      }(tx, p)));
    } else {
      threads.emplace_back([s = tx, p]() mutable {
        for (int i = 0; i < items_per_producer; ++i)
          if (!s.send_blocking(encode(p, i))) throw std::logic_error("send failed on an open channel");
      });
    }
  }
  { auto drop = std::move(tx); }  // the channel closes when the last producer finishes

  for (auto& t : tasks) t.get();
  for (auto& t : threads) t.join();

  std::vector<std::uint64_t> expected;
  for (int p = 0; p < producers; ++p)
    for (int i = 0; i < items_per_producer; ++i) expected.push_back(encode(p, i));
  ASSERT_TRUE(exactly_once(expected, received));
}

INSTANTIATE_TEST_SUITE_P(Mixes, ChannelStress,
                         ::testing::Values(stress_case{true, true, 16, false}, stress_case{false, false, 16, false},
                                           stress_case{true, false, 16, false}, stress_case{false, true, 16, false},
                                           stress_case{true, true, 0, false}, stress_case{false, false, 1, false},
                                           stress_case{true, true, 64, true}, stress_case{false, false, 64, true},
                                           stress_case{true, false, 3, true}),
                         [](const auto& test_info) {
                           const auto& p = test_info.param;
                           return std::string(p.coroutine_producers ? "Coro" : "Thread") + "Producers" +
                                  (p.coroutine_consumers ? "Coro" : "Thread") + (p.batch_consumers ? "Batch" : "") +
                                  "Consumers" +
                                  (p.capacity ? "Cap" + std::to_string(p.capacity) : std::string("Unbounded"));
                         });

// Close races with in-flight sends: every send that reported success must be
// received, and nothing else.
TEST(ChannelStressClose, ExplicitCloseRacingSendsLosesNothing) {
  for (int round = 0; round < 20; ++round) {
    auto [tx, rx] = sluice::channel<int>(8);
    std::atomic<int> accepted{0};
    std::vector<std::thread> senders;
    for (int p = 0; p < 3; ++p)
      senders.emplace_back([s = tx, &accepted]() mutable {
        for (int i = 0; i < 2000; ++i) {
          if (!s.send_blocking(1)) break;
          accepted.fetch_add(1);
        }
      });
    int got = 0;
    std::thread consumer([r = rx, &got]() mutable {
      for (int v : r) got += v;
    });
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 5)));
    tx.close();
    for (auto& s : senders) s.join();
    consumer.join();
    EXPECT_EQ(got, accepted.load()) << "round " << round;
  }
}

}  // namespace

namespace {

// A coroutine hops between arena threads; its items must still arrive in
// the order it sent them, bounded (ring) and unbounded (list).
class ChannelStressOrder : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ChannelStressOrder, EachCoroutineSendersItemsArriveInOrder) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<std::uint64_t>(GetParam());
  std::vector<sluice::join_handle<void>> producers_done;
  for (int p = 0; p < producers; ++p)
    producers_done.push_back(rt.spawn([](sluice::channel_sender<std::uint64_t> s, int id) -> sluice::task<void> {
      for (int i = 0; i < items_per_producer / 5; ++i) {
        std::uint64_t v = encode(id, i);
        co_await s.send(v);
        if (i % 64 == 0) co_await sluice::runtime::current()->schedule();  // force migrations
      }
    }(tx, p)));
  { auto drop = std::move(tx); }
  std::vector<std::int64_t> last(producers, -1);
  for (auto v : rx) {
    auto id = static_cast<std::size_t>(v >> 32);
    auto i = static_cast<std::int64_t>(v & 0xffffffffu);
    ASSERT_EQ(i, last[id] + 1) << "producer " << id << " out of order";
    last[id] = i;
  }
  for (auto& p : producers_done) p.get();
  for (auto l : last) EXPECT_EQ(l, items_per_producer / 5 - 1);
}

INSTANTIATE_TEST_SUITE_P(Capacities, ChannelStressOrder, ::testing::Values(std::size_t{8}, std::size_t{0}),
                         [](const auto& test_info) {
                           const std::size_t cap = test_info.param;
                           return cap ? "Cap" + std::to_string(cap) : std::string("Unbounded");
                         });

// The stress tests' verdict itself: a lost item and an item received twice
// are both failures, whatever the order they arrived in.
TEST(ChannelTestSupport, ExactlyOnceFailsOnALostOrADuplicatedItem) {
  std::vector<std::uint64_t> sent{3, 1, 2};
  std::vector<std::uint64_t> got{2, 3, 1};
  EXPECT_TRUE(exactly_once(sent, got));
  std::vector<std::uint64_t> lost{2, 3};
  EXPECT_FALSE(exactly_once(sent, lost));
  std::vector<std::uint64_t> twice{2, 3, 1, 3};
  EXPECT_FALSE(exactly_once(sent, twice));
  std::vector<std::uint64_t> swapped{2, 3, 4};
  EXPECT_FALSE(exactly_once(sent, swapped));
}

}  // namespace
