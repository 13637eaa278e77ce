// sluice::select: wait on several channels at once; exactly one operation
// happens.
//
//   auto r = co_await sluice::select(run_stop, jobs_rx, control_rx, sluice::send_to(results_tx, out));
//   switch (r.index()) {
//     case 0: handle(r.get<0>()); break;        // an item from jobs_rx
//     case 1: apply(r.get<1>()); break;         // an item from control_rx
//     case 2: /* `out` was sent */ break;
//     default: /* !r: r.closed() (every channel closed) or r.cancelled() */ break;
//   }
//
// Arms: a channel_receiver<T> (an lvalue; the arm receives a T) or
// send_to(sender, item) (the arm sends `item`, moving from it only if that
// arm is the one that completes). Unlike racing recv() awaitables in
// when_any, losing arms take nothing: the item a receive did not take stays
// in its channel for other receivers, the item a send did not send stays
// with the caller. Each channel keeps the arm's waiter in its ordinary FIFO
// of waiters, and the arms share one state machine (detail/select_arm.hpp)
// so that at most one of them is served; the rest are withdrawn.
//
// Outcome: the first arm that can proceed completes: r.index() says which
// and r.get<I>() is its value (std::monostate for a send). Arms that are
// ready at once are tried starting from a rotating position, so no arm
// starves another. An arm whose channel is closed (a receive: closed and
// drained; a send: closed) drops out; when every arm has dropped out,
// r.closed() is true. When `stop` (the run's token: the project's one
// cancellation model) is requested before any arm completes,
// r.cancelled() is true; an arm that completed first wins over the stop.
//
// Resumption: a woken select continues on the runtime it suspended on
// (detail/resume.hpp).
//
// Plain threads: select_blocking(stop, arms...) is the same select for a
// thread that is not a coroutine (crossbeam's select! on threads): it
// returns the select_result directly and blocks the thread while no arm can
// proceed, with the same exclusivity, closed and stop-token rules, on the
// same channel hook. Like the channels' *_blocking forms, it retries for a
// few microseconds before it parks; do not call it on a runtime worker.
// Thread-safety: any number of selects, senders and receivers may use the
// same channels at once. Lifetime: the receivers, senders and items named
// must outlive the co_await. Errors: none of its own; a send arm on a
// bounded channel with a type whose move throws may throw std::bad_alloc.
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/select_arm.hpp"

namespace sluice {

/// A send arm for select(): sends `*item` to `*sender` if this arm completes.
template <typename T>
struct send_request {
  channel_sender<T>* sender;
  T* item;
};

/// Makes a send arm. `item` is moved from only when this arm is the one
/// that completes.
template <typename T>
send_request<T> send_to(channel_sender<T>& sender, T& item) noexcept {
  return {&sender, &item};
}

/// What a select completed with.
template <typename... Vs>
class select_result {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  enum class status { completed, closed, cancelled };

  select_result(status s) noexcept : m_status(s) {}  // NOLINT(google-explicit-constructor)
  template <std::size_t I, typename V>
  select_result(std::in_place_index_t<I>, V&& value) : m_value(std::in_place_index<I + 1>, std::forward<V>(value)) {}

  /// True when an arm completed.
  explicit operator bool() const noexcept { return m_status == status::completed; }
  [[nodiscard]] status state() const noexcept { return m_status; }
  /// Every arm's channel was closed (receives: and drained).
  [[nodiscard]] bool closed() const noexcept { return m_status == status::closed; }
  /// The stop token fired before any arm completed.
  [[nodiscard]] bool cancelled() const noexcept { return m_status == status::cancelled; }
  /// The arm that completed, or npos.
  [[nodiscard]] std::size_t index() const noexcept { return m_value.index() == 0 ? npos : m_value.index() - 1; }
  /// The value of arm I; it must be the one that completed (index() == I).
  template <std::size_t I>
  [[nodiscard]] auto& get() & {
    return std::get<I + 1>(m_value);
  }
  template <std::size_t I>
  [[nodiscard]] auto&& get() && {
    return std::get<I + 1>(std::move(m_value));
  }

