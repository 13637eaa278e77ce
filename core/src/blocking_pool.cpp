#include "sluice/core/blocking_pool.hpp"

#include "sluice/core/detail/os_thread_name.hpp"
#include "sluice/core/detail/thread_activity.hpp"
#include "sluice/core/trace.hpp"

#include <optional>
#include <thread>
#include <utility>

namespace sluice {

blocking_pool::blocking_pool(options opts) : m_options(opts) {
  if (m_options.max_threads == 0) m_options.max_threads = 1;
}

blocking_pool::~blocking_pool() {
  std::unique_lock lock(m_mutex);
  m_stopping = true;
  m_work_ready.notify_all();
  m_all_exited.wait(lock, [this] { return m_threads == 0; });
}

void blocking_pool::submit(detail::unique_function job) {
  std::lock_guard lock(m_mutex);
  m_jobs.push_back(std::move(job));
  // Wake an idle thread while there are enough of them for the queue; else grow.
  if (m_jobs.size() <= m_idle || m_threads >= m_options.max_threads) {
    m_work_ready.notify_one();
  } else {
    ++m_threads;
    // Detached: an idle thread exits on its own; the destructor waits on m_threads.
    std::thread([this] { worker_loop(); }).detach();
  }
}

std::size_t blocking_pool::thread_count() const {
  std::lock_guard lock(m_mutex);
  return m_threads;
}

void blocking_pool::worker_loop() {
  detail::set_trace_thread_name("blocking pool");
  detail::name_os_thread("sluice-blocking");
  // Listed in its runtime's stall dumps (detail/thread_activity.hpp): each
  // job is marked, so a call that does not return shows with its duration.
  const bool marked = m_options.runtime_id != 0;
  if (marked) detail::mark_this_thread(m_options.runtime_id, detail::thread_role::blocking_pool);
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (!m_jobs.empty()) {
      auto job = std::move(m_jobs.front());
      m_jobs.pop_front();
      lock.unlock();
      {
        std::optional<detail::job_mark> mark;
        if (marked) mark.emplace(detail::this_thread_activity(), m_options.runtime_id, [] { return -1; });
        job();
      }
      job = {};  // destroy the job's state outside the lock too
      lock.lock();
      continue;
    }
    if (m_stopping) break;
    ++m_idle;
    bool woke = m_work_ready.wait_for(lock, m_options.idle_timeout, [this] { return !m_jobs.empty() || m_stopping; });
    --m_idle;
    if (!woke) break;  // idle too long
  }
  --m_threads;
  // Notify under the lock: the destructor cannot free *this before we release it.
  m_all_exited.notify_all();
}

}  // namespace sluice
