// sluice::task_scope: structured concurrency for spawned children.
//
//   sluice::task_scope scope(rt);
//   for (auto& url : urls) scope.spawn(fetch(url));
//   co_await scope.join();          // all children done; first error rethrown
//
// Children start immediately on the runtime's arena. join() completes when
// every child has finished and rethrows the first exception a child threw
// (in completion order). The first failure also requests stop on the scope's
// stop_source, so children that watch stop_token() can wind down early.
//
// Lifetime: a scope must be joined before it is destroyed. The destructor of
// an unjoined scope blocks the calling thread until the children finish
// (never call it unjoined on a runtime thread).
// Thread-safety: spawn() may be called from children and other threads
// until join() is awaited.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <mutex>
#include <stop_token>

#include "sluice/core/detail/resume.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"

namespace sluice {

class task_scope {
 public:
  explicit task_scope(runtime& rt) noexcept : m_runtime(rt) {}
  task_scope(const task_scope&) = delete;
  task_scope& operator=(const task_scope&) = delete;
  ~task_scope() {
    if (!m_joined) release_join_reference_and_block();
  }

  /// Starts `child` now; its result is discarded, its exception recorded.
  template <typename T>
  void spawn(task<T> child) {
    m_pending.fetch_add(1, std::memory_order_relaxed);
    m_runtime.task_started();
    auto driver = detail::drive_detached(std::move(child), [this](auto&&, std::exception_ptr error) noexcept {
      if (error) record(error);
      runtime& rt = m_runtime;
      child_done();  // may resume the joiner, which may destroy *this
      rt.task_finished();
    });
    m_runtime.post(driver.handle);
  }

  /// Awaitable: completes when all children finished; rethrows the first failure.
  [[nodiscard]] auto join() noexcept {
    struct awaiter {
      task_scope* m_scope;
      bool await_ready() const noexcept { return false; }
      bool await_suspend(std::coroutine_handle<> h) noexcept {
        m_scope->m_joined = true;
        m_scope->m_joiner = detail::suspended_coroutine::here(h);
        return m_scope->m_pending.fetch_sub(1, std::memory_order_acq_rel) > 1;
      }
      void await_resume() const {
        std::lock_guard lock(m_scope->m_mutex);
        if (m_scope->m_first_error) std::rethrow_exception(m_scope->m_first_error);
      }
    };
    return awaiter{this};
  }

  /// Requested when a child fails or by request_stop(); children may watch it.
  [[nodiscard]] std::stop_token stop_token() const noexcept { return m_stop.get_token(); }
  void request_stop() noexcept { m_stop.request_stop(); }

 private:
  void record(std::exception_ptr error) noexcept {
    {
      std::lock_guard lock(m_mutex);
      if (!m_first_error) m_first_error = error;
    }
    m_stop.request_stop();
  }

  void child_done() {
    if (m_pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (m_blocking_join.load(std::memory_order_acquire)) {
      // Touches only the futex address, not *this (see runtime::work_finished).
      m_pending.notify_all();
    } else {
      m_joiner.resume();
    }
  }

  void release_join_reference_and_block() noexcept {
    m_blocking_join.store(true, std::memory_order_release);
    if (m_pending.fetch_sub(1, std::memory_order_acq_rel) == 1) return;
    for (auto n = m_pending.load(std::memory_order_acquire); n != 0; n = m_pending.load(std::memory_order_acquire))
      m_pending.wait(n, std::memory_order_acquire);
  }

  runtime& m_runtime;
  std::atomic<std::size_t> m_pending{1};  // children + the join reference
  std::atomic<bool> m_blocking_join{false};
  bool m_joined = false;
  detail::suspended_coroutine m_joiner;
  std::mutex m_mutex;  // guards m_first_error
  std::exception_ptr m_first_error;
  std::stop_source m_stop;
};

}  // namespace sluice