 private:
  status m_status = status::completed;
  std::variant<std::monostate, Vs...> m_value;
};

namespace detail {

struct channel_access {
  template <typename T, bool IsSender>
  static channel_state<T>* state(const channel_handle<T, IsSender>& handle) noexcept {
    return handle.m_state.get();
  }
  /// A sender handle's lane (channel_state::add_sender).
  template <typename T>
  static std::uint32_t lane(const channel_handle<T, true>& handle) noexcept {
    return handle.m_lane;
  }
};

// One receive arm: its channel and the waiter it queues there.
template <typename T>
class select_recv_arm {
 public:
  using value_type = T;
  explicit select_recv_arm(channel_receiver<T>& rx) noexcept : m_channel(channel_access::state(rx)) {}
  channel_op try_now() { return m_channel->try_recv(m_waiter.item); }
  bool enlist(select_arm& arm) {  // true: queued
    m_waiter.arm = &arm;
    return m_channel->select_wait(m_waiter) == channel_waiter<T>::pending;
  }
  void withdraw() { m_channel->select_withdraw(m_waiter); }
  T take() { return std::move(*m_waiter.item); }

 private:
  channel_state<T>* m_channel;
  channel_waiter<T> m_waiter;
};

// One send arm: its channel, the caller's item and the waiter.
template <typename T>
class select_send_arm {
 public:
  using value_type = std::monostate;
  explicit select_send_arm(send_request<T> request) noexcept
      : m_channel(channel_access::state(*request.sender)),
        m_lane(channel_access::lane(*request.sender)),
        m_item(request.item) {}
  channel_op try_now() { return m_channel->try_send(*m_item, false, m_lane); }
  bool enlist(select_arm& arm) {  // true: queued
    m_waiter.arm = &arm;
    m_waiter.send_item = m_item;
    return m_channel->select_wait(m_waiter) == channel_waiter<T>::pending;
  }
  void withdraw() { m_channel->select_withdraw(m_waiter); }
  std::monostate take() noexcept { return {}; }

 private:
  channel_state<T>* m_channel;
  std::uint32_t m_lane;
  T* m_item;
  channel_waiter<T> m_waiter;
};

template <typename A>
struct select_arm_for;
template <typename T>
struct select_arm_for<channel_receiver<T>&> {
  using type = select_recv_arm<T>;
};
template <typename T>
struct select_arm_for<send_request<T>> {
  using type = select_send_arm<T>;
};
template <typename T>
struct select_arm_for<send_request<T>&> {
  using type = select_send_arm<T>;
};

template <typename A>
concept select_arm_argument = requires {
  typename select_arm_for<A>::type;
};

// Where the fast path starts looking, so a ready first arm cannot starve the others.
inline std::size_t select_start() noexcept {
  static thread_local std::size_t next = 0;
  return next++;
}

template <typename... Arms>
class select_awaiter {
  static constexpr std::size_t count = sizeof...(Arms);
  using result_type = select_result<typename Arms::value_type...>;

 public:
  template <typename... As>
  explicit select_awaiter(std::stop_token stop, As&&... arms)
      : m_stop(std::move(stop)), m_arms(std::forward<As>(arms)...) {}
  select_awaiter(const select_awaiter&) = delete;
  select_awaiter& operator=(const select_awaiter&) = delete;
  ~select_awaiter() = default;

  bool await_ready() {
    if (m_stop.stop_requested()) {
      m_status = result_type::status::cancelled;
      return true;
    }
    m_first = select_start() % count;
    std::size_t closed = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = (m_first + k) % count;
      channel_op op = on_arm(i, [](auto& arm) { return arm.try_now(); });
      if (op == channel_op::done) {
        m_winner = i;
        return true;
      }
      if (op == channel_op::closed) {
        m_closed[i] = true;
        ++closed;
      }
    }
    if (closed < count) return false;
    m_status = result_type::status::closed;
    return true;
  }

  bool await_suspend(std::coroutine_handle<> h) { return enlist(suspended_coroutine::here(h)); }

  result_type await_resume() {
    if (m_selector) {
      m_on_stop.reset();  // waits for a stop callback running on another thread
      for (std::size_t i = 0; i < count; ++i)
        if (m_queued[i]) on_arm(i, [](auto& arm) { arm.withdraw(); });
      m_winner = m_selector->winner();
      if (m_winner == selector::none)
        m_status = m_selector->cancelled() ? result_type::status::cancelled : result_type::status::closed;
    }
    if (m_winner == selector::none) return result_type(m_status);
    return take(std::index_sequence_for<Arms...>{});
  }

  /// Blocking form (select_blocking): the fast path with a short backoff,
  /// then the arms are queued and the thread parks until the decision.
  result_type wait_blocking() {
    for (ring_backoff backoff;; backoff.snooze()) {
      if (await_ready()) return await_resume();
      if (backoff.completed()) break;
    }
    if (enlist(suspended_coroutine{})) m_selector->wait_thread();
    return await_resume();
  }

