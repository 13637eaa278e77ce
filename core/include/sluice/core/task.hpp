// sluice::task<T>: a lazy, move-only coroutine task.
//
// A task does nothing until it is awaited (or handed to sync_wait / spawn).
// Completion resumes the awaiting coroutine by symmetric transfer, so in an
// optimised build a chain of a million nested `co_await`s runs in constant
// stack. An exception thrown inside the task is stored and rethrown at the
// `co_await` that consumes it.
//
// Symmetric transfer is only constant-stack when the compiler turns it into a
// tail call, which g++ does not do unoptimised or under ASan/TSan
// instrumentation. There a loop that awaits tasks finishing without
// suspending (say, reads already done) would grow the stack by a frame per
// iteration until it overflowed. So those builds start the awaited task with
// an ordinary resume and a handshake (one atomic exchange on each side): a
// task that finished inside that resume lets its awaiter continue in place.
// Nesting depth still costs stack there; a loop no longer does.
//
// Thread-safety: a task object is owned by one coroutine at a time; awaiting
// it twice, or awaiting a moved-from task, is a logic error (asserted).
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

#include "sluice/core/detail/outcome.hpp"

namespace sluice {

template <typename T = void>
class task;
struct wait_owner;

namespace detail {

#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(SLUICE_TSAN)
#define SLUICE_DETAIL_TASK_HANDSHAKE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLUICE_DETAIL_TASK_HANDSHAKE 1
#endif
#endif

// Resumes whoever awaited the task, or returns to the resumer when detached.
struct task_final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
    auto& promise = h.promise();
#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
    // The awaiter has not yet seen the task suspend: it continues by itself.
    if (!promise.m_handed_off.exchange(true, std::memory_order_acq_rel)) return std::noop_coroutine();
#endif
    auto continuation = promise.m_continuation;
    return continuation ? continuation : std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

class task_promise_base {
 public:
  std::suspend_always initial_suspend() const noexcept { return {}; }
  task_final_awaiter final_suspend() const noexcept { return {}; }
  /// The in-flight item this coroutine works for, when any (see
  /// sluice/core/wait_note.hpp): set by the async stage that runs the item,
  /// inherited by every task it awaits, so a wait labelled anywhere down the
  /// chain names its item in a stall dump.
  [[nodiscard]] const wait_owner* owner_of_waits() const noexcept { return m_wait_owner; }
  void set_owner_of_waits(const wait_owner* owner) noexcept { m_wait_owner = owner; }

  /// For drivers that resume the task themselves: `c` runs when it finishes.
  void set_continuation(std::coroutine_handle<> c) noexcept {
    m_continuation = c;
#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
    m_handed_off.store(true, std::memory_order_relaxed);
#endif
  }

#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
  // Starts the task from an awaiter on this thread's stack. Returns true when
  // it finished inside that call, so the awaiter continues without suspending
  // (no frame for the continuation, whatever the compiler does with tail
  // calls). Otherwise the task resumes `c` when it finishes.
  bool start_and_check_done(std::coroutine_handle<> self, std::coroutine_handle<> c) noexcept {
    m_continuation = c;
    m_handed_off.store(false, std::memory_order_relaxed);
    self.resume();
    return m_handed_off.exchange(true, std::memory_order_acq_rel);
  }
#endif

 protected:
  friend struct task_final_awaiter;
  std::coroutine_handle<> m_continuation;
  const wait_owner* m_wait_owner = nullptr;
#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
  std::atomic<bool> m_handed_off{true};
#endif
};

template <typename T>
class task_promise final : public task_promise_base {
 public:
  task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { m_result.set_error(std::current_exception()); }

  template <typename U>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    m_result.set_value(std::forward<U>(value));
  }

  T take_result() { return m_result.take(); }

 private:
  outcome<T> m_result;
};

template <>
class task_promise<void> final : public task_promise_base {
 public:
  task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { m_exception = std::current_exception(); }
  void return_void() noexcept {}
  void take_result() {
    if (m_exception) std::rethrow_exception(m_exception);
  }

