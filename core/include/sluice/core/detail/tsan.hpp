// Happens-before annotations for ThreadSanitizer.
//
// oneTBB is not built with TSan, so TSan cannot see that the thread calling
// task_arena::enqueue() synchronises with the worker running the functor.
// sluice releases on the hand-off object before the hand-off and acquires on
// it where the work starts; in normal builds these compile to nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(SLUICE_TSAN)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
#endif

namespace sluice::detail {

inline void tsan_release([[maybe_unused]] const void* addr) noexcept {
#if defined(SLUICE_TSAN)
  __tsan_release(const_cast<void*>(addr));
#endif
}

inline void tsan_acquire([[maybe_unused]] const void* addr) noexcept {
#if defined(SLUICE_TSAN)
  __tsan_acquire(const_cast<void*>(addr));
#endif
}

/// Call on a thread right after a oneTBB parallel algorithm it called has
/// returned, with `top` the address of a local of the calling frame. The
/// algorithm's root structures lived on this thread's stack just below
/// `top` (oneTBB's wait_node and wait_context, which the workers decrement
/// last, and the task_group_context they read), and the wait for the
/// workers ended inside uninstrumented libtbb. So TSan sees the workers'
/// accesses to those stack slots race with whatever this thread later puts
/// there, whenever no other hand-off happened to order them first (seen in
/// the Redis Streams suite once idle arena threads parked long enough to
/// make no such hand-off). Acquiring every synchronisation object TSan
/// keeps in that stretch of stack (the workers' atomic decrements made
/// them; an address without one costs a lookup) orders everything the
/// workers did before their last decrement before this thread's next step.
/// `bytes` bounds the stretch; in normal builds this compiles to nothing.
inline void tsan_acquire_stack_below([[maybe_unused]] const void* top, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(SLUICE_TSAN)
  const std::uintptr_t high = reinterpret_cast<std::uintptr_t>(top) & ~std::uintptr_t{3};
  for (std::uintptr_t at = high - bytes; at < high; at += 4) __tsan_acquire(reinterpret_cast<void*>(at));
#endif
}

/// While alive, TSan ignores the calling thread's writes. Used around
/// constructing a functor inside TBB's task memory: TBB recycles that memory
/// across threads through its uninstrumented pool.
class tsan_ignore_writes {
 public:
  tsan_ignore_writes() noexcept {
#if defined(SLUICE_TSAN)
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
  }
  ~tsan_ignore_writes() {
#if defined(SLUICE_TSAN)
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
  }
  tsan_ignore_writes(const tsan_ignore_writes&) = delete;
  tsan_ignore_writes& operator=(const tsan_ignore_writes&) = delete;
};

/// While alive, TSan ignores the calling thread's reads (the other half of
/// tsan_ignore_writes: reading a functor's fields out of TBB's task memory).
class tsan_ignore_reads {
 public:
  tsan_ignore_reads() noexcept {
#if defined(SLUICE_TSAN)
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
#endif
  }
  ~tsan_ignore_reads() {
#if defined(SLUICE_TSAN)
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
#endif
  }
  tsan_ignore_reads(const tsan_ignore_reads&) = delete;
  tsan_ignore_reads& operator=(const tsan_ignore_reads&) = delete;
};

}  // namespace sluice::detail
