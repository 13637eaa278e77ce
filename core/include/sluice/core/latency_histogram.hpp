// sluice::latency_histogram: a fixed, lock-free log-bucket histogram of
// durations, cheap enough to record every item of an async stage.
//
//   sluice::latency_histogram h;
//   h.record(std::chrono::steady_clock::now() - started);   // any thread
//   sluice::latency_summary s = h.summary();                // p50/p90/p99/max
//
// Buckets: every power of two of nanoseconds is split into four equal
// sub-buckets (values below 4 ns have one bucket each), 252 buckets in all,
// covering every int64 nanosecond count with no overflow bucket. A quantile
// is reported as the midpoint of the bucket holding it (at most 12.5% off the
// true value), never above the exact maximum.
//
// Cost of record(): one relaxed fetch_add on the bucket and one relaxed load
// of the maximum (plus a compare-exchange only when a new maximum is seen).
// Thread-safety: record() and summary() may run concurrently from any
// threads; a summary taken during recording may miss items recorded at the
// same time (each counter is read once, relaxed).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "sluice/core/detail/std_parts.hpp"

namespace sluice {

/// Quantiles of a latency_histogram (all zero when count == 0).
struct latency_summary {
  std::uint64_t count = 0;
  std::chrono::nanoseconds sum{0};
  std::chrono::nanoseconds p50{0};
  std::chrono::nanoseconds p90{0};
  std::chrono::nanoseconds p99{0};
  std::chrono::nanoseconds max{0};
};

class latency_histogram {
 public:
  static constexpr std::size_t bucket_count = 252;

  /// Records one duration (negative durations count as 0).
  void record(std::chrono::nanoseconds d) noexcept {
    const auto ns = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
    m_buckets[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
    m_sum.fetch_add(ns, std::memory_order_relaxed);
    auto seen = m_max.load(std::memory_order_relaxed);
    while (ns > seen && !m_max.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
    }
  }

  /// Durations recorded so far (sums the buckets: for snapshots, not per item).
  [[nodiscard]] std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (const auto& b : m_buckets) n += b.load(std::memory_order_relaxed);
    return n;
  }

  /// Count, sum, p50/p90/p99 (bucket midpoints, see the file comment) and the exact maximum.
  [[nodiscard]] latency_summary summary() const noexcept {
    std::array<std::uint64_t, bucket_count> counts{};
    latency_summary s;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      counts[i] = m_buckets[i].load(std::memory_order_relaxed);
      s.count += counts[i];
    }
    if (s.count == 0) return s;
    const auto max = m_max.load(std::memory_order_relaxed);
    s.max = std::chrono::nanoseconds(static_cast<std::int64_t>(max));
    s.sum = std::chrono::nanoseconds(static_cast<std::int64_t>(m_sum.load(std::memory_order_relaxed)));
    s.p50 = quantile(counts, s.count, 50, max);
    s.p90 = quantile(counts, s.count, 90, max);
    s.p99 = quantile(counts, s.count, 99, max);
    return s;
  }

  /// The bucket index of a value in nanoseconds (exposed for tests).
  static constexpr std::size_t bucket_of(std::uint64_t ns) noexcept {
    if (ns < 4) return static_cast<std::size_t>(ns);
    const auto exponent = static_cast<std::size_t>(std::bit_width(ns)) - 1;  // >= 2
    const auto mantissa = static_cast<std::size_t>((ns >> (exponent - 2)) & 3);
    return 4 * (exponent - 1) + mantissa;
  }
  /// Smallest value of bucket `i`.
  static constexpr std::uint64_t bucket_low(std::size_t i) noexcept {
    if (i < 4) return i;
    const std::size_t exponent = i / 4 + 1;
    return static_cast<std::uint64_t>(4 + i % 4) << (exponent - 2);
  }
  /// Largest value of bucket `i`.
  static constexpr std::uint64_t bucket_high(std::size_t i) noexcept {
    return i + 1 < bucket_count ? bucket_low(i + 1) - 1 : ~std::uint64_t{0};
  }

 private:
  // The value below which `percent`% of the items lie: the first bucket whose
  // running count reaches ceil(count * percent / 100).
  static std::chrono::nanoseconds quantile(const std::array<std::uint64_t, bucket_count>& counts, std::uint64_t count,
                                           unsigned percent, std::uint64_t max) noexcept {
    const std::uint64_t rank = (count * percent + 99) / 100;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts[i];
      if (seen >= rank && counts[i] != 0) {
        const auto low = bucket_low(i);
        auto mid = low + (bucket_high(i) - low) / 2;
        if (mid > max) mid = max;
        return std::chrono::nanoseconds(static_cast<std::int64_t>(mid));
      }
    }
    return std::chrono::nanoseconds(static_cast<std::int64_t>(max));
  }

  std::array<std::atomic<std::uint64_t>, bucket_count> m_buckets{};
  std::atomic<std::uint64_t> m_sum{0};
  std::atomic<std::uint64_t> m_max{0};
};

}  // namespace sluice
