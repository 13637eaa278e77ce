// sluice::runtime: where coroutines run, where compute runs, and the I/O thread.
//
//   sluice::runtime rt;                       // arena with one thread per core
//   int n = rt.block_on(main_task(rt));       // run a task from main()
//
// A runtime owns
//  * a oneTBB task_arena: coroutines resume here (`co_await rt.schedule()`),
//    and offload()ed compute runs here too, so tbb::parallel_for inside a
//    stage shares the same threads instead of oversubscribing the machine;
//  * a reactor thread for timers and sockets (sleep_for, the HTTP client);
//  * a bounded blocking_pool for work that blocks (spawn_blocking).
// Idle, it uses no CPU: arena workers sleep in TBB, the reactor in epoll_wait.
//
// Lifetime: the destructor waits for every spawn()ed task and every piece of
// work handed to the arena, then joins the reactor and the blocking pool.
// Tasks that never finish (e.g. waiting on a channel nobody closes) therefore
// make destruction wait: close your channels.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/blocking_pool.hpp"
#include "sluice/core/detail/arena_job.hpp"
#include "sluice/core/detail/outcome.hpp"
#include "sluice/core/detail/resume.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/detail/tsan.hpp"
#include "sluice/core/oneshot.hpp"
#include "sluice/core/reactor.hpp"
#include "sluice/core/sync_wait.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/wait_note.hpp"

// The arena's type, for arena(); include <oneapi/tbb/task_arena.h> to use it.
namespace tbb::detail::d1 {
class task_arena;
}  // namespace tbb::detail::d1

namespace sluice {

template <typename T>
class join_handle;
namespace detail {
struct join_handle_access;
}  // namespace detail

/// Tunables for a runtime; designated-initialiser friendly.
struct runtime_options {
  /// Arena threads; 0 means std::thread::hardware_concurrency().
  std::size_t threads = 0;
  /// Upper bound of the spawn_blocking pool.
  std::size_t max_blocking_threads = 64;
  /// A blocking-pool thread with no work for this long exits.
  std::chrono::milliseconds blocking_idle_timeout{10'000};
};

class runtime {
 public:
  explicit runtime(runtime_options options);
  runtime() : runtime(runtime_options{}) {}
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// The runtime running the calling thread's current work, or null.
  static runtime* current() noexcept { return detail::current_runtime(); }

  /// Number of arena threads.
  [[nodiscard]] std::size_t threads() const noexcept { return m_threads; }
  /// This runtime's number, unique in the process and never reused (unlike
  /// its address, which a later runtime may get): for telling runtimes
  /// apart in records that outlive one (a thread's last stage, in a dump).
  [[nodiscard]] std::uint64_t id() const noexcept { return m_id; }
  /// The reactor (timers, sockets). Used by sleep_for and connectors.
  [[nodiscard]] sluice::reactor& io() noexcept { return m_reactor; }
  /// The arena (a tbb::task_arena; include <oneapi/tbb/task_arena.h>), for
  /// code that wants tbb::task_arena::execute directly.
  [[nodiscard]] tbb::detail::d1::task_arena& arena() noexcept;

  /// Awaitable that moves the awaiting coroutine onto this runtime's arena.
  [[nodiscard]] auto schedule() noexcept {
    struct awaiter {
      runtime* m_rt;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) const { m_rt->post(h); }
      void await_resume() const noexcept {}
    };
    return awaiter{this};
  }

  /// Resumes `h` on the arena (FIFO-ish, as tbb::task_arena::enqueue).
  void post(std::coroutine_handle<> h) {
    execute([h] { h.resume(); });
  }

  /// Resumes every handle in `batch` on the arena, like post() on each, but
  /// through at most threads() arena jobs that share the batch: each resumes
  /// the next unclaimed handle until none is left. For a thread outside the
  /// arena (the reactor) handing over many coroutines at once: one enqueue
  /// and at most one worker wake-up per arena thread instead of one per
  /// coroutine. Order of resumption follows the batch per job. Thread-safe.
  void post_batch(std::vector<std::coroutine_handle<>> batch);

