#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/task_scope.hpp>
#include <sluice/core/when_all.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

TEST(Channel, ItemsFromOneSenderArriveInOrder) {
  auto [tx, rx] = sluice::channel<int>(8);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(tx.send_blocking(i));
  });
  int expected = 0;
  for (int v : rx) EXPECT_EQ(v, expected++);
  producer.join();
  EXPECT_EQ(expected, 10'000);
}

TEST(Channel, ClosesWhenTheLastSenderIsDropped) {
  auto [tx, rx] = sluice::channel<int>();
  auto tx2 = tx;
  ASSERT_TRUE(tx.send_blocking(1));
  { auto gone = std::move(tx); }
  EXPECT_FALSE(rx.is_closed());
  ASSERT_TRUE(tx2.send_blocking(2));
  { auto gone = std::move(tx2); }
  EXPECT_TRUE(rx.is_closed());
  EXPECT_EQ(rx.recv_blocking(), 1);
  EXPECT_EQ(rx.recv_blocking(), 2);
  EXPECT_EQ(rx.recv_blocking(), std::nullopt);
  EXPECT_TRUE(rx.drained());
}

TEST(Channel, SendAfterCloseFailsAndLeavesTheItemUntouched) {
  auto [tx, rx] = sluice::channel<std::string>(4);
  rx.close();
  std::string item = "keep me";
  EXPECT_FALSE(tx.send_blocking(item));
  EXPECT_FALSE(tx.try_send(item));
  EXPECT_FALSE(sluice::sync_wait([](sluice::channel_sender<std::string>& s, std::string& i) -> sluice::task<bool> {
    co_return co_await s.send(i);
  }(tx, item)));
  EXPECT_EQ(item, "keep me");
}

TEST(Channel, TrySendReportsFullAndTryRecvReportsEmpty) {
  auto [tx, rx] = sluice::channel<int>(2);
  EXPECT_EQ(rx.try_recv(), std::nullopt);
  EXPECT_TRUE(tx.try_send(1));
  EXPECT_TRUE(tx.try_send(2));
  EXPECT_FALSE(tx.try_send(3));
  EXPECT_EQ(tx.size(), 2u);
  EXPECT_EQ(rx.try_recv(), 1);
  EXPECT_TRUE(tx.try_send(3));
}

TEST(Channel, BackpressureSuspendsTheSenderUntilSpaceFrees) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(2);
  std::atomic<int> sent{0};
  auto producer = rt.spawn([](sluice::channel_sender<int> s, std::atomic<int>& n) -> sluice::task<void> {
    for (int i = 0; i < 5; ++i) {
      if (!co_await s.send(i)) co_return;
      n.fetch_add(1);
    }
  }(std::move(tx), sent));
  // The producer fills the two slots and then stays suspended.
  while (sent.load() < 2) std::this_thread::yield();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sent.load(), 2);
  EXPECT_EQ(rx.recv_blocking(), 0);  // one slot frees: exactly one more send completes
  while (sent.load() < 3) std::this_thread::yield();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sent.load(), 3);
  std::vector<int> rest;
  for (int v : rx) rest.push_back(v);
  producer.get();
  EXPECT_EQ(rest, (std::vector<int>{1, 2, 3, 4}));
}

TEST(Channel, CloseWakesEveryWaitingReceiver) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(4);
  std::vector<sluice::join_handle<bool>> receivers;
  for (int i = 0; i < 8; ++i)
    receivers.push_back(rt.spawn(
        [](sluice::channel_receiver<int> r) -> sluice::task<bool> { co_return !(co_await r.recv()).has_value(); }(rx)));
  std::thread blocked([rx = rx]() mutable { EXPECT_EQ(rx.recv_blocking(), std::nullopt); });
  std::this_thread::sleep_for(30ms);  // let them all suspend
  tx.close();
  for (auto& r : receivers) EXPECT_TRUE(r.get());
  blocked.join();
}

TEST(Channel, CloseWakesEveryWaitingSender) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(1);
  ASSERT_TRUE(tx.try_send(0));  // full
  std::vector<sluice::join_handle<bool>> senders;
  for (int i = 0; i < 8; ++i)
    senders.push_back(rt.spawn(
        [](sluice::channel_sender<int> s, int v) -> sluice::task<bool> { co_return co_await s.send(v); }(tx, i + 1)));
  std::thread blocked([tx = tx]() mutable { EXPECT_FALSE(tx.send_blocking(99)); });
  std::this_thread::sleep_for(30ms);
  rx.close();
  for (auto& s : senders) EXPECT_FALSE(s.get());
  blocked.join();
  EXPECT_EQ(rx.recv_blocking(), 0) << "items sent before close are still delivered";
  EXPECT_EQ(rx.recv_blocking(), std::nullopt);
}

