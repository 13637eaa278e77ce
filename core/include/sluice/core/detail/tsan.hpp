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

}  // namespace sluice::detail
