// The seed's parallel_sum, in sluice.
//
// Tokio + Rayon version:
//   let (send, recv) = tokio::sync::oneshot::channel();
//   rayon::spawn(move || { let sum = nums.par_iter().sum(); let _ = send.send(sum); });
//   recv.await.expect("Panic in rayon::spawn")
//
// sluice runs the coroutine and the data-parallel sum on one TBB arena, so the
// parallel_reduce shares threads with the async side instead of competing
// with a second pool; the result comes back through a oneshot.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_reduce.h>

#include <cstdio>
#include <functional>
#include <sluice/core/core.hpp>
#include <vector>

sluice::task<long> parallel_sum(std::vector<int> nums) {
  auto sum_on_pool = [nums = std::move(nums)] {
    return tbb::parallel_reduce(
        tbb::blocked_range<std::size_t>(0, nums.size()), 0L,
        [&](const tbb::blocked_range<std::size_t>& range, long acc) {
          for (auto i = range.begin(); i != range.end(); ++i) acc += nums[i];
          return acc;
        },
        std::plus<>());
  };
  // offload() = rayon::spawn + oneshot: runs on the arena, resumes us with the
  // result (or rethrows what the function threw; no "Panic in rayon::spawn").
  co_return co_await sluice::offload(std::move(sum_on_pool));
}

int main() {
  sluice::runtime rt;  // one arena thread per core, one reactor thread
  long sum = rt.block_on(parallel_sum(std::vector<int>(1024 * 1024, 1)));
  std::printf("%ld\n", sum);
  return sum == 1024 * 1024 ? 0 : 1;
}