TEST(Channel, DroppingEveryReceiverFailsWaitingSenders) {
  auto [tx, rx] = sluice::channel<int>(1);
  ASSERT_TRUE(tx.try_send(1));
  std::thread blocked([tx = tx]() mutable { EXPECT_FALSE(tx.send_blocking(2)); });
  std::this_thread::sleep_for(20ms);
  { auto gone = std::move(rx); }
  blocked.join();
}

TEST(Channel, RecvBatchTakesUpToMaxInOneGo) {
  auto [tx, rx] = sluice::channel<int>(0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(tx.try_send(i));
  std::vector<int> out;
  EXPECT_EQ(rx.recv_batch_blocking(out, 4), 4u);
  EXPECT_EQ(rx.try_recv_batch(out, 100), 6u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  tx.close();
  EXPECT_EQ(rx.recv_batch_blocking(out, 4), 0u);
}

TEST(Channel, AwaitedRecvBatchWaitsForTheFirstItem) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(16);
  auto consumer = rt.spawn([](sluice::channel_receiver<int> r) -> sluice::task<std::vector<int>> {
    std::vector<int> all;
    while (co_await r.recv_batch(all, 8) > 0) {
    }
    co_return all;
  }(std::move(rx)));
  std::this_thread::sleep_for(10ms);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(tx.send_blocking(i));
  tx.close();
  auto all = consumer.get();
  ASSERT_EQ(all.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], i);
}

TEST(Channel, MoveOnlyItemsAreSupported) {
  auto [tx, rx] = sluice::channel<std::unique_ptr<int>>(2);
  ASSERT_TRUE(tx.send_blocking(std::make_unique<int>(4)));
  auto v = rx.recv_blocking();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(**v, 4);
}

TEST(Channel, UndeliveredItemsAreDestroyedWithTheChannel) {
  auto item = std::make_shared<int>(1);
  {
    auto [tx, rx] = sluice::channel<std::shared_ptr<int>>(4);
    ASSERT_TRUE(tx.send_blocking(std::shared_ptr<int>(item)));
    EXPECT_EQ(item.use_count(), 2);
  }
  EXPECT_EQ(item.use_count(), 1);
}

TEST(Channel, CoroutineProducerAndConsumerOnOneThread) {
  // A single arena thread: a full channel must suspend (not block) the producer.
  sluice::runtime rt({.threads = 1});
  auto [tx, rx] = sluice::channel<int>(1);
  auto run = [](sluice::channel_sender<int> s, sluice::channel_receiver<int> r) -> sluice::task<long> {
    auto produce = [](sluice::channel_sender<int> out) -> sluice::task<void> {
      for (int i = 1; i <= 1000; ++i) co_await out.send(i);
    };
    auto consume = [](sluice::channel_receiver<int> in) -> sluice::task<long> {
      long sum = 0;
      while (auto v = co_await in.recv()) sum += *v;
      co_return sum;
    };
    auto [unused, sum] = co_await sluice::when_all(produce(std::move(s)), consume(std::move(r)));
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(run(std::move(tx), std::move(rx))), 1000L * 1001 / 2);
}

}  // namespace

namespace {

TEST(Channel, OneSenderHandleSharedByManyCoroutinesLosesNothing) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::channel<int>(16);
  auto run = [](sluice::runtime& r, sluice::channel_sender<int>& shared) -> sluice::task<void> {
    sluice::task_scope scope(r);
    for (int c = 0; c < 8; ++c)
      scope.spawn([](sluice::channel_sender<int>& s) -> sluice::task<void> {
        for (int i = 0; i < 2000; ++i) co_await s.send(1);
      }(shared));
    co_await scope.join();
  };
  long total = 0;
  std::thread consumer([r = rx, &total]() mutable {
    for (int v : r) total += v;
  });
  rt.block_on(run(rt, tx));
  { auto drop = std::move(tx); }
  { auto drop = std::move(rx); }
  consumer.join();
  EXPECT_EQ(total, 8 * 2000);
}

}  // namespace

namespace {

// An item type that is only sent through bounded channels (as the chunks
// between pipeline stages are): its channels skip the unbounded storage.
struct bounded_only_item {
  using bounded_channel_only = void;
  std::string text;
};

static_assert(sluice::detail::bounded_channel_only<bounded_only_item>);
static_assert(!sluice::detail::bounded_channel_only<int>);

TEST(Channel, ABoundedOnlyItemTypeWorksBoundedAndRefusesAnUnboundedChannel) {
  auto [tx, rx] = sluice::channel<bounded_only_item>(2);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (int i = 0; i < 1000; ++i)
      if (!tx.send_blocking(bounded_only_item{std::to_string(i)})) return;
  });
  long count = 0;
  for (auto& item : rx) {
    EXPECT_EQ(item.text, std::to_string(count));
    ++count;
  }
  producer.join();
  EXPECT_EQ(count, 1000);
  EXPECT_THROW((void)sluice::channel<bounded_only_item>(0), std::invalid_argument);
}

}  // namespace
