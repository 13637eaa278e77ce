// sluice::blocking_pool: a bounded, elastic thread pool for blocking work.
//
// Blocking calls (file I/O, a synchronous database driver, sleep) must not run
// on the runtime's arena, where they would stall coroutines and compute. This
// pool grows a thread per queued job up to `max_threads`, queues beyond that,
// and lets a thread exit after `idle_timeout` without work (Tokio's
// spawn_blocking pool, bounded).
//
// Thread-safety: submit() from any thread. The destructor runs every job
// already queued and joins all threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/detail/unique_function.hpp"

namespace sluice {

class blocking_pool {
 public:
  struct options {
    std::size_t max_threads = 64;
    std::chrono::milliseconds idle_timeout{10'000};
    /// The runtime this pool works for (runtime::id()), which a runtime
    /// sets for its own pool: its stall dumps then list the pool's threads
    /// and the spawn_blocking call each one runs. 0: a pool of no runtime.
    std::uint64_t runtime_id = 0;
  };

  explicit blocking_pool(options opts);
  blocking_pool() : blocking_pool(options{}) {}
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Queues `job`; it runs on a pool thread. Exceptions escaping `job` terminate
  /// (wrap it; spawn_blocking does and forwards them to the awaiting side).
  void submit(detail::unique_function job);

  /// Threads alive now (for tests and metrics).
  [[nodiscard]] std::size_t thread_count() const;

 private:
  void worker_loop();

  options m_options;
  mutable std::mutex m_mutex;
  std::condition_variable m_work_ready;
  std::condition_variable m_all_exited;
  std::deque<detail::unique_function> m_jobs;
  std::size_t m_threads = 0;
  std::size_t m_idle = 0;
  bool m_stopping = false;
};

}  // namespace sluice