 private:
  // Queues one waiter per open arm (see detail/select_arm.hpp) for `waiter`
  // (a coroutine, or a null handle for a blocked thread). True: wait for the
  // decision; false: already decided, go on to await_resume().
  bool enlist(suspended_coroutine waiter) {
    std::size_t open = 0;
    for (bool c : m_closed) open += c ? 0 : 1;
    m_selector.emplace(open);
    m_selector->set_coroutine(waiter);
    for (std::size_t k = 0; k < count && !m_selector->is_decided(); ++k) {
      const std::size_t i = (m_first + k) % count;
      if (m_closed[i]) continue;
      m_hooks[i] = select_arm{&*m_selector, i};
      m_queued[i] = on_arm(i, [&](auto& arm) { return arm.enlist(m_hooks[i]); });
    }
    // Registered after queueing: a token stopped already runs the callback
    // right here, which decides the selector (cancelled) unless an arm won.
    if (m_stop.stop_possible()) m_on_stop.emplace(m_stop, canceller{&*m_selector});
    return m_selector->finish_suspend();
  }

  struct canceller {
    selector* m_selector;
    void operator()() const {
      if (m_selector->cancel()) m_selector->wake();
    }
  };

  // Calls f(arm i) for a run-time index.
  template <typename F>
  auto on_arm(std::size_t i, F&& f) {
    return on_arm_impl(i, f, std::index_sequence_for<Arms...>{});
  }
  template <typename F, std::size_t... Is>
  auto on_arm_impl(std::size_t i, F& f, std::index_sequence<Is...>) {
    using R = decltype(f(std::get<0>(m_arms)));
    if constexpr (std::is_void_v<R>) {
      (void)((i == Is ? (f(std::get<Is>(m_arms)), true) : false) || ...);
    } else {
      R r{};
      (void)((i == Is ? (r = f(std::get<Is>(m_arms)), true) : false) || ...);
      return r;
    }
  }

  template <std::size_t... Is>
  result_type take(std::index_sequence<Is...>) {
    std::optional<result_type> out;
    (void)((m_winner == Is ? (out.emplace(std::in_place_index<Is>, std::get<Is>(m_arms).take()), true) : false) || ...);
    return std::move(*out);
  }

  std::stop_token m_stop;
  std::tuple<Arms...> m_arms;
  std::size_t m_first = 0;
  std::size_t m_winner = selector::none;
  typename result_type::status m_status = result_type::status::completed;
  bool m_closed[count] = {};
  bool m_queued[count] = {};
  select_arm m_hooks[count] = {};
  std::optional<selector> m_selector;
  std::optional<std::stop_callback<canceller>> m_on_stop;
};

}  // namespace detail

/// Waits until one arm completes, every arm's channel is closed, or `stop`
/// is requested (see the header comment). Awaitable select_result.
template <typename... As>
requires(sizeof...(As) > 0 && (detail::select_arm_argument<As> && ...))
    [[nodiscard]] auto select(std::stop_token stop, As&&... arms) {
  return detail::select_awaiter<typename detail::select_arm_for<As>::type...>(std::move(stop),
                                                                              std::forward<As>(arms)...);
}

/// select() with no stop token.
template <typename... As>
requires(sizeof...(As) > 0 && (detail::select_arm_argument<As> && ...)) [[nodiscard]] auto select(As&&... arms) {
  return select(std::stop_token{}, std::forward<As>(arms)...);
}

/// The blocking form for plain threads (see the header comment): returns
/// once one arm completed, every arm's channel is closed, or `stop` is
/// requested; the same select_result as `co_await select(...)`.
template <typename... As>
requires(sizeof...(As) > 0 && (detail::select_arm_argument<As> && ...))
    [[nodiscard]] auto select_blocking(std::stop_token stop, As&&... arms) {
  detail::select_awaiter<typename detail::select_arm_for<As>::type...> op(std::move(stop), std::forward<As>(arms)...);
  return op.wait_blocking();
}

/// select_blocking() with no stop token.
template <typename... As>
requires(sizeof...(As) > 0 && (detail::select_arm_argument<As> && ...))
    [[nodiscard]] auto select_blocking(As&&... arms) {
  return select_blocking(std::stop_token{}, std::forward<As>(arms)...);
}

}  // namespace sluice
