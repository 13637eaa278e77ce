// sluice::oneshot<T>: a channel that carries exactly one value or one error.
//
// This is how compute returns to async code (the `rayon::spawn` +
// `tokio::sync::oneshot` pattern): the worker calls `tx.send(v)` or
// `tx.fail(e)`, the coroutine does `co_await rx` (or a thread calls
// `rx.get()`). Dropping a sender that never sent makes the receiver fail with
// sluice::broken_promise, so a forgotten result never hangs the waiter.
//
// Thread-safety: sender and receiver may live on different threads; each
// handle is used by one thread at a time. Lock-free (one atomic exchange each side).
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "sluice/core/detail/outcome.hpp"
#include "sluice/core/detail/resume.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/wait_note.hpp"

namespace sluice {

/// Thrown by a oneshot receiver whose sender was destroyed without sending.
class broken_promise : public std::logic_error {
 public:
  broken_promise() : std::logic_error("sluice::oneshot: sender dropped without sending a value") {}
};

template <typename T>
class oneshot_sender;
template <typename T>
class oneshot_receiver;

namespace detail {

/// The reference count of a oneshot's state, shared by its sender and
/// receiver: intrusive, so that a oneshot is one allocation without
/// std::make_shared's allocator-aware control block, some fifty functions
/// per T at -O0 in every program that spawns (docs/architecture.md, "Header
/// cost"). The last reference deletes the state through `destroy`.
class oneshot_refs {
 public:
  oneshot_refs(const oneshot_refs&) = delete;
  oneshot_refs& operator=(const oneshot_refs&) = delete;

  void retain() noexcept { m_refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) m_destroy(this);
  }

 protected:
  using destroy_fn = void (*)(oneshot_refs*) noexcept;
  explicit oneshot_refs(destroy_fn destroy) noexcept : m_destroy(destroy) {}
  ~oneshot_refs() = default;

 private:
  std::atomic<std::size_t> m_refs{1};  // the creator's reference
  destroy_fn m_destroy;
};

/// An owning reference to a oneshot's state, whatever its T: one type (and
/// one set of functions) for every oneshot. oneshot_state_of<T>() gives the
/// typed state; T must be the one the state was made with.
class oneshot_ref {
 public:
  oneshot_ref() noexcept = default;
  /// Takes over the reference `state` was created with.
  explicit oneshot_ref(oneshot_refs* state) noexcept : m_state(state) {}
  oneshot_ref(const oneshot_ref& other) noexcept : m_state(other.m_state) {
    if (m_state) m_state->retain();
  }
  oneshot_ref(oneshot_ref&& other) noexcept : m_state(std::exchange(other.m_state, nullptr)) {}
  oneshot_ref& operator=(oneshot_ref other) noexcept {
    std::swap(m_state, other.m_state);
    return *this;
  }
  ~oneshot_ref() {
    if (m_state) m_state->release();
  }

  [[nodiscard]] explicit operator bool() const noexcept { return m_state != nullptr; }
  [[nodiscard]] oneshot_refs* get() const noexcept { return m_state; }

 private:
  oneshot_refs* m_state = nullptr;
};

template <typename T>
class oneshot_state : public oneshot_refs {
 public:
  using stored_type = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  oneshot_state() : oneshot_refs(&destroy) {}

  // Called once by the sender side with the value or the error already stored.
  void complete() {
    auto previous = m_phase.exchange(ready, std::memory_order_acq_rel);
    assert(previous != ready && "oneshot completed twice");
    if (previous == waiting) {
      m_waiter.resume();
    } else {
      m_phase.notify_one();  // a thread blocked in get()
    }
  }

  template <typename... Args>
  void set_value(Args&&... args) {
    m_result.set_value(std::forward<Args>(args)...);
    complete();
  }
  void set_exception(std::exception_ptr e) {
    m_result.set_error(std::move(e));
    complete();
  }

  [[nodiscard]] bool ready_now() const noexcept { return m_phase.load(std::memory_order_acquire) == ready; }

  // Returns false when the value arrived first (the caller must not suspend).
  bool suspend(std::coroutine_handle<> h) noexcept {
    m_waiter = suspended_coroutine::here(h);
    int expected = empty;
    return m_phase.compare_exchange_strong(expected, waiting, std::memory_order_acq_rel);
  }

