#include "sluice/core/runtime.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "sluice/core/detail/thread_activity.hpp"
#include "sluice/core/detail/tsan.hpp"

namespace sluice {
namespace {
thread_local runtime* t_current_runtime = nullptr;

// A coroutine woken by the job running on this arena thread is offered twice:
// in this thread's LIFO slot, to run here as soon as the job returns (a
// producer handing over to its consumer on the same warm core, as Tokio's LIFO
// slot does), and as an ordinary arena job, so an idle thread can take it at
// once if this job goes on for long. Whoever exchanges the claim first runs it.
using lifo_claim = std::shared_ptr<std::atomic<void*>>;
thread_local lifo_claim t_lifo_slot;
constexpr int lifo_budget = 64;  // consecutive hand-overs before yielding to the queue

void run_claim(const lifo_claim& claim) {
  if (void* address = claim->exchange(nullptr, std::memory_order_acq_rel))
    std::coroutine_handle<>::from_address(address).resume();
}

int current_arena_index() noexcept { return tbb::this_task_arena::current_thread_index(); }

std::size_t resolve_threads(std::size_t requested) {
  if (requested) return requested;
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}
}  // namespace

namespace detail {
runtime* current_runtime() noexcept { return t_current_runtime; }

void resume_on(runtime* rt, std::coroutine_handle<> h) {
  if (!rt) {
    h.resume();
  } else if (rt == t_current_runtime) {
    auto claim = std::make_shared<std::atomic<void*>>(h.address());
    t_lifo_slot = claim;  // an earlier occupant stays claimable through its queued job
    rt->execute([claim = std::move(claim)] { run_claim(claim); });
  } else {
    rt->post(h);
  }
}
}  // namespace detail

runtime::current_scope::current_scope(runtime* rt) noexcept : m_previous(t_current_runtime) { t_current_runtime = rt; }
runtime::current_scope::~current_scope() { t_current_runtime = m_previous; }

// Declared in this order so the arena goes before the parallelism limit.
struct runtime::arena_state {
  explicit arena_state(std::size_t threads)
      : parallelism([&]() -> std::optional<tbb::global_control> {
          // No slot is reserved for a master thread: all work is enqueued, so
          // all `threads` slots are for TBB workers. TBB creates at most
          // max_allowed_parallelism - 1 workers, hence the +1 when that is short.
          auto allowed = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
          if (allowed >= threads + 1) return std::nullopt;
          return std::optional<tbb::global_control>(std::in_place, tbb::global_control::max_allowed_parallelism,
                                                    threads + 1);
        }()),
        arena(static_cast<int>(threads), 0) {
    arena.initialize();
  }
  std::optional<tbb::global_control> parallelism;
  tbb::task_arena arena;
  // Parking (park_while_idle): jobs enqueued and not started yet, arena
  // threads parked, the futex word they sleep on, and "stop parking" (set by
  // the destructor).
  alignas(64) std::atomic<std::size_t> queued{0};
  alignas(64) std::atomic<std::uint32_t> parked{0};
  std::atomic<std::uint32_t> wake_word{0};
  std::atomic<bool> closing{false};
  // Whether the latest wake came from an arena thread (see park_while_idle).
  std::atomic<bool> woken_from_arena{false};

  // oneTBB 2021.8's idle loop (a worker that finds no task) pauses, then calls
  // sched_yield about a hundred times before it sleeps: in an I/O-bound run,
  // where the reactor hands the arena a little work every few tens of
  // microseconds, that loop was about two thirds of the arena's CPU and a
  // quarter of all context switches. So a job that ends with nothing queued
  // keeps its thread here instead, asleep on our own futex, until enqueue()
  // hands the arena a job (and wakes it: the thread then returns to oneTBB,
  // which finds that job at once) or the park limit passes (then it returns
  // to oneTBB's idle loop, which sleeps in its turn: an idle runtime still
  // uses no CPU). The job stays counted in m_outstanding while parked, so the
  // destructor wakes parked threads before it waits. A parked thread holds
  // an arena slot: a tbb::parallel_for started meanwhile gets its help only
  // once it wakes (sluice's parallel_map wakes it first: wake_parked_threads;
  // a raw tbb::parallel_for at the next enqueue, or within the park limit).
  //
  // The park limit adapts to the idle gaps the arena sees, between
  // k_park_min_ns and k_park_max_ns: a park that times out doubles it, and a
  // park that work ends within a quarter of it takes 1/256 off it, so it
  // settles where about one park in a few hundred times out. A fixed 2 ms
  // was shorter than the gaps between the reactor's hand-overs in
  // sluice_http_bench's throughput run (a round serves ~40 completions;
  // gaps of 0-10 ms on the 2-core VM), so the arena threads went through
  // the idle loop after nearly every round: 2.6 sched_yields per request,
  // about a tenth of the client's CPU (0.1 with the adaptive limit, which
  // settles near 10 ms there). A pipeline handing items on every few
  // microseconds never times out and keeps the 2 ms it starts with.
  //
  // A wake can find nothing to do: enqueue() wakes a parked thread whenever
  // one is parked, and another thread (one just ending its job, or one that
  // never slept) may start the job first. What such a thread does next
  // depends on who woke it. Woken by a hand-over from outside the arena
  // (the reactor's batches, block_on), it parks again for the rest of the
  // limit: returning to oneTBB with nothing queued would send it
  // through the idle loop above (sluice_http_bench: 140-710 such wakes per
  // 18,100 requests, each about a hundred sched_yields). Woken by a
  // hand-over from inside (a pipeline's stages handing items to each
  // other), it returns to oneTBB, whose idle loop then catches the next
  // hand-over without a futex wake: parking again there made log_bench's
  // sluice pipeline 15-30% slower.
  static constexpr long k_park_min_ns = 2'000'000;
  static constexpr long k_park_max_ns = 20'000'000;
  std::atomic<long> park_limit_ns{k_park_min_ns};  // shared by the arena's threads; a heuristic, so relaxed

