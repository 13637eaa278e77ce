// Shared by the channel stress tests: how much to run, and how items are
// made traceable to who sent them and collected from any thread.
#pragma once

#include <sluice/core/channel.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/task.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::test {

/// Rounds multiply by this outside the sanitizers, which run ten times slower.
#if defined(SLUICE_TSAN) || defined(__SANITIZE_ADDRESS__)
inline constexpr int stress_scale = 1;
#else
inline constexpr int stress_scale = 10;
#endif

/// Item `i` of `producer`, unique across producers.
inline std::uint64_t encode(int producer, int i) {
  return (static_cast<std::uint64_t>(producer) << 32) | static_cast<std::uint32_t>(i);
}

/// What consumers received, merged from any thread.
struct collected {
  std::mutex mutex;
  std::vector<std::uint64_t> items;
  void merge(const std::vector<std::uint64_t>& local) {
    std::lock_guard lock(mutex);
    items.insert(items.end(), local.begin(), local.end());
  }
};

/// Items of each producer (encode()) arrive in the order it sent them,
/// within what one receiver got.
inline ::testing::AssertionResult in_order_per_producer(const std::vector<std::uint64_t>& received) {
  std::map<std::uint64_t, std::uint64_t> next;  // producer -> smallest index still allowed
  for (std::uint64_t v : received) {
    auto& allowed = next[v >> 32];
    if ((v & 0xffffffffu) < allowed) return ::testing::AssertionFailure() << "item " << v << " out of order";
    allowed = (v & 0xffffffffu) + 1;
  }
  return ::testing::AssertionSuccess();
}

// ---- ping-pong: a receiver parking between the sender's items ----------------------
// The sender sends one item, waits until it was received, waits a varying
// while (so that its next send lands before, during and after the
// receiver's registration as a waiter), and sends the next. A lost wake-up
// leaves the receiver parked and the sender waiting for its
// acknowledgement: the sender gives up after a deadline and fails the test,
// and the caller then closes the channel so nothing hangs.

/// A receiver thread that stores one past each item it received in
/// `acked`: one item at a time for `batch` 0, else batches of `batch`.
/// Returns at the end of the stream.
inline std::thread ack_receiver_thread(channel_receiver<std::uint64_t> rx, std::size_t batch,
                                       std::atomic<std::uint64_t>& acked) {
  return std::thread([r = std::move(rx), batch, &acked]() mutable {
    std::vector<std::uint64_t> buf;
    for (;;) {
      if (batch) {
        buf.clear();
        if (r.recv_batch_blocking(buf, batch) == 0) return;
        acked.store(buf.back() + 1, std::memory_order_release);
      } else if (auto v = r.recv_blocking()) {
        acked.store(*v + 1, std::memory_order_release);
      } else {
        return;
      }
    }
  });
}

/// Sends items 0..n-1 with `send(i)` (true: sent), each once the previous
/// one was acknowledged in `acked`, after a pause of `step` times (i % `steps`).
/// False, with a test failure, on a failed send or a lost wake-up (no
/// acknowledgement within 20 s).
template <typename Send>
bool send_each_after_ack(std::uint64_t n, Send&& send, const std::atomic<std::uint64_t>& acked,
                         std::chrono::nanoseconds step, std::uint64_t steps) {
  for (std::uint64_t i = 0; i < n; ++i) {
    if (!send(i)) {
      ADD_FAILURE() << "item " << i << ": the send failed on an open channel";
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (acked.load(std::memory_order_acquire) < i + 1) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "item " << i << " sent but never received: a lost wake-up";
        return false;
      }
      std::this_thread::yield();
    }
    const auto until = std::chrono::steady_clock::now() + step * static_cast<std::int64_t>(i % steps);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
  return true;
}

/// Receives from `rx` until it is closed and drained: `max` items at a time,
/// or one at a time for max 0. Returns what it got, in the order it got it.
/// On a plain thread.
inline std::vector<std::uint64_t> receive_all_blocking(channel_receiver<std::uint64_t>& rx, std::size_t max) {
  std::vector<std::uint64_t> local;
  if (max) {
    while (rx.recv_batch_blocking(local, max) > 0) {
    }
  } else {
    for (auto v : rx) local.push_back(v);
  }
  return local;
}
/// In a coroutine.
inline task<std::vector<std::uint64_t>> receive_all(channel_receiver<std::uint64_t> rx, std::size_t max) {
  std::vector<std::uint64_t> local;
  if (max) {
    while (co_await rx.recv_batch(local, max) > 0) {
    }
  } else {
    while (auto v = co_await rx.recv()) local.push_back(*v);
  }
  co_return local;
}

