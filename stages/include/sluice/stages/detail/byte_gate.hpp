// An asynchronous admission gate for a size in bytes (or items): what the
// memory bounds of a pipeline wait on (pipeline.hpp, "Memory bounds").
//
// acquire(n) lets a chunk of size n in when `used + n <= limit`, or when
// nothing is in (so a chunk larger than the limit still passes, alone: a
// bound in bytes never deadlocks on one big item); release(n) lets it out and
// admits waiters in arrival order. add(n) counts a chunk in without waiting
// (stages after the source: only the source is held back by a pipeline-wide
// limit, so the stages that drain the pipeline never wait on it).
//
// Thread-safety: every member may be called from any thread. A woken waiter
// continues on the runtime it suspended on. close() (the run stopped) admits
// every waiter with false and makes later acquires return false at once.
// Lifetime: must outlive its waiters (the pipeline state owns it).
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "sluice/core/detail/resume.hpp"
#include "sluice/core/detail/std_parts.hpp"

namespace sluice::detail {

class byte_gate {
 public:
  explicit byte_gate(std::size_t limit) noexcept : m_limit(limit) {}
  byte_gate(const byte_gate&) = delete;
  byte_gate& operator=(const byte_gate&) = delete;

  [[nodiscard]] std::size_t limit() const noexcept { return m_limit; }

  /// Awaitable bool: waits until `n` fits (see the file comment); false when closed.
  [[nodiscard]] auto acquire(std::size_t n) noexcept {
    struct awaiter {
      byte_gate* m_gate;
      waiter m_waiter;
      bool await_ready() {
        std::lock_guard lock(m_gate->m_mutex);
        return m_gate->try_admit(m_waiter);
      }
      bool await_suspend(std::coroutine_handle<> h) {
        m_waiter.coroutine = suspended_coroutine::here(h);
        std::lock_guard lock(m_gate->m_mutex);
        if (m_gate->try_admit(m_waiter)) return false;
        m_gate->m_waiters.push_back(&m_waiter);
        return true;
      }
      [[nodiscard]] bool await_resume() const noexcept { return m_waiter.admitted; }
    };
    return awaiter{this, waiter{n}};
  }

  /// Counts `n` in without waiting.
  void add(std::size_t n) {
    std::lock_guard lock(m_mutex);
    m_used += n;
  }

  /// Counts `n` out and admits the waiters that now fit.
  void release(std::size_t n) {
    std::vector<waiter*> wake;
    {
      std::lock_guard lock(m_mutex);
      m_used -= std::min(n, m_used);
      while (!m_waiters.empty() && fits(m_waiters.front()->size)) {
        waiter* w = m_waiters.front();
        m_waiters.pop_front();
        m_used += w->size;
        w->admitted = true;
        wake.push_back(w);
      }
    }
    for (waiter* w : wake) w->coroutine.resume();
  }

  /// Admits every waiter with false; later acquires return false. Idempotent.
  void close() {
    std::deque<waiter*> wake;
    {
      std::lock_guard lock(m_mutex);
      m_closed = true;
      wake.swap(m_waiters);
    }
    for (waiter* w : wake) w->coroutine.resume();
  }

  /// Bytes (items) counted in now.
  [[nodiscard]] std::size_t used() const {
    std::lock_guard lock(m_mutex);
    return m_used;
  }

 private:
  struct waiter {
    std::size_t size = 0;
    bool admitted = false;
    suspended_coroutine coroutine = {};
  };

  [[nodiscard]] bool fits(std::size_t n) const noexcept { return m_used == 0 || m_used + n <= m_limit; }

  // Under the mutex. FIFO: nobody overtakes a waiter.
  bool try_admit(waiter& w) {
    if (m_closed) return true;  // admitted stays false
    if (!m_waiters.empty() || !fits(w.size)) return false;
    m_used += w.size;
    w.admitted = true;
    return true;
  }

  mutable std::mutex m_mutex;
  std::size_t m_limit;
  std::size_t m_used = 0;
  bool m_closed = false;
  std::deque<waiter*> m_waiters;
};

}  // namespace sluice::detail
