// sluice::semaphore: an asynchronous counting semaphore with a limit that may
// change at run time.
//
//   sluice::semaphore sem(8);                   // at most 8 holders at once
//   co_await sem.acquire();                     // suspends (never blocks a thread) while 8 are out
//   ...; sem.release();
//   if (!co_await sem.acquire(stop)) co_return; // false: the run's stop token fired first
//   { auto permit = co_await sem.acquire_permit(); ... }  // released by the permit's destructor
//   sem.set_limit(4);                           // takes effect as permits come back
//
// Fairness: waiters are served strictly first come, first served, and
// try_acquire() never takes a permit while someone is waiting. The only
// overtaking is an acquire that finds nobody waiting at the very moment a
// permit is returned: it may take that permit before a waiter that is still
// registering (the waiter then waits for the next one).
//
// Limit: set_limit(n) may raise or lower the limit while permits are out.
// Raising it wakes as many waiters as new permits exist; lowering it never
// revokes a permit: acquires wait until enough permits have been released
// that fewer than n are out. A limit of 0 makes every acquire wait.
//
// Cancellation: acquire(stop_token) gives up when the token is stopped (the
// run's token: the project's one cancellation model) and yields false; a
// permit granted before the stop request wins (yields true, hold it).
//
// Resumption: a woken waiter continues on the runtime it suspended on (see
// detail/resume.hpp), never inside the releasing thread's call.
// Thread-safety: every member may be called from any thread or coroutine.
// Lifetime: the semaphore must outlive its waiters and permits.
// Errors: none; release() without a matching acquire is a logic error that
// silently raises the number of available permits.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "sluice/core/detail/resume.hpp"

namespace sluice {

class semaphore;

namespace detail {

/// One suspended acquire, living in its awaiter (the coroutine frame) and
/// linked into the semaphore's FIFO under its mutex.
struct semaphore_waiter {
  enum outcome_t : int { pending, granted, cancelled };

  semaphore_waiter* prev = nullptr;
  semaphore_waiter* next = nullptr;
  suspended_coroutine coroutine;
  outcome_t outcome = pending;  // written by the decider before it drops its reference
  bool queued = false;          // guarded by the semaphore's mutex
  // Two references: the one who decides the outcome (a release, a limit
  // change or the stop callback) and await_suspend itself. Whoever drops the
  // last one resumes the coroutine, so no waker can resume a frame that
  // await_suspend is still touching.
  std::atomic<int> references{2};

  /// True when the caller dropped the last reference.
  bool drop_reference() noexcept { return references.fetch_sub(1, std::memory_order_acq_rel) == 1; }
};

/// Intrusive doubly linked FIFO; a cancelled waiter unlinks itself from the middle.
class semaphore_waiter_list {
 public:
  [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
  void push_back(semaphore_waiter* w) noexcept {
    w->next = nullptr;
    w->prev = m_tail;
    (m_tail ? m_tail->next : m_head) = w;
    m_tail = w;
    w->queued = true;
  }
  semaphore_waiter* pop_front() noexcept {
    semaphore_waiter* w = m_head;
    erase(w);
    return w;
  }
  void erase(semaphore_waiter* w) noexcept {
    (w->prev ? w->prev->next : m_head) = w->next;
    (w->next ? w->next->prev : m_tail) = w->prev;
    w->prev = w->next = nullptr;
    w->queued = false;
  }

 private:
  semaphore_waiter* m_head = nullptr;
  semaphore_waiter* m_tail = nullptr;
};

/// Waiters whose outcome was decided under the lock; resumed after unlocking
/// (a coroutine resumed inline may re-enter the semaphore).
class semaphore_wake_list {
 public:
  semaphore_wake_list() = default;
  semaphore_wake_list(const semaphore_wake_list&) = delete;
  semaphore_wake_list& operator=(const semaphore_wake_list&) = delete;
  void add(semaphore_waiter* w) noexcept {
    w->next = nullptr;
    (m_tail ? m_tail->next : m_head) = w;
    m_tail = w;
  }
  ~semaphore_wake_list() {
    for (semaphore_waiter* w = m_head; w;) {
      semaphore_waiter* next = w->next;  // *w may be gone once its reference is dropped
      if (w->drop_reference()) w->coroutine.resume();
      w = next;
    }
  }

