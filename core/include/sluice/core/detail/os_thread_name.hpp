// Names the calling thread for the operating system (top -H, ps -L, perf,
// gdb, /proc/<pid>/task/*/comm), so a user can tell sluice's own threads
// from theirs and from oneTBB's. For sluice's own .cpp files (core's
// threads, the stall watchdog's); not part of the public API.
#pragma once

#include <pthread.h>

#include <thread>

namespace sluice::detail {

/// `name` must be a literal of at most 15 characters (the kernel's limit; a
/// longer one is refused and the thread keeps its name). Best effort: a
/// failure changes nothing else.
inline void name_os_thread(const char* name) noexcept { (void)::pthread_setname_np(::pthread_self(), name); }

/// The same for a thread just started, named by its starter: the name is
/// there before the starter goes on (a thread naming itself may not have
/// run yet).
inline void name_os_thread(std::thread& thread, const char* name) noexcept {
  (void)::pthread_setname_np(thread.native_handle(), name);
}

}  // namespace sluice::detail
