#include <sluice/core/oneshot.hpp>
#include <sluice/core/runtime.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <thread>

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

}  // namespace