  /// Runs `fn()` on the arena. `fn` may be move-only; it must not throw
  /// (catch inside, as offload does).
  template <typename F>
  void execute(F&& fn) {
    m_outstanding.fetch_add(1, std::memory_order_relaxed);
    enqueue(detail::arena_job(std::forward<F>(fn)));
  }

  /// Starts `t` now on the arena, detached from the caller; the returned
  /// handle can be awaited (or get()) for its value or exception, or dropped.
  template <typename T>
  join_handle<T> spawn(task<T> t);

  /// Runs `t` on the arena and blocks the calling (non-runtime) thread until
  /// it finishes; returns its value or rethrows.
  template <typename T>
  T block_on(task<T> t) {
    return sync_wait(run_here(std::move(t)));
  }

  /// Runs `fn()` on the arena and returns an awaitable (a oneshot_receiver)
  /// for its result or exception: the rayon::spawn + oneshot pattern.
  template <typename F>
  auto offload(F&& fn) {
    using result_t = std::invoke_result_t<std::decay_t<F>&>;
    auto [tx, rx] = oneshot<result_t>();
    execute(make_job(std::forward<F>(fn), std::move(tx)));
    return std::move(rx);
  }

  /// Runs blocking `fn()` on the blocking pool; awaitable like offload().
  /// While a stall watchdog or monitor watches, a coroutine awaiting it is
  /// listed as awaiting a spawn_blocking call, and the pool thread running
  /// it as running one, for how long.
  template <typename F>
  auto spawn_blocking(F&& fn) {
    using result_t = std::invoke_result_t<std::decay_t<F>&>;
    auto [tx, rx] = oneshot<result_t>();
    if (waits_watched()) [[unlikely]]
      rx.label_wait(wait_kind::oneshot, "spawn_blocking call (queued or running on the runtime's blocking pool)");
    m_blocking.submit(make_job(std::forward<F>(fn), std::move(tx)));
    return std::move(rx);
  }

  /// Spawned tasks that have not finished yet.
  [[nodiscard]] std::size_t live_tasks() const noexcept { return m_live_tasks.load(std::memory_order_acquire); }

  // For sluice's own drivers: account a detached task's start and end.
  void task_started() noexcept { m_live_tasks.fetch_add(1, std::memory_order_relaxed); }
  void task_finished() noexcept;
  // For sluice's own parallel loops (parallel_map): sends the arena threads
  // parked between jobs back to oneTBB, so that they help the loop the
  // calling thread is about to start instead of sleeping through it (see
  // runtime.cpp, park_while_idle). One load when none is parked.
  void wake_parked_threads() noexcept;

 private:
  // Marks the thread as running this runtime's work (restores on exit).
  class current_scope {
   public:
    explicit current_scope(runtime* rt) noexcept;
    ~current_scope();
    current_scope(const current_scope&) = delete;
    current_scope& operator=(const current_scope&) = delete;

   private:
    runtime* m_previous;
  };

  template <typename T>
  task<T> run_here(task<T> t) {
    co_await schedule();
    co_return co_await std::move(t);
  }

  template <typename F, typename R>
  static auto make_job(F&& fn, oneshot_sender<R> tx) {
    return [fn = std::forward<F>(fn), tx = std::move(tx)]() mutable {
      // The exception is handed over only after its catch block has ended:
      // leaving the handler drops a reference to the exception object, and
      // after the hand-off the receiver may already have dropped its own, so
      // this thread would free an object another thread just read (through
      // reference counts in uninstrumented libstdc++, which TSan reports).
      std::exception_ptr error;
      try {
        if constexpr (std::is_void_v<R>) {
          fn();
          tx.send();
        } else {
          tx.send(fn());
        }
        return;
      } catch (...) {
        error = std::current_exception();
      }
      tx.fail(std::move(error));
    };
  }

  // Hands `job` to the TBB arena (runtime.cpp, so that this header does not
  // include TBB); the arena runs it through run_job.
  void enqueue(detail::arena_job job);

  // Runs `job`, then destroys what it captured, then counts it done: a
  // capture that outlived the count could outlive the runtime.
  void run_job(detail::arena_job& job) {
    {
      current_scope scope(this);
      job();
      job.release();
      run_lifo_slot();
    }
    work_finished();
  }