  void park_while_idle() noexcept {
    const long limit_ns = park_limit_ns.load(std::memory_order_relaxed);
    parked.fetch_add(1, std::memory_order_seq_cst);
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    long waited_ns = 0;
    enum class outcome { work_at_once, woken, timed_out } how = outcome::woken;
    for (;;) {
      const std::uint32_t seen = wake_word.load(std::memory_order_seq_cst);
      // Dekker with enqueue(): it counts `queued` then reads `parked`; we
      // count `parked` then read `queued`, so one of us sees the other. A
      // wake that comes between this check and the wait changes wake_word
      // from `seen`, and the wait returns at once.
      if (queued.load(std::memory_order_seq_cst) != 0 || closing.load(std::memory_order_seq_cst)) {
        if (waited_ns == 0) how = outcome::work_at_once;
        break;
      }
      timespec left{0, limit_ns - waited_ns};
      const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word), FUTEX_WAIT_PRIVATE, seen,
                                &left, nullptr, 0);
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      waited_ns = (now.tv_sec - start.tv_sec) * 1'000'000'000L + (now.tv_nsec - start.tv_nsec);
      if ((rc != 0 && errno == ETIMEDOUT) || waited_ns >= limit_ns) {
        how = outcome::timed_out;
        break;
      }
      if (woken_from_arena.load(std::memory_order_relaxed)) break;  // a heuristic: either choice is correct
    }
    parked.fetch_sub(1, std::memory_order_seq_cst);
    if (how == outcome::timed_out) {
      park_limit_ns.store(std::min(2 * limit_ns, k_park_max_ns), std::memory_order_relaxed);
    } else if (how == outcome::woken && 4 * waited_ns < limit_ns) {
      park_limit_ns.store(std::max(limit_ns - limit_ns / 256, k_park_min_ns), std::memory_order_relaxed);
    }
  }

  void wake_parked(int count, bool from_arena = false) noexcept {
    woken_from_arena.store(from_arena, std::memory_order_relaxed);
    wake_word.fetch_add(1, std::memory_order_seq_cst);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
  }
};

namespace {
std::uint64_t next_runtime_id() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}
}  // namespace

runtime::runtime(runtime_options options)
    : m_threads(resolve_threads(options.threads)),
      m_id(next_runtime_id()),
      m_arena(std::make_unique<arena_state>(m_threads)),
      m_blocking(blocking_pool::options{.max_threads = options.max_blocking_threads,
                                        .idle_timeout = options.blocking_idle_timeout,
                                        .runtime_id = m_id}) {
  // The reactor's first job: its thread's activity slot names this runtime,
  // so that stall dumps list the reactor among the runtime's threads (see
  // reactor.cpp's loop).
  m_reactor.post([id = m_id] { detail::mark_this_thread(id, detail::thread_role::reactor); });
}

tbb::task_arena& runtime::arena() noexcept { return m_arena->arena; }

