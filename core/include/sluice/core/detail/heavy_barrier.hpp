// The heavy side of an asymmetric fence (folly's asymmetricHeavyBarrier).
//
// A hot path that must be ordered against a rare one can use plain stores
// and loads plus a compiler barrier (std::atomic_signal_fence) if the rare
// side calls heavy_barrier(): membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
// makes every running thread of the process execute a full memory barrier
// before it returns (and a thread that is not running passed one when it
// was switched out). So for the pattern
//     hot:  store A; signal fence; load B
//     rare: store B; heavy_barrier(); load A
// either the hot side's load sees the rare side's store, or the rare side's
// load sees the hot side's store: the Dekker guarantee of two seq_cst
// fences, paid by the rare side only.
#pragma once

namespace sluice::detail {

/// True if heavy_barrier() works in this process (Linux >= 4.14 and
/// membarrier not blocked by seccomp). Registers the process for the
/// expedited command on the first call; later calls are one load.
[[nodiscard]] bool heavy_barrier_available() noexcept;

/// Orders the calling thread's earlier memory accesses before its later
/// ones as observed by every thread of the process, which each execute a
/// full barrier in between. Call only after heavy_barrier_available()
/// returned true (aborts otherwise). A system call: microseconds.
void heavy_barrier() noexcept;

/// How many heavy_barrier() calls this process has made so far (for tests:
/// each costs an interrupt on every CPU running the process).
[[nodiscard]] unsigned long long heavy_barriers_issued() noexcept;

}  // namespace sluice::detail
