#include "sluice/stages/detail/parallel_for.hpp"

#include <algorithm>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include "sluice/core/detail/tsan.hpp"
#include "sluice/core/runtime.hpp"

namespace sluice::detail {

void parallel_for_ranges(std::size_t n, std::size_t grain, index_range_body body) {
  // Arena threads parked between jobs would join only when their park ends.
  if (n > std::max<std::size_t>(grain, 1))
    if (runtime* rt = runtime::current()) rt->wake_parked_threads();
  auto range_body = [&body](const tbb::blocked_range<std::size_t>& r) { body(r.begin(), r.end()); };
  if (grain) {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain), range_body, tbb::simple_partitioner());
  } else {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n), range_body);
  }
  // TSan builds only: oneTBB's root structures were on this stack below
  // `range_body` (see tsan.hpp); 16 KiB covers its frames at -O1.
  tsan_acquire_stack_below(&range_body, 16 * 1024);
}

void sort_indices(std::vector<std::size_t>& indices) { std::sort(indices.begin(), indices.end()); }

}  // namespace sluice::detail
