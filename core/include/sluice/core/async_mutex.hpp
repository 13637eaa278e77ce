// sluice::async_mutex: a lock that may be held across co_await (the
// tokio::sync::Mutex of the seed documents).
//
//   sluice::async_mutex m;
//   {
//     auto lock = co_await m.lock();        // suspends, never blocks a thread
//     co_await write_page(file, page);      // still held while suspended
//   }                                       // released here
//   if (auto lock = co_await m.lock(stop)) ...  // empty once the run's token stops
//
// Use it only when the critical section must suspend; a std::mutex is cheaper
// around plain code (and must never be held across co_await: the coroutine
// may resume on another thread, and other coroutines on this thread would
// deadlock on it).
//
// Fairness: FIFO. Waiters get the lock in the order they asked for it, and
// try_lock() never overtakes a waiter. The lock is handed straight to the
// next waiter on unlock, which resumes on the runtime it suspended on.
// Built on sluice::semaphore with one permit (one waiting mechanism in core).
// Thread-safety: every member may be called from any thread or coroutine;
// the holder may unlock from a different thread than it locked on.
// Lifetime: the mutex must outlive its waiters and its scoped_locks.
#pragma once

#include <cstddef>
#include <optional>
#include <stop_token>
#include <utility>

#include "sluice/core/semaphore.hpp"

namespace sluice {

class async_mutex {
 public:
  /// Owns the lock and releases it when destroyed (or on unlock()).
  /// Move-only; a moved-from scoped_lock owns nothing.
  class [[nodiscard]] scoped_lock {
   public:
    /// Adopts a lock the caller already holds (after try_lock()).
    explicit scoped_lock(async_mutex& m) noexcept : m_mutex(&m) {}
    scoped_lock(scoped_lock&& other) noexcept : m_mutex(std::exchange(other.m_mutex, nullptr)) {}
    scoped_lock& operator=(scoped_lock&& other) noexcept {
      if (this != &other) {
        unlock();
        m_mutex = std::exchange(other.m_mutex, nullptr);
      }
      return *this;
    }
    scoped_lock(const scoped_lock&) = delete;
    scoped_lock& operator=(const scoped_lock&) = delete;
    ~scoped_lock() { unlock(); }

    /// Releases early (idempotent).
    void unlock() noexcept {
      if (m_mutex) std::exchange(m_mutex, nullptr)->unlock();
    }
    [[nodiscard]] bool owns_lock() const noexcept { return m_mutex != nullptr; }

   private:
    async_mutex* m_mutex;
  };

  async_mutex() noexcept : m_permit(1) {}
  async_mutex(const async_mutex&) = delete;
  async_mutex& operator=(const async_mutex&) = delete;
  ~async_mutex() = default;

  /// Awaitable scoped_lock: `auto lock = co_await m.lock();`
  [[nodiscard]] auto lock() noexcept {
    class awaiter {
     public:
      explicit awaiter(async_mutex& m) noexcept : m_mutex(m), m_inner(m.m_permit.acquire()) {}
      bool await_ready() noexcept { return m_inner.await_ready(); }
      bool await_suspend(std::coroutine_handle<> h) { return m_inner.await_suspend(h); }
      scoped_lock await_resume() noexcept {
        m_inner.await_resume();
        return scoped_lock(m_mutex);
      }

     private:
      async_mutex& m_mutex;
      decltype(std::declval<semaphore&>().acquire()) m_inner;
    };
    return awaiter(*this);
  }

  /// Awaitable std::optional<scoped_lock>: empty when `stop` was requested
  /// before the lock could be taken (the mutex is then not held).
  [[nodiscard]] auto lock(std::stop_token stop) noexcept {
    class awaiter {
     public:
      awaiter(async_mutex& m, std::stop_token token) noexcept
          : m_mutex(m), m_inner(m.m_permit.acquire(std::move(token))) {}
      bool await_ready() noexcept { return m_inner.await_ready(); }
      bool await_suspend(std::coroutine_handle<> h) { return m_inner.await_suspend(h); }
      std::optional<scoped_lock> await_resume() noexcept {
        if (!m_inner.await_resume()) return std::nullopt;
        return std::optional<scoped_lock>(std::in_place, m_mutex);
      }

     private:
      async_mutex& m_mutex;
      decltype(std::declval<semaphore&>().acquire(std::stop_token{})) m_inner;
    };
    return awaiter(*this, std::move(stop));
  }

  /// Takes the lock if it is free and nobody waits; pair with unlock() or
  /// adopt it: `if (m.try_lock()) { async_mutex::scoped_lock lock(m); ... }`.
  [[nodiscard]] bool try_lock() noexcept { return m_permit.try_acquire(); }

  /// Releases the lock (held by the caller) and hands it to the next waiter.
  void unlock() noexcept { m_permit.release(); }

  /// True while someone holds the lock (a snapshot, for tests and metrics).
  [[nodiscard]] bool is_locked() const noexcept { return m_permit.available() == 0; }
  /// Coroutines waiting for the lock (a snapshot).
  [[nodiscard]] std::size_t waiters() const noexcept { return m_permit.waiters(); }

 private:
  semaphore m_permit;
};

}  // namespace sluice
