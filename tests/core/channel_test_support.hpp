// Shared by the channel stress tests: how much to run, and how items are
// made traceable to who sent them and collected from any thread.
#pragma once

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

}  // namespace sluice::test
