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
//
// Its members are compiled in stages/src/byte_gate.cpp: the gate is the
// same in every program, and inline it was some 130 functions (its deque
// and vector plumbing) in each (docs/architecture.md, "Header cost").
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>

#include "sluice/core/detail/resume.hpp"

namespace sluice::detail {

class byte_gate {
  // One suspended acquire, queued in arrival order.
  struct waiter {
    std::size_t size = 0;
    bool admitted = false;
    suspended_coroutine coroutine = {};
  };

 public:
  explicit byte_gate(std::size_t limit) noexcept : m_limit(limit) {}
  byte_gate(const byte_gate&) = delete;
  byte_gate& operator=(const byte_gate&) = delete;
  ~byte_gate();

  [[nodiscard]] std::size_t limit() const noexcept { return m_limit; }

  /// What acquire() returns: awaits to true once admitted, false when closed.
  class acquire_awaiter {
   public:
    acquire_awaiter(byte_gate* gate, std::size_t n) noexcept : m_gate(gate), m_waiter{.size = n} {}
    bool await_ready();
    bool await_suspend(std::coroutine_handle<> h);
    [[nodiscard]] bool await_resume() const noexcept { return m_waiter.admitted; }

   private:
    byte_gate* m_gate;
    waiter m_waiter;
  };

  /// Awaitable bool: waits until `n` fits (see the file comment); false when closed.
  [[nodiscard]] acquire_awaiter acquire(std::size_t n) noexcept { return {this, n}; }

  /// Counts `n` in without waiting.
  void add(std::size_t n);
  /// Counts `n` out and admits the waiters that now fit.
  void release(std::size_t n);
  /// Admits every waiter with false; later acquires return false. Idempotent.
  void close();
  /// Bytes (items) counted in now.
  [[nodiscard]] std::size_t used() const;

 private:
  [[nodiscard]] bool fits(std::size_t n) const noexcept { return m_used == 0 || m_used + n <= m_limit; }
  bool try_admit(waiter& w);

  mutable std::mutex m_mutex;
  std::size_t m_limit;
  std::size_t m_used = 0;
  bool m_closed = false;
  std::deque<waiter*> m_waiters;
};

}  // namespace sluice::detail
