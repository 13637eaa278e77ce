// Shared by the channel stress tests: how much to run, and how items are
// made traceable to who sent them and collected from any thread.
#pragma once

#include <sluice/core/channel.hpp>
#include <sluice/core/task.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
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

/// The receivers the stress tests mix: each drains `rx` until it is closed
/// and drained, then merges what it got into `out`.
/// On a plain thread, `max` items at a time.
inline void drain_in_batches_blocking(channel_receiver<std::uint64_t> rx, std::size_t max, collected& out) {
  std::vector<std::uint64_t> local;
  while (rx.recv_batch_blocking(local, max) > 0) {
  }
  out.merge(local);
}
/// In a coroutine, `max` items at a time.
inline task<void> drain_in_batches(channel_receiver<std::uint64_t> rx, std::size_t max, collected* out) {
  std::vector<std::uint64_t> local;
  while (co_await rx.recv_batch(local, max) > 0) {
  }
  out->merge(local);
}
/// In a coroutine, one item at a time.
inline task<void> drain_one_by_one(channel_receiver<std::uint64_t> rx, collected* out) {
  std::vector<std::uint64_t> local;
  while (auto v = co_await rx.recv()) local.push_back(*v);
  out->merge(local);
}

}  // namespace sluice::test