 private:
  semaphore_waiter* m_head = nullptr;
  semaphore_waiter* m_tail = nullptr;
};

}  // namespace detail

/// Holds one permit of a semaphore and returns it when destroyed (or reset()).
/// Move-only; a default-constructed or moved-from permit holds nothing.
class [[nodiscard]] semaphore_permit {
 public:
  semaphore_permit() = default;
  /// Adopts a permit the caller already acquired from `owner`.
  explicit semaphore_permit(semaphore& owner) noexcept : m_owner(&owner) {}
  semaphore_permit(semaphore_permit&& other) noexcept : m_owner(std::exchange(other.m_owner, nullptr)) {}
  semaphore_permit& operator=(semaphore_permit&& other) noexcept {
    if (this != &other) {
      reset();
      m_owner = std::exchange(other.m_owner, nullptr);
    }
    return *this;
  }
  semaphore_permit(const semaphore_permit&) = delete;
  semaphore_permit& operator=(const semaphore_permit&) = delete;
  ~semaphore_permit() { reset(); }

  /// Returns the permit now (idempotent).
  void reset() noexcept;
  /// True while a permit is held.
  explicit operator bool() const noexcept { return m_owner != nullptr; }

 private:
  semaphore* m_owner = nullptr;
};

class semaphore {
  template <bool Cancellable>
  class acquire_awaiter;

 public:
  /// A semaphore with `limit` permits.
  explicit semaphore(std::size_t limit) noexcept : m_available(to_signed(limit)), m_limit(limit) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;
  ~semaphore() = default;

  /// Awaitable: `co_await sem.acquire();` completes holding one permit
  /// (return it with release()). Suspends while none is free.
  [[nodiscard]] acquire_awaiter<false> acquire() noexcept { return acquire_awaiter<false>(*this, {}); }

  /// Awaitable bool: true holding a permit, false (holding none) once `stop`
  /// is requested first; false at once if it already was.
  [[nodiscard]] acquire_awaiter<true> acquire(std::stop_token stop) noexcept {
    return acquire_awaiter<true>(*this, std::move(stop));
  }

  /// Awaitable: `semaphore_permit p = co_await sem.acquire_permit();` the
  /// permit goes back when `p` is destroyed.
  [[nodiscard]] auto acquire_permit() noexcept {
    class awaiter : public acquire_awaiter<false> {
     public:
      explicit awaiter(semaphore& s) noexcept : acquire_awaiter<false>(s, {}) {}
      semaphore_permit await_resume() noexcept { return semaphore_permit(this->m_semaphore); }
    };
    return awaiter(*this);
  }

  /// Awaitable std::optional<semaphore_permit>: empty once `stop` is
  /// requested first. The form to race in when_any / timeout: a permit that
  /// loses the race is destroyed, and so returned.
  [[nodiscard]] auto acquire_permit(std::stop_token stop) noexcept {
    class awaiter : public acquire_awaiter<true> {
     public:
      awaiter(semaphore& s, std::stop_token token) noexcept : acquire_awaiter<true>(s, std::move(token)) {}
      std::optional<semaphore_permit> await_resume() noexcept {
        if (!acquire_awaiter<true>::await_resume()) return std::nullopt;
        return std::optional<semaphore_permit>(std::in_place, this->m_semaphore);
      }
    };
    return awaiter(*this, std::move(stop));
  }

  /// Takes a permit if one is free and nobody is waiting; never waits.
  [[nodiscard]] bool try_acquire() noexcept {
    if (m_waiting.load(std::memory_order_seq_cst) != 0) return false;
    return take_available();
  }

  /// Returns a permit; hands it to the longest waiter if there is one.
  void release() {
    m_available.fetch_add(1, std::memory_order_seq_cst);
    if (m_waiting.load(std::memory_order_seq_cst) != 0) grant_waiters();
  }

  /// Changes the limit (see the header comment): raising wakes waiters at
  /// once; lowering takes effect as permits are released.
  void set_limit(std::size_t limit) {
    detail::semaphore_wake_list woken;
    std::lock_guard lock(m_mutex);
    std::size_t old = m_limit.exchange(limit, std::memory_order_relaxed);
    m_available.fetch_add(to_signed(limit) - to_signed(old), std::memory_order_seq_cst);
    grant_locked(woken);
  }

