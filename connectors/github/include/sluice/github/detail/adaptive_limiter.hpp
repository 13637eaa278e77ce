// An asynchronous counting semaphore whose limit can change while permits are
// out: the fetcher halves it on a secondary rate limit and raises it by one
// after a run of successes (AIMD, as TCP does).
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "sluice/core/runtime.hpp"

namespace sluice::github::detail {

class adaptive_limiter {
 public:
  /// Releases its permit when destroyed.
  class permit {
   public:
    permit() = default;
    explicit permit(adaptive_limiter* owner) noexcept : m_owner(owner) {}
    permit(permit&& other) noexcept : m_owner(std::exchange(other.m_owner, nullptr)) {}
    permit& operator=(permit&& other) noexcept {
      if (this != &other) {
        reset();
        m_owner = std::exchange(other.m_owner, nullptr);
      }
      return *this;
    }
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { reset(); }
    void reset() noexcept {
      if (m_owner) std::exchange(m_owner, nullptr)->release();
    }

   private:
    adaptive_limiter* m_owner = nullptr;
  };

  adaptive_limiter(runtime& rt, std::size_t limit)
      : m_runtime(rt), m_limit(std::max<std::size_t>(1, limit)), m_max(m_limit) {}

  /// Awaitable yielding a permit; waiters are served first come, first served
  /// and resumed on the runtime's arena.
  [[nodiscard]] auto acquire() noexcept {
    struct awaiter {
      adaptive_limiter* m_self;
      bool await_ready() const noexcept { return false; }
      bool await_suspend(std::coroutine_handle<> h) {
        std::lock_guard lock(m_self->m_mutex);
        if (m_self->m_waiters.empty() && m_self->m_in_flight < m_self->m_limit) {
          ++m_self->m_in_flight;
          return false;
        }
        m_self->m_waiters.push_back(h);
        return true;
      }
      permit await_resume() const noexcept { return permit(m_self); }
    };
    return awaiter{this};
  }

  /// Halves the limit (never below 1). Permits already out stay out.
  void decrease() noexcept {
    std::lock_guard lock(m_mutex);
    m_limit = std::max<std::size_t>(1, m_limit / 2);
    m_successes = 0;
  }

  /// Counts a success; after `limit` of them the limit grows by one (up to
  /// the initial limit).
  void record_success() {
    std::vector<std::coroutine_handle<>> wake;
    {
      std::lock_guard lock(m_mutex);
      if (m_limit >= m_max || ++m_successes < m_limit) return;
      m_successes = 0;
      ++m_limit;
      take_ready(wake);
    }
    for (auto h : wake) m_runtime.post(h);
  }

  [[nodiscard]] std::size_t limit() const {
    std::lock_guard lock(m_mutex);
    return m_limit;
  }

 private:
  void release() {
    std::vector<std::coroutine_handle<>> wake;
    {
      std::lock_guard lock(m_mutex);
      --m_in_flight;
      take_ready(wake);
    }
    for (auto h : wake) m_runtime.post(h);
  }

  void take_ready(std::vector<std::coroutine_handle<>>& wake) {
    while (!m_waiters.empty() && m_in_flight < m_limit) {
      ++m_in_flight;
      wake.push_back(m_waiters.front());
      m_waiters.pop_front();
    }
  }

  runtime& m_runtime;
  mutable std::mutex m_mutex;
  std::size_t m_in_flight = 0;
  std::size_t m_limit;
  std::size_t m_max;
  std::size_t m_successes = 0;
  std::deque<std::coroutine_handle<>> m_waiters;
};

}  // namespace sluice::github::detail
