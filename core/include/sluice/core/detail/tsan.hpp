// Happens-before annotations for ThreadSanitizer.
//
// oneTBB is not built with TSan, so TSan cannot see that the thread calling
// task_arena::enqueue() synchronises with the worker running the functor.
// sluice releases on the hand-off object before the hand-off and acquires on
// it where the work starts; in normal builds these compile to nothing.
#pragma once

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