  /// The current limit.
  [[nodiscard]] std::size_t limit() const noexcept { return m_limit.load(std::memory_order_relaxed); }
  /// Permits out now (a snapshot; may exceed limit() just after lowering it).
  [[nodiscard]] std::size_t in_use() const noexcept {
    std::int64_t out = to_signed(limit()) - m_available.load(std::memory_order_relaxed);
    return out > 0 ? static_cast<std::size_t>(out) : 0;
  }
  /// Permits free now (a snapshot).
  [[nodiscard]] std::size_t available() const noexcept {
    std::int64_t n = m_available.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  /// Coroutines waiting now (a snapshot).
  [[nodiscard]] std::size_t waiters() const noexcept { return m_waiting.load(std::memory_order_relaxed); }

 private:
  template <bool Cancellable>
  class acquire_awaiter {
   public:
    acquire_awaiter(semaphore& s, std::stop_token stop) noexcept : m_semaphore(s), m_stop(std::move(stop)) {}
    acquire_awaiter(const acquire_awaiter&) = delete;
    acquire_awaiter& operator=(const acquire_awaiter&) = delete;
    ~acquire_awaiter() = default;

    bool await_ready() noexcept {
      if constexpr (Cancellable) {
        if (m_stop.stop_requested()) {
          m_waiter.outcome = detail::semaphore_waiter::cancelled;
          return true;
        }
      }
      if (!m_semaphore.try_acquire()) return false;
      m_waiter.outcome = detail::semaphore_waiter::granted;
      return true;
    }

    bool await_suspend(std::coroutine_handle<> h) {
      m_waiter.coroutine = detail::suspended_coroutine::here(h);
      if (!m_semaphore.enqueue(m_waiter)) {
        m_waiter.outcome = detail::semaphore_waiter::granted;
        return false;
      }
      // Registered after queueing: a token stopped already runs the callback
      // right here, which finds the waiter queued and cancels it.
      if constexpr (Cancellable) m_on_stop.emplace(m_stop, canceller{&m_semaphore, &m_waiter});
      // Drop await_suspend's reference: if the outcome is already decided,
      // carry on without suspending.
      return !m_waiter.drop_reference();
    }

    std::conditional_t<Cancellable, bool, void> await_resume() noexcept {
      if constexpr (Cancellable) {
        m_on_stop.reset();  // waits for a stop callback running on another thread
        return m_waiter.outcome == detail::semaphore_waiter::granted;
      }
    }

   protected:
    semaphore& m_semaphore;

   private:
    struct canceller {
      semaphore* m_semaphore;
      detail::semaphore_waiter* m_waiter;
      void operator()() const noexcept { m_semaphore->cancel(*m_waiter); }
    };

    std::stop_token m_stop;
    detail::semaphore_waiter m_waiter;
    std::optional<std::stop_callback<canceller>> m_on_stop;
  };

  static std::int64_t to_signed(std::size_t n) noexcept {
    constexpr auto max = static_cast<std::size_t>(INT64_MAX / 2);
    return static_cast<std::int64_t>(n < max ? n : max);
  }

  bool take_available() noexcept {
    std::int64_t have = m_available.load(std::memory_order_seq_cst);
    while (have > 0) {
      if (m_available.compare_exchange_weak(have, have - 1, std::memory_order_seq_cst, std::memory_order_seq_cst))
        return true;
    }
    return false;
  }

  // Slow path: false when a permit was taken right away, true after queueing.
  // The waiting count goes up before the last look at the permits, and
  // release() adds the permit before it looks at the count (both seq_cst):
  // either the waiter sees the permit or the releaser sees the waiter.
  bool enqueue(detail::semaphore_waiter& w) {
    std::lock_guard lock(m_mutex);
    m_waiting.fetch_add(1, std::memory_order_seq_cst);
    if (m_waiters.empty() && take_available()) {
      m_waiting.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    m_waiters.push_back(&w);
    return true;
  }

  void grant_waiters() {
    detail::semaphore_wake_list woken;
    std::lock_guard lock(m_mutex);
    grant_locked(woken);
  }

  void grant_locked(detail::semaphore_wake_list& woken) {
    while (!m_waiters.empty() && take_available()) {
      detail::semaphore_waiter* w = m_waiters.pop_front();
      m_waiting.fetch_sub(1, std::memory_order_relaxed);
      w->outcome = detail::semaphore_waiter::granted;
      woken.add(w);
    }
  }

  void cancel(detail::semaphore_waiter& w) {
    {
      std::lock_guard lock(m_mutex);
      if (!w.queued) return;  // granted first: the permit wins
      m_waiters.erase(&w);
      m_waiting.fetch_sub(1, std::memory_order_relaxed);
      w.outcome = detail::semaphore_waiter::cancelled;
    }
    if (w.drop_reference()) w.coroutine.resume();
  }

  // limit minus permits out; negative after the limit was lowered below that.
  std::atomic<std::int64_t> m_available;
  std::atomic<std::size_t> m_waiting{0};  // queued waiters, read by the lock-free paths
  std::atomic<std::size_t> m_limit;
  std::mutex m_mutex;  // guards m_waiters and limit changes
  detail::semaphore_waiter_list m_waiters;
};

inline void semaphore_permit::reset() noexcept {
  if (m_owner) std::exchange(m_owner, nullptr)->release();
}

}  // namespace sluice
