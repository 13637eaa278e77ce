#include "sluice/core/detail/heavy_barrier.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sluice::detail {

namespace {

#if defined(__linux__)
long membarrier(int command) noexcept { return syscall(SYS_membarrier, command, 0, 0); }
#endif

bool register_process() noexcept {
#if defined(__linux__)
  const long commands = membarrier(MEMBARRIER_CMD_QUERY);
  if (commands < 0 || !(commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
  return false;
#endif
}

}  // namespace

bool heavy_barrier_available() noexcept {
  static const bool available = register_process();
  return available;
}

namespace {
std::atomic<unsigned long long> barriers_issued{0};
}  // namespace

unsigned long long heavy_barriers_issued() noexcept { return barriers_issued.load(std::memory_order_relaxed); }

void heavy_barrier() noexcept {
  barriers_issued.fetch_add(1, std::memory_order_relaxed);
#if defined(__linux__)
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
#endif
  // Callers rely on the barrier for correctness; there is no safe fallback.
  std::fputs("sluice: heavy_barrier() without membarrier support\n", stderr);
  std::abort();
}

}  // namespace sluice::detail
