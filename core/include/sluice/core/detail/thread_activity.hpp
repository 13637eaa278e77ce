// What each thread that works for a runtime is doing, for the stall dump
// (stages/src/watchdog.cpp): whether it is inside one of the runtime's jobs
// (a coroutine resumed, a task or closure run on the arena) and which one,
// and which synchronous section of a library layer (a pipeline's stage) it
// runs. One slot per thread, written only by that thread with relaxed
// stores, read by a dump on another thread.
//
// Why jobs, not only sections: a coroutine that does not suspend (blocking
// or long CPU work in an async stage, the classic way to stall an
// executor) holds its arena thread inside a job while no stage's
// synchronous section is open; without the job mark a dump listed that
// thread as idle.
//
// Cost: a job's start and end are one relaxed store each to the thread's
// own slot, and no clock is read. How long a thread has been in one job is
// measured by whoever samples `job` over time (the stall watchdog, every
// period): the same odd value in two samples is the same job.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace sluice::detail {

/// What a thread is to the runtime it works for, so that a stall dump words
/// its state rightly: a job on the reactor holds every socket and timer, a
/// job on the blocking pool is a spawn_blocking call, any other job a
/// coroutine or task on the arena. Set by the thread itself when it starts
/// serving a runtime (not from its OS name, which user code may change).
enum class thread_role : std::uint8_t {
  jobs,           // an arena thread, or any thread that runs a runtime's jobs or a stage's sections
  reactor,        // the runtime's reactor (reactor.cpp's loop)
  blocking_pool,  // a thread of the runtime's blocking pool (spawn_blocking)
};

/// One thread's slot (see the file comment). A cache line of its own: each
/// arena thread writes its slot on every job.
struct alignas(64) thread_activity {
  std::atomic<std::uint64_t> runtime{0};            // id() of the runtime the thread last worked for
  std::atomic<std::uint64_t> job{0};                // odd inside a job (a new value per job), even between jobs
  std::atomic<const void*> section_owner{nullptr};  // the open synchronous section's owner (a run), or null
  std::atomic<std::uint32_t> section{0};            // which section of the owner (a stage's index)
  std::atomic<int> arena_index{-1};                 // the thread's slot in that runtime's arena, -1 if none
  std::atomic<thread_role> role{thread_role::jobs};
  std::int64_t thread_id = 0;
  int job_depth = 0;  // the owner's: jobs nested in a job (oneTBB runs queued work while a thread waits)
};

/// The calling thread's slot, registered on first use and released (kept
/// for reuse by a later thread) when the thread exits.
thread_activity& this_thread_activity() noexcept;

/// A snapshot of one registered thread.
struct thread_activity_view {
  std::int64_t thread_id = 0;
  int arena_index = -1;
  std::uint64_t runtime = 0;
  std::uint64_t job = 0;
  const void* section_owner = nullptr;
  std::uint32_t section = 0;
  thread_role role = thread_role::jobs;
  [[nodiscard]] bool in_job() const noexcept { return (job & 1) != 0; }
};

/// Every live thread that ever ran a runtime's job or a stage's section.
std::vector<thread_activity_view> thread_activity_views();

/// Names the calling thread as `role` of the runtime `runtime_id` (its
/// reactor, a thread of its blocking pool) in its slot, before its first job.
void mark_this_thread(std::uint64_t runtime_id, thread_role role) noexcept;

/// Marks the calling thread inside a job of the runtime `runtime_id` for
/// its lifetime (runtime.cpp, around each job). Nested jobs keep the mark
/// and give it a new value, so a sampler sees the thread make progress.
/// `arena_index()` (the thread's slot in the runtime's arena, which oneTBB
/// may change when a thread leaves an arena and joins it again) is asked
/// only for an outermost job.
class job_mark {
 public:
  template <typename ArenaIndex>
  job_mark(thread_activity& slot, std::uint64_t runtime_id, ArenaIndex&& arena_index) noexcept : m_slot(slot) {
    const auto job = slot.job.load(std::memory_order_relaxed);
    if (slot.job_depth++ > 0) {
      slot.job.store(job + 2, std::memory_order_relaxed);
      return;
    }
    slot.runtime.store(runtime_id, std::memory_order_relaxed);
    slot.arena_index.store(arena_index(), std::memory_order_relaxed);
    slot.job.store(job + 1, std::memory_order_relaxed);
  }
  ~job_mark() {
    leave(m_slot);
    --m_slot.job_depth;
  }
  job_mark(const job_mark&) = delete;
  job_mark& operator=(const job_mark&) = delete;

  /// The outermost job's work is done (its thread is about to park at the
  /// job's end, or the job returned): the thread is marked between jobs.
  /// A nested job leaves the mark to its outer one.
  static void leave(thread_activity& slot) noexcept {
    if (slot.job_depth > 1) return;
    const auto job = slot.job.load(std::memory_order_relaxed);
    if (job & 1) slot.job.store(job + 1, std::memory_order_relaxed);
  }

 private:
  thread_activity& m_slot;
};

}  // namespace sluice::detail
