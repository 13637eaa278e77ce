#include <sluice/core/oneshot.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/wait_note.hpp>

#include <gtest/gtest.h>

#include "../wait_support.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

TEST(Oneshot, ValueSentBeforeAwaitIsReceived) {
  auto [tx, rx] = sluice::oneshot<int>();
  tx.send(5);
  EXPECT_TRUE(rx.ready());
  EXPECT_EQ(sluice::sync_wait(
                [](sluice::oneshot_receiver<int> r) -> sluice::task<int> { co_return co_await r; }(std::move(rx))),
            5);
}

TEST(Oneshot, AwaitingCoroutineResumesOnItsRuntimeWhenValueArrivesFromAThread) {
  sluice::runtime rt({.threads = 2});
  auto [tx, rx] = sluice::oneshot<std::unique_ptr<int>>();
  std::thread producer([tx = std::move(tx)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    tx.send(std::make_unique<int>(9));
  });
  auto got = rt.block_on([](sluice::oneshot_receiver<std::unique_ptr<int>> r) -> sluice::task<std::pair<int, bool>> {
    auto v = co_await r;
    co_return std::pair{*v, sluice::runtime::current() != nullptr};
  }(std::move(rx)));
  producer.join();
  EXPECT_EQ(got.first, 9);
  EXPECT_TRUE(got.second) << "resumed outside the runtime's arena";
}

TEST(Oneshot, FailDeliversTheExceptionToTheReceiver) {
  auto [tx, rx] = sluice::oneshot<int>();
  tx.fail(std::make_exception_ptr(std::invalid_argument("bad input")));
  EXPECT_THROW(rx.get(), std::invalid_argument);
}

TEST(Oneshot, DroppedSenderBreaksThePromise) {
  auto [tx, rx] = sluice::oneshot<int>();
  { auto dropped = std::move(tx); }
  EXPECT_THROW(rx.get(), sluice::broken_promise);
}

TEST(Oneshot, DroppedSenderWakesAnAwaitingCoroutine) {
  sluice::runtime rt({.threads = 1});
  auto [tx, rx] = sluice::oneshot<int>();
  std::thread dropper([tx = std::move(tx)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto gone = std::move(tx);
  });
  EXPECT_THROW(
      rt.block_on([](sluice::oneshot_receiver<int> r) -> sluice::task<int> { co_return co_await r; }(std::move(rx))),
      sluice::broken_promise);
  dropper.join();
}

TEST(Oneshot, BlockingGetWaitsForTheValue) {
  auto [tx, rx] = sluice::oneshot<void>();
  std::thread producer([tx = std::move(tx)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    tx.send();
  });
  rx.get();
  producer.join();
  SUCCEED();
}

TEST(Oneshot, ReceiverDroppedBeforeSendIsHarmless) {
  auto [tx, rx] = sluice::oneshot<std::shared_ptr<int>>();
  auto payload = std::make_shared<int>(1);
  { auto gone = std::move(rx); }
  tx.send(payload);
  EXPECT_EQ(payload.use_count(), 1) << "the value must be released with the shared state";
}

// The waits listed with `what`, once there are `count` (see wait_support.hpp).
std::vector<sluice::wait_entry> waits_about(const std::string& what, std::size_t count) {
  return sluice::testing::waits_matching([&](const sluice::wait_entry& w) { return w.what == what; }, count);
}

// A library whose replies arrive through a oneshot (the Redis connection)
// names what its caller waits for; an unlabelled receiver keeps the generic
// label; neither is listed once the value arrived, and a label made while
// waits are not watched is never read.
TEST(Oneshot, ALabelledReceiverIsListedWithItsLabelWhileAwaited) {
  sluice::runtime rt({.threads = 2});
  sluice::wait_watch watch;
  auto [labelled_tx, labelled_rx] = sluice::oneshot<int>();
  auto [plain_tx, plain_rx] = sluice::oneshot<int>();
  labelled_rx.label_wait(sluice::wait_kind::redis, "XREADGROUP on 127.0.0.1:6379");
  auto await = [](sluice::oneshot_receiver<int> r) -> sluice::task<int> { co_return co_await r; };
  auto labelled = rt.spawn(await(std::move(labelled_rx)));
  auto plain = rt.spawn(await(std::move(plain_rx)));

  const auto named = waits_about("XREADGROUP on 127.0.0.1:6379", 1);
  ASSERT_EQ(named.size(), 1u) << "the labelled wait is not listed";
  EXPECT_EQ(named[0].kind, sluice::wait_kind::redis);
  EXPECT_EQ(sluice::to_string(named[0].kind), "Redis");
  const auto generic = waits_about("oneshot (a spawned task's result or a sender's value)", 1);
  ASSERT_FALSE(generic.empty()) << "the unlabelled wait is not listed";
  EXPECT_TRUE(
      std::all_of(generic.begin(), generic.end(), [](const auto& w) { return w.kind == sluice::wait_kind::oneshot; }));

  labelled_tx.send(1);
  plain_tx.send(2);
  EXPECT_EQ(labelled.get(), 1);
  EXPECT_EQ(plain.get(), 2);
  for (const auto& w : sluice::current_waits()) EXPECT_NE(w.what, "XREADGROUP on 127.0.0.1:6379");
}

}  // namespace
