#pragma once
// splitmix64: tiny, fast, and identical on every platform, so generated data
// is reproducible everywhere (std::uniform_int_distribution is not).

#include <cstdint>

namespace sluice::fake_github::detail {

class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : m_state(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n); n > 0. (Modulo bias is irrelevant here.)
  std::uint64_t uniform(std::uint64_t n) { return next() % n; }
  /// Uniform in [lo, hi], inclusive.
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + uniform(hi - lo + 1); }
  /// Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }

 private:
  std::uint64_t m_state;
};

}  // namespace sluice::fake_github::detail