  void wait_blocking() const noexcept {
    for (int p = m_phase.load(std::memory_order_acquire); p != ready; p = m_phase.load(std::memory_order_acquire))
      m_phase.wait(p, std::memory_order_acquire);
  }

  stored_type take() { return m_result.take(); }

 private:
  static void destroy(oneshot_refs* state) noexcept { delete static_cast<oneshot_state*>(state); }

  static constexpr int empty = 0, waiting = 1, ready = 2;
  std::atomic<int> m_phase{empty};
  suspended_coroutine m_waiter;
  outcome<stored_type> m_result;
};

/// The oneshot_state<T> behind `ref` (made as one).
template <typename T>
oneshot_state<T>& oneshot_state_of(const oneshot_ref& ref) noexcept {
  return *static_cast<oneshot_state<T>*>(ref.get());
}

}  // namespace detail

/// The sending half: send a value once, or fail with an exception.
template <typename T>
class oneshot_sender {
 public:
  oneshot_sender() = default;
  /// `s` refers to a oneshot_state<T>.
  explicit oneshot_sender(detail::oneshot_ref s) noexcept : m_state(std::move(s)) {}
  oneshot_sender(oneshot_sender&&) noexcept = default;
  oneshot_sender& operator=(oneshot_sender&& other) noexcept {
    if (this != &other) {
      abandon();
      m_state = std::move(other.m_state);
    }
    return *this;
  }
  oneshot_sender(const oneshot_sender&) = delete;
  oneshot_sender& operator=(const oneshot_sender&) = delete;
  /// An unsent sender fails the receiver with broken_promise.
  ~oneshot_sender() { abandon(); }

  /// Delivers the value (for oneshot<void>: no argument). At most once.
  template <typename... Args>
  void send(Args&&... args) {
    assert(m_state && "oneshot_sender used after send/fail or move");
    const detail::oneshot_ref state = std::exchange(m_state, {});
    detail::oneshot_state_of<T>(state).set_value(std::forward<Args>(args)...);
  }

  /// Delivers an error the receiver rethrows. At most once.
  void fail(std::exception_ptr error) {
    assert(m_state && "oneshot_sender used after send/fail or move");
    const detail::oneshot_ref state = std::exchange(m_state, {});
    detail::oneshot_state_of<T>(state).set_exception(std::move(error));
  }

  /// True until send() or fail() has been called.
  [[nodiscard]] bool pending() const noexcept { return static_cast<bool>(m_state); }

 private:
  void abandon() noexcept {
    if (!m_state) return;
    const detail::oneshot_ref state = std::exchange(m_state, {});
    detail::oneshot_state_of<T>(state).set_exception(std::make_exception_ptr(broken_promise{}));
  }
  detail::oneshot_ref m_state;  // a oneshot_state<T>
};

namespace detail {
class erased_oneshot;
/// What a labelled receiver's wait is noted as (oneshot_receiver::label_wait).
struct oneshot_wait_label {
  wait_kind kind;
  std::string what;
  std::optional<std::chrono::steady_clock::time_point> until;
};
}  // namespace detail

/// The receiving half: `co_await rx` in a coroutine or `rx.get()` on a thread. Consumed once.
template <typename T>
class [[nodiscard]] oneshot_receiver {
 public:
  using value_type = T;

  oneshot_receiver() = default;
  /// `s` refers to a oneshot_state<T>.
  explicit oneshot_receiver(detail::oneshot_ref s) noexcept : m_state(std::move(s)) {}
  oneshot_receiver(oneshot_receiver&&) noexcept = default;
  oneshot_receiver& operator=(oneshot_receiver&&) noexcept = default;
  oneshot_receiver(const oneshot_receiver&) = delete;
  oneshot_receiver& operator=(const oneshot_receiver&) = delete;

  /// True once the value or error has arrived (get() would not block).
  [[nodiscard]] bool ready() const noexcept { return m_state && detail::oneshot_state_of<T>(m_state).ready_now(); }

  /// Blocks the calling thread until the result arrives; returns it or rethrows.
  T get() {
    assert(m_state && "oneshot_receiver consumed twice");
    const detail::oneshot_ref held = std::move(m_state);
    auto& state = detail::oneshot_state_of<T>(held);
    state.wait_blocking();
    if constexpr (std::is_void_v<T>) {
      state.take();
    } else {
      return state.take();
    }
  }

