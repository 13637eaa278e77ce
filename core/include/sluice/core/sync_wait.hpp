// sluice::sync_wait: run a task to completion from plain (non-coroutine) code.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "sluice/core/task.hpp"

namespace sluice {
namespace detail {

// A minimal coroutine that awaits the user's task and then wakes the
// blocked caller. Its frame is owned by sync_wait's stack frame.
//
// The caller sleeps in a condition variable wait (pthread_cond_wait), not
// in std::atomic::wait: ThreadSanitizer intercepts the former, and it runs
// a signal handler only once the receiving thread is in a call it
// intercepts or in code it instruments. Linux gives a signal sent to the
// process to the main thread, usually the one blocked here in run() or
// block_on(), so with a futex wait a stop_on_signals() handler under TSan
// ran only when the run had ended. One wait per sync_wait call: the lock
// costs nothing measurable.
class sync_wait_driver {
 public:
  // The caller's side, on its stack: the coroutine touches it last under
  // the mutex, and the caller returns only after taking the mutex after
  // that, so it outlives every access.
  struct waiter {
    std::mutex mutex;
    std::condition_variable woken;
    bool done = false;  // guarded by mutex
  };

  struct promise_type {
    waiter* m_waiter = nullptr;
    std::exception_ptr m_exception;

    sync_wait_driver get_return_object() noexcept {
      return sync_wait_driver{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() noexcept {
      struct signal {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
          waiter& w = *h.promise().m_waiter;
          std::lock_guard lock(w.mutex);
          w.done = true;
          w.woken.notify_one();
        }
        void await_resume() const noexcept {}
      };
      return signal{};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { m_exception = std::current_exception(); }
  };

  explicit sync_wait_driver(std::coroutine_handle<promise_type> h) noexcept : m_handle(h) {}
  sync_wait_driver(sync_wait_driver&& o) noexcept : m_handle(std::exchange(o.m_handle, {})) {}
  sync_wait_driver(const sync_wait_driver&) = delete;
  sync_wait_driver& operator=(const sync_wait_driver&) = delete;
  sync_wait_driver& operator=(sync_wait_driver&&) = delete;
  ~sync_wait_driver() {
    if (m_handle) m_handle.destroy();
  }

  void run_and_wait() {
    waiter w;
    m_handle.promise().m_waiter = &w;
    m_handle.resume();
    {
      std::unique_lock lock(w.mutex);
      w.woken.wait(lock, [&w] { return w.done; });
    }
    if (m_handle.promise().m_exception) std::rethrow_exception(m_handle.promise().m_exception);
  }

 private:
  std::coroutine_handle<promise_type> m_handle;
};

}  // namespace detail

/// Runs `t` on the calling thread until its first suspension, then blocks the
/// thread (without spinning) until the task finishes wherever it was resumed.
/// Returns the task's value or rethrows its exception.
///
/// Do not call from a coroutine or from a runtime worker thread: blocking a
/// worker can starve the very work being waited for. Use `co_await` there.
template <typename T>
T sync_wait(task<T> t) {
  if constexpr (std::is_void_v<T>) {
    auto driver = [](task<T>& inner) -> detail::sync_wait_driver { co_await std::move(inner); }(t);
    driver.run_and_wait();
  } else {
    std::optional<T> result;
    auto driver = [](task<T>& inner, std::optional<T>& out) -> detail::sync_wait_driver {
      out.emplace(co_await std::move(inner));
    }(t, result);
    driver.run_and_wait();
    return std::move(*result);
  }
}

}  // namespace sluice
