// The median the benchmarks report beside their sums: one slow round moves
// a sum or a mean, and the median it does not.
#pragma once

#include <algorithm>
#include <vector>

namespace sluice_bench {

/// The middle value of `v` (the mean of the two middle ones for an even
/// count); 0 for none.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace sluice_bench
