// Shared helpers for the stage tests.
#pragma once

#include <sluice/sluice.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <numeric>
#include <vector>

namespace sluice_test {

// Sanitizer builds run 5-15x slower: scale the big item counts down there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
inline constexpr std::size_t scale = 5;
#else
inline constexpr std::size_t scale = 1;
#endif

inline std::vector<int> iota(std::size_t n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Counts live instances: constructed (including copies/moves) minus destroyed.
struct tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> peak{0};
  int value = 0;
  explicit tracked(int v) : value(v) { up(); }
  tracked(const tracked& o) : value(o.value) { up(); }
  tracked(tracked&& o) noexcept : value(o.value) { up(); }
  tracked& operator=(const tracked&) = default;
  tracked& operator=(tracked&&) noexcept = default;
  ~tracked() { live.fetch_sub(1); }
  static void up() {
    auto now = live.fetch_add(1) + 1;
    auto seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  static void reset() {
    live = 0;
    peak = 0;
  }
};

inline void expect_chained(const sluice::pipeline_report& r) {
  for (std::size_t i = 1; i < r.stages.size(); ++i) {
    if (r.stages[i].items_in != r.stages[i - 1].emitted) {
      ADD_FAILURE() << "stage " << i << " received " << r.stages[i].items_in << " but stage " << i - 1 << " emitted "
                    << r.stages[i - 1].emitted;
    }
  }
  for (const auto& s : r.stages)
    EXPECT_TRUE(s.balanced()) << s.name << ": in " << s.items_in << " out " << s.items_out << " dropped " << s.dropped
                              << " failed " << s.failed << " cancelled " << s.cancelled;
}

}  // namespace sluice_test
