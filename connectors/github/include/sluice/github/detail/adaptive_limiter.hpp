// The fetcher's concurrency limit: a sluice::semaphore whose limit follows
// AIMD, as TCP does. It halves on a secondary rate limit and grows by one
// after a run of successes, up to the initial limit. Waiting, FIFO order and
// resumption on the runtime's arena are the semaphore's (core owns the
// primitive); this class only adds the policy.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include "sluice/core/runtime.hpp"
#include "sluice/core/semaphore.hpp"

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
      if (m_owner) std::exchange(m_owner, nullptr)->m_semaphore.release();
    }

   private:
    adaptive_limiter* m_owner = nullptr;
  };

  /// Woken waiters resume on the runtime they suspended on (the fetcher's `rt`).
  adaptive_limiter(runtime& /*rt*/, std::size_t limit) : m_max(std::max<std::size_t>(1, limit)), m_semaphore(m_max) {}

  /// Awaitable std::optional<permit>: empty when `stop` (the run's token) is
  /// requested before a permit is free; the waiter is then withdrawn at once
  /// (it does not wait for a permit to come back) and holds nothing. A
  /// permit granted before the stop request wins. Waiters are served first
  /// come, first served and resumed on the runtime they suspended on. There
  /// is no form without a token: a run that stops must not wait for permits.
  [[nodiscard]] auto acquire(std::stop_token stop) noexcept {
    class awaiter {
     public:
      awaiter(adaptive_limiter& self, std::stop_token token) noexcept
          : m_self(self), m_inner(self.m_semaphore.acquire(std::move(token))) {}
      bool await_ready() noexcept { return m_inner.await_ready(); }
      bool await_suspend(std::coroutine_handle<> h) { return m_inner.await_suspend(h); }
      std::optional<permit> await_resume() noexcept {
        if (!m_inner.await_resume()) return std::nullopt;
        return std::optional<permit>(std::in_place, &m_self);
      }

     private:
      adaptive_limiter& m_self;
      decltype(std::declval<semaphore&>().acquire(std::stop_token{})) m_inner;
    };
    return awaiter(*this, std::move(stop));
  }

  /// Halves the limit (never below 1). Permits already out stay out.
  void decrease() noexcept {
    std::lock_guard lock(m_mutex);
    m_semaphore.set_limit(std::max<std::size_t>(1, m_semaphore.limit() / 2));
    m_successes = 0;
  }

  /// Counts a success; after `limit` of them the limit grows by one (up to
  /// the initial limit), waking a waiter.
  void record_success() {
    std::lock_guard lock(m_mutex);
    std::size_t limit = m_semaphore.limit();
    if (limit >= m_max || ++m_successes < limit) return;
    m_successes = 0;
    m_semaphore.set_limit(limit + 1);
  }

  [[nodiscard]] std::size_t limit() const noexcept { return m_semaphore.limit(); }

 private:
  std::size_t m_max;
  semaphore m_semaphore;
  std::mutex m_mutex;  // serialises the AIMD read-modify-write of the limit
  std::size_t m_successes = 0;
};

}  // namespace sluice::github::detail
