// sluice::sync_wait: run a task to completion from plain (non-coroutine) code.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "sluice/core/task.hpp"

namespace sluice {
namespace detail {

// A minimal eager coroutine that awaits the user's task and then flips a flag
// the blocked caller waits on. Its frame is owned by sync_wait's stack frame.
class sync_wait_driver {
 public:
  struct promise_type {
    std::atomic<bool> m_done{false};
    std::exception_ptr m_exception;

    sync_wait_driver get_return_object() noexcept {
      return sync_wait_driver{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() noexcept {
      struct signal {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
          auto& done = h.promise().m_done;
          done.store(true, std::memory_order_release);
          done.notify_one();
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
    m_handle.resume();
    auto& done = m_handle.promise().m_done;
    while (!done.load(std::memory_order_acquire)) done.wait(false, std::memory_order_acquire);
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