  /// Names what a coroutine awaiting this receiver waits for, in a stall
  /// dump (wait_note.hpp), in place of the generic "oneshot" label: for a
  /// library whose results arrive through a oneshot (the Redis connection
  /// labels each command). The dump escapes `what`; keep secrets out of it.
  /// Allocates, and the label is read only while waits are watched, so
  /// label only when waits_watched().
  /// `until`: when the wait ends at the latest (a timeout), shown as
  /// "ends in ...".
  void label_wait(wait_kind kind, std::string what,
                  std::optional<std::chrono::steady_clock::time_point> until = std::nullopt) {
    m_label = std::make_unique<detail::oneshot_wait_label>(detail::oneshot_wait_label{kind, std::move(what), until});
  }

  auto operator co_await() && noexcept { return awaiter{std::move(m_state), {}, std::move(m_label)}; }
  auto operator co_await() & noexcept { return awaiter{std::move(m_state), {}, std::move(m_label)}; }

 private:
  struct awaiter {
    detail::oneshot_ref m_state;  // a oneshot_state<T>
    wait_note m_note{};           // for a stall dump, while suspended (a default note records nothing)
    std::unique_ptr<detail::oneshot_wait_label> m_label{};  // label_wait()'s, if any
    [[nodiscard]] detail::oneshot_state<T>& state() const noexcept { return detail::oneshot_state_of<T>(m_state); }
    bool await_ready() const noexcept {
      assert(m_state && "oneshot_receiver consumed twice");
      return state().ready_now();
    }
    template <typename P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      if (waits_watched()) [[unlikely]]
        note(wait_owner_of(h));  // before suspending: once suspended, another thread may resume us
      return state().suspend(h);
    }
    void note(const wait_owner* owner) noexcept {
      try {
        m_note = m_label ? wait_note(m_label->kind, m_label->what, m_label->until, owner)
                         : wait_note(wait_kind::oneshot, "oneshot (a spawned task's result or a sender's value)",
                                     std::nullopt, owner);
      } catch (...) {
        // Out of memory: the wait goes unlabelled.
      }
    }
    T await_resume() {
      m_note = wait_note();
      if constexpr (std::is_void_v<T>) {
        state().take();
      } else {
        return state().take();
      }
    }
  };

  friend class detail::erased_oneshot;
  detail::oneshot_ref m_state;                            // a oneshot_state<T>
  std::unique_ptr<detail::oneshot_wait_label> m_label{};  // label_wait()'s, if any
};

namespace detail {

// A oneshot_receiver<T> with T erased: one type for the receivers of every
// T, so that a channel of them is compiled once (async_map's ordered result
// slots, stages/detail/async_map_channels.hpp) rather than per T. take<T>()
// gives the typed receiver back; T must be the type it was made from.
class erased_oneshot {
 public:
  erased_oneshot() = default;
  template <typename T>
  explicit erased_oneshot(oneshot_receiver<T>&& rx) noexcept : m_state(std::move(rx.m_state)), m_ready(&ready_of<T>) {}

  /// True once the value or error has arrived.
  [[nodiscard]] bool ready() const noexcept { return m_state && m_ready(m_state.get()); }

  template <typename T>
  [[nodiscard]] oneshot_receiver<T> take() && noexcept {
    return oneshot_receiver<T>{std::move(m_state)};
  }

 private:
  template <typename T>
  static bool ready_of(const oneshot_refs* state) noexcept {
    return static_cast<const oneshot_state<T>*>(state)->ready_now();
  }
  oneshot_ref m_state;  // a oneshot_state<T>, deleted by its own function
  bool (*m_ready)(const oneshot_refs*) noexcept = nullptr;
};

}  // namespace detail

/// A connected sender/receiver pair: `auto [tx, rx] = sluice::oneshot<int>();`
template <typename T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> oneshot() {
  // Not make_shared: see oneshot_refs.
  detail::oneshot_ref state(new detail::oneshot_state<T>());
  return {oneshot_sender<T>{state}, oneshot_receiver<T>{std::move(state)}};
}

}  // namespace sluice
