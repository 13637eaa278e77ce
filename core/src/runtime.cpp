#include "sluice/core/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <utility>

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

runtime::runtime(runtime_options options)
    : m_threads(resolve_threads(options.threads)),
      // No slot is reserved for a master thread: all work is enqueued, so
      // all `threads` slots are for TBB workers. TBB creates at most
      // max_allowed_parallelism - 1 workers, hence the +1 when that is short.
      m_parallelism([&]() -> std::optional<tbb::global_control> {
        auto allowed = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
        if (allowed >= m_threads + 1) return std::nullopt;
        return std::optional<tbb::global_control>(std::in_place, tbb::global_control::max_allowed_parallelism,
                                                  m_threads + 1);
      }()),
      m_arena(static_cast<int>(m_threads), 0),
      m_blocking(blocking_pool::options{.max_threads = options.max_blocking_threads,
                                        .idle_timeout = options.blocking_idle_timeout}) {
  m_arena.initialize();
}

runtime::~runtime() {
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

void runtime::run_lifo_slot() {
  // Past the budget, whatever is left runs from the queue (its job is there).
  for (int i = 0; i < lifo_budget && t_lifo_slot; ++i) run_claim(std::exchange(t_lifo_slot, {}));
  t_lifo_slot.reset();
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