  void run_lifo_slot();

  void work_finished() noexcept;

  std::size_t m_threads;
  const std::uint64_t m_id;  // see id()
  struct arena_state;        // TBB's global_control and task_arena (runtime.cpp)
  std::unique_ptr<arena_state> m_arena;
  std::atomic<std::size_t> m_outstanding{0};
  std::atomic<std::size_t> m_live_tasks{0};
  // Declared after the arena: destroyed first, so no timer or blocking job
  // can hand work to a dead arena.
  sluice::reactor m_reactor;
  blocking_pool m_blocking;
};

/// Awaitable result of runtime::spawn. Awaiting it (once) yields the task's
/// value or rethrows its exception; dropping it detaches the task.
template <typename T>
class [[nodiscard]] join_handle {
 public:
  explicit join_handle(oneshot_receiver<T> rx) noexcept : m_result(std::move(rx)) {}
  [[nodiscard]] bool done() const noexcept { return m_result.ready(); }
  /// Blocks a plain thread until the task finishes.
  T get() { return m_result.get(); }
  auto operator co_await() && noexcept { return std::move(m_result).operator co_await(); }
  auto operator co_await() & noexcept { return std::move(m_result).operator co_await(); }

 private:
  friend struct detail::join_handle_access;
  oneshot_receiver<T> m_result;
};

namespace detail {

// The receiver inside a join_handle, for the DSL's type-erased result slots
// (async_map_channels.hpp); a handle is a receiver with nothing added.
struct join_handle_access {
  template <typename T>
  static oneshot_receiver<T> receiver(join_handle<T>&& handle) noexcept {
    return std::move(handle.m_result);
  }
};

// A fire-and-forget coroutine: its frame frees itself when the body ends.
struct detached_task {
  struct promise_type {
    detached_task get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // bodies catch everything
  };
  std::coroutine_handle<promise_type> handle;
};

// Awaits `t`, then calls done(result, exception): `result` (an
// outcome<T>, monostate for void, to take() from) holds the value when
// `exception` is null. `done` must not throw. Not a std::optional: that is
// some fifty functions per result type at -O0 (docs/architecture.md,
// "Header cost").
template <typename T, typename Done>
detached_task drive_detached(task<T> t, Done done) {
  using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  outcome<stored_t> value;
  std::exception_ptr error;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
      value.set_value();
    } else {
      value.set_value(co_await std::move(t));
    }
  } catch (...) {
    error = std::current_exception();
  }
  done(value, std::move(error));  // takes the value: no reference left here after the hand-off
}

}  // namespace detail

template <typename T>
join_handle<T> runtime::spawn(task<T> t) {
  auto [tx, rx] = oneshot<T>();
  task_started();
  auto driver =
      detail::drive_detached(std::move(t), [this, tx = std::move(tx)](auto& value, std::exception_ptr error) mutable {
        if (error) {
          tx.fail(std::move(error));
        } else if constexpr (std::is_void_v<T>) {
          tx.send();
        } else {
          tx.send(value.take());
        }
        task_finished();
      });
  post(driver.handle);
  return join_handle<T>{std::move(rx)};
}

/// offload(fn) on the current runtime (throws std::logic_error when there is none).
template <typename F>
auto offload(F&& fn) {
  runtime* rt = runtime::current();
  if (!rt) throw std::logic_error("sluice::offload: no current runtime; use rt.offload(fn)");
  return rt->offload(std::forward<F>(fn));
}

/// spawn_blocking(fn) on the current runtime (throws std::logic_error when there is none).
template <typename F>
auto spawn_blocking(F&& fn) {
  runtime* rt = runtime::current();
  if (!rt) throw std::logic_error("sluice::spawn_blocking: no current runtime; use rt.spawn_blocking(fn)");
  return rt->spawn_blocking(std::forward<F>(fn));
}

}  // namespace sluice

// Timers build on the runtime above; included here so runtime.hpp keeps offering sleep_for.
#include "sluice/core/sleep.hpp"  // IWYU pragma: export