/// The receivers the stress tests mix: each drains `rx` until it is closed
/// and drained, then merges what it got into `out`.
/// On a plain thread, `max` items at a time.
inline void drain_in_batches_blocking(channel_receiver<std::uint64_t> rx, std::size_t max, collected& out) {
  out.merge(receive_all_blocking(rx, max));
}
/// In a coroutine, `max` items at a time.
inline task<void> drain_in_batches(channel_receiver<std::uint64_t> rx, std::size_t max, collected* out) {
  out->merge(co_await receive_all(std::move(rx), max));
}
/// In a coroutine, one item at a time.
inline task<void> drain_one_by_one(channel_receiver<std::uint64_t> rx, collected* out) {
  out->merge(co_await receive_all(std::move(rx), 0));
}

/// The senders the stress tests mix: each sends items 0..n-1 of `producer`
/// until the channel closes under it, then merges into `accepted` what the
/// channel took. A send that fails must leave its item untouched.
/// On a plain thread.
inline void send_until_closed_blocking(channel_sender<std::uint64_t> tx, int producer, int n, collected& accepted) {
  std::vector<std::uint64_t> local;
  for (int i = 0; i < n; ++i) {
    std::uint64_t v = encode(producer, i);
    if (!tx.send_blocking(v)) {
      EXPECT_EQ(v, encode(producer, i)) << "a failed send must leave its item untouched";
      break;
    }
    local.push_back(v);
  }
  accepted.merge(local);
}
/// In a coroutine.
inline task<void> send_until_closed(channel_sender<std::uint64_t> tx, int producer, int n, collected* accepted) {
  std::vector<std::uint64_t> local;
  for (int i = 0; i < n; ++i) {
    std::uint64_t v = encode(producer, i);
    if (!co_await tx.send(v)) {
      EXPECT_EQ(v, encode(producer, i)) << "a failed send must leave its item untouched";
      break;
    }
    local.push_back(v);
  }
  accepted->merge(local);
}

/// The end of a stress round: closes the channel under whatever still sends
/// or receives, drops the last handle, and waits for every task and thread.
inline void close_and_join(channel_sender<std::uint64_t> tx, std::vector<join_handle<void>>& tasks,
                           std::vector<std::thread>& threads) {
  tx.close();
  { auto drop = std::move(tx); }
  for (auto& t : tasks) t.get();
  for (auto& t : threads) t.join();
}

/// Whether `got` holds exactly the items of `sent`, in any order: nothing
/// lost, nothing twice. Sorts both in place (callers check order per sender
/// before, or use the sorted items after). An AssertionResult, so a caller
/// chooses ASSERT or EXPECT and adds its round to the message.
inline ::testing::AssertionResult exactly_once(std::vector<std::uint64_t>& sent, std::vector<std::uint64_t>& got) {
  std::sort(sent.begin(), sent.end());
  std::sort(got.begin(), got.end());
  if (got == sent) return ::testing::AssertionSuccess();
  const auto diff = std::mismatch(sent.begin(), sent.end(), got.begin(), got.end());
  auto failure = ::testing::AssertionFailure() << "sent " << sent.size() << " items, received " << got.size();
  if (diff.first != sent.end()) failure << "; item " << *diff.first << " lost or received out of step";
  if (diff.second != got.end()) failure << "; item " << *diff.second << " received but not sent (or twice)";
  return failure;
}

/// An item type whose move constructor may throw: the channels box it, so a
/// claimed slot is always written; it must still behave like any other item.
struct throwing_move {
  std::string text;
  throwing_move() = default;
  explicit throwing_move(std::string t) : text(std::move(t)) {}
  throwing_move(const throwing_move&) = default;
  throwing_move(throwing_move&& o) noexcept(false) : text(std::move(o.text)) {}
  throwing_move& operator=(const throwing_move&) = default;
  throwing_move& operator=(throwing_move&& o) noexcept(false) {
    text = std::move(o.text);
    return *this;
  }
};

}  // namespace sluice::test