 private:
  std::exception_ptr m_exception;
};

// The item the coroutine behind `h` works for: its promise's, when it
// keeps one (sluice::task, when_all's children), else none.
template <typename P>
const wait_owner* owner_of_waits_of(std::coroutine_handle<P> h) noexcept {
  if constexpr (requires { h.promise().owner_of_waits(); }) {
    return h.promise().owner_of_waits();
  } else {
    return nullptr;
  }
}

// A task awaited by another task (or by a when_all child) works for the
// same item, if any.
template <typename P>
void inherit_owner_of_waits(task_promise_base& child, std::coroutine_handle<P> parent) noexcept {
  if (const auto* owner = owner_of_waits_of(parent)) child.set_owner_of_waits(owner);
}

}  // namespace detail

/// A lazily started coroutine producing a T (or void).
///
/// `co_await some_task` starts it, suspends the caller and resumes the caller
/// when the task finishes, returning its value or rethrowing its exception.
template <typename T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : m_handle(h) {}
  task(task&& other) noexcept : m_handle(std::exchange(other.m_handle, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      destroy();
      m_handle = std::exchange(other.m_handle, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  /// True when this object owns a coroutine (not default-constructed or moved from).
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(m_handle); }
  /// True once the coroutine has run to completion.
  [[nodiscard]] bool done() const noexcept { return !m_handle || m_handle.done(); }

  /// Awaiting an rvalue task consumes it: the task's frame, and with it the
  /// coroutine's parameters (say, a channel sender), is destroyed as soon as
  /// the result is taken, not when the task object would go out of scope.
  auto operator co_await() && noexcept { return consuming_awaiter{std::exchange(m_handle, {})}; }
  /// Awaiting an lvalue task leaves the finished frame to the task object.
  auto operator co_await() & noexcept { return awaiter{m_handle}; }

  /// For sluice's own drivers (sync_wait, spawn, when_all): the raw handle.
  [[nodiscard]] handle_type handle() const noexcept { return m_handle; }

 private:
  struct awaiter {
    handle_type m_coro;
    bool await_ready() const noexcept {
      assert(m_coro && "co_await on an empty or moved-from task");
      return m_coro.done();
    }
#ifdef SLUICE_DETAIL_TASK_HANDSHAKE
    template <typename P>
    bool await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      detail::inherit_owner_of_waits(m_coro.promise(), awaiting);
      return !m_coro.promise().start_and_check_done(m_coro, awaiting);
    }
#else
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      detail::inherit_owner_of_waits(m_coro.promise(), awaiting);
      m_coro.promise().set_continuation(awaiting);
      return m_coro;
    }
#endif
    decltype(auto) await_resume() { return m_coro.promise().take_result(); }
  };

  struct consuming_awaiter : awaiter {
    explicit consuming_awaiter(handle_type h) noexcept : awaiter{h} {}
    consuming_awaiter(consuming_awaiter&& o) noexcept : awaiter{std::exchange(o.m_coro, {})} {}
    consuming_awaiter(const consuming_awaiter&) = delete;
    consuming_awaiter& operator=(const consuming_awaiter&) = delete;
    consuming_awaiter& operator=(consuming_awaiter&&) = delete;
    ~consuming_awaiter() {
      if (this->m_coro) this->m_coro.destroy();  // never resumed (the awaiting frame was destroyed)
    }
    T await_resume() {
      struct destroy_on_exit {
        handle_type h;
        ~destroy_on_exit() { h.destroy(); }
      } frame{std::exchange(this->m_coro, {})};
      return frame.h.promise().take_result();
    }
  };

  void destroy() noexcept {
    if (m_handle) m_handle.destroy();
  }

  handle_type m_handle;
};

namespace detail {
template <typename T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

/// Satisfied by any type that can be `co_await`ed (has operator co_await or the awaiter trio).
template <typename A>
concept awaitable = requires(A&& a) {
  std::forward<A>(a).operator co_await();
}
|| requires(A& a, std::coroutine_handle<> h) {
  { a.await_ready() } -> std::convertible_to<bool>;
  a.await_suspend(h);
  a.await_resume();
};

}  // namespace sluice