void runtime::enqueue(detail::arena_job job) {
  // Counted before the hand-over, so that a thread about to park sees it,
  // and a parked thread is woken for it, as oneTBB would hand it to a
  // spinning worker. Not waking when an arena thread queues a job "it will
  // take itself once its current job ends" starved pipelines: a source that
  // keeps its thread (splitting the next block) left the consumer it had
  // resumed queued while the other thread slept up to park_limit
  // (files::lines fell from 0.84-0.87x to 0.46-0.50x its read+memchr anchor).
  m_arena->queued.fetch_add(1, std::memory_order_seq_cst);
  struct wake_after {
    arena_state& a;
    bool from_arena;
    ~wake_after() {
      if (a.parked.load(std::memory_order_seq_cst) != 0) a.wake_parked(1, from_arena);
    }
  } wake{*m_arena, t_current_runtime == this};
#if defined(SLUICE_TSAN)
  // TBB recycles task memory through an uninstrumented pool and hands tasks
  // over in uninstrumented code. Under TSan the job lives on the heap, its
  // address carries the happens-before edge, and the two-pointer functor
  // written into TBB's memory is hidden from TSan.
  struct heap_functor {
    runtime* m_runtime;
    detail::arena_job* m_job;
    void operator()() const {
      detail::arena_job* raw = nullptr;
      runtime* rt = nullptr;
      {
        // These two fields sit in TBB-recycled memory (see above).
        detail::tsan_ignore_reads hide;
        raw = m_job;
        rt = m_runtime;
      }
      detail::tsan_acquire(raw);
      std::unique_ptr<detail::arena_job> owned(raw);
      rt->m_arena->queued.fetch_sub(1, std::memory_order_relaxed);
      // Marked for stall dumps: see detail/thread_activity.hpp.
      detail::job_mark mark(detail::this_thread_activity(), rt->id(), current_arena_index);
      rt->run_job(*owned);
    }
  };
  auto* heap = new detail::arena_job(std::move(job));
  detail::tsan_release(heap);
  detail::tsan_ignore_writes hide;
  m_arena->arena.enqueue(heap_functor{this, heap});
#else
  // What the arena runs: TBB invokes functors as const, and a job mutates
  // (runs, moves from) its state, hence `mutable`.
  struct job_functor {
    runtime* m_runtime;
    mutable detail::arena_job m_job;
    void operator()() const {
      m_runtime->m_arena->queued.fetch_sub(1, std::memory_order_relaxed);
      // Marked for stall dumps: see detail/thread_activity.hpp.
      detail::job_mark mark(detail::this_thread_activity(), m_runtime->id(), current_arena_index);
      m_runtime->run_job(m_job);
    }
  };
  m_arena->arena.enqueue(job_functor{this, std::move(job)});
#endif
}

runtime::~runtime() {
  // From here on nobody parks, and whoever is parked goes back to oneTBB.
  m_arena->closing.store(true, std::memory_order_seq_cst);
  if (m_arena->parked.load(std::memory_order_seq_cst) != 0) m_arena->wake_parked(std::numeric_limits<int>::max());
  // Work in flight can spawn more tasks, and tasks post more work: wait
  // until both counts are zero at once.
  for (;;) {
    for (auto n = m_live_tasks.load(std::memory_order_acquire); n != 0;
         n = m_live_tasks.load(std::memory_order_acquire))
      m_live_tasks.wait(n, std::memory_order_acquire);
    for (auto n = m_outstanding.load(std::memory_order_acquire); n != 0;
         n = m_outstanding.load(std::memory_order_acquire))
      m_outstanding.wait(n, std::memory_order_acquire);
    if (m_live_tasks.load(std::memory_order_acquire) == 0) break;
  }
}

// notify_all touches only the futex word's address, never the runtime's
// memory, so a destructor that wakes up and frees *this cannot race with it
// (the pattern std::latch relies on). A mutex + condition_variable here
// would be unlocked by the notifier after the waiter could already be gone.
void runtime::task_finished() noexcept {
  if (m_live_tasks.fetch_sub(1, std::memory_order_acq_rel) == 1) m_live_tasks.notify_all();
}

void runtime::wake_parked_threads() noexcept {
  if (m_arena->parked.load(std::memory_order_seq_cst) != 0)
    m_arena->wake_parked(std::numeric_limits<int>::max(), /*from_arena=*/true);
}

void runtime::run_lifo_slot() {
  // Past the budget, whatever is left runs from the queue (its job is there).
  for (int i = 0; i < lifo_budget && t_lifo_slot; ++i) run_claim(std::exchange(t_lifo_slot, {}));
  t_lifo_slot.reset();
  detail::job_mark::leave(detail::this_thread_activity());  // parked below: listed as idle, not as in a job
  // The job's last step (run_job calls work_finished after this), so a
  // parked job still counts as outstanding for the destructor.
  m_arena->park_while_idle();
}

void runtime::post_batch(std::vector<std::coroutine_handle<>> batch) {
  if (batch.empty()) return;
  if (batch.size() == 1) {
    post(batch.front());
    return;
  }
  // Handles are claimed one at a time, so a coroutine that runs long holds
  // up only its own job: the others go on with the rest of the batch.
  struct shared_batch {
    std::vector<std::coroutine_handle<>> handles;
    std::atomic<std::size_t> next{0};
  };
  auto shared = std::make_shared<shared_batch>();
  shared->handles = std::move(batch);
  // One job per arena thread (or per handle, if fewer) keeps this
  // work-conserving: while a handle is unclaimed, every arena thread has a
  // job that can claim it, as with one job per handle. Fewer jobs would wake
  // fewer workers, but a coroutine that computes for long before it next
  // suspends would then hold up the rest of the batch with a worker idle.
  const std::size_t jobs = std::min(shared->handles.size(), m_threads);
  for (std::size_t j = 0; j < jobs; ++j) {
    execute([shared] {
      for (std::size_t i = shared->next.fetch_add(1, std::memory_order_relaxed); i < shared->handles.size();
           i = shared->next.fetch_add(1, std::memory_order_relaxed))
        shared->handles[i].resume();
    });
  }
}

void runtime::work_finished() noexcept {
  if (m_outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) m_outstanding.notify_all();
}

}  // namespace sluice
