// sluice::channel<T>: a multi-producer multi-consumer channel for coroutines
// and threads alike. Bounded channels keep their items in a ring of stamped
// slots (crossbeam-channel's design, detail/channel_ring.hpp); unbounded ones
// in a moodycamel::ConcurrentQueue.
//
//   auto [tx, rx] = sluice::channel<int>(1024);   // bounded: backpressure
//   co_await tx.send(42);                         // suspends while full
//   while (auto v = co_await rx.recv()) use(*v);  // empty optional: closed and drained
//
// Bounded channels (capacity > 0) suspend senders while full; capacity 0
// means unbounded. Sender and receiver handles are copyable; the channel
// closes when the last sender is destroyed or on close(). Items sent before
// close are all delivered; a send that loses the race with close returns
// false and leaves its argument untouched. When the last receiver is
// destroyed the channel closes too, so senders never wait forever.
//
// Every operation exists in three forms: `co_await` (suspends the coroutine,
// never blocks a thread), `*_blocking` (for plain threads; do not call on a
// runtime worker) and `try_*` (never waits). recv_batch dequeues many items at
// once for batch consumers such as parallel stages.
//
// Thread-safety: any number of threads and coroutines may use the channel at
// once, through their own handles or a shared one. Items sent through one
// sender handle by one coroutine or thread at a time arrive in the order sent
// (even when the coroutine migrates between threads); there is no order
// across senders, nor among items several threads push through one shared
// handle at the same time. Copy a sender per producer for both speed and order.
#pragma once

#include <coroutine>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "sluice/core/detail/channel_state.hpp"

namespace sluice {

template <typename T>
class channel_sender;
template <typename T>
class channel_receiver;

namespace detail {

struct channel_access;  // select() reaches a handle's state through it (select.hpp)

// Shared ownership plus the per-role handle count that drives auto-close.
template <typename T, bool IsSender>
class channel_handle {
 public:
  channel_handle() = default;
  explicit channel_handle(std::shared_ptr<channel_state<T>> s) noexcept : m_state(std::move(s)) { attach(); }
  channel_handle(const channel_handle& o) noexcept : m_state(o.m_state) { attach(); }
  channel_handle(channel_handle&& o) noexcept = default;
  channel_handle& operator=(const channel_handle& o) {
    if (this != &o) {
      detach();
      m_state = o.m_state;
      attach();
    }
    return *this;
  }
  channel_handle& operator=(channel_handle&& o) noexcept(false) {
    if (this != &o) {
      detach();
      m_state = std::move(o.m_state);
    }
    return *this;
  }
  ~channel_handle() { detach(); }

  /// Closes the channel for everyone (idempotent).
  void close() const { m_state->close(); }
  [[nodiscard]] bool is_closed() const noexcept { return m_state->is_closed(); }
  /// Items currently buffered (a snapshot).
  [[nodiscard]] std::size_t size() const noexcept { return m_state->size(); }
  /// 0 for an unbounded channel.
  [[nodiscard]] std::size_t capacity() const noexcept { return m_state->capacity(); }
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(m_state); }

 protected:
  friend struct channel_access;
  void attach() noexcept {
    if (!m_state) return;
    if constexpr (IsSender) {
      m_state->add_sender();
    } else {
      m_state->add_receiver();
    }
  }
  void detach() {
    if (!m_state) return;
    if constexpr (IsSender) {
      m_state->drop_sender();
    } else {
      m_state->drop_receiver();
    }
    m_state.reset();
  }
  std::shared_ptr<channel_state<T>> m_state;
};

}  // namespace detail

/// The sending half of a channel.
template <typename T>
class channel_sender : public detail::channel_handle<T, true> {
  using base = detail::channel_handle<T, true>;
  using base::m_state;

 public:
  using value_type = T;

  channel_sender() = default;
  explicit channel_sender(std::shared_ptr<detail::channel_state<T>> s)
      : base(std::move(s)), m_producer(std::make_unique<detail::channel_producer<T>>()) {}
  /// A copy is a new producer with its own FIFO order.
  channel_sender(const channel_sender& other)
      : base(other), m_producer(std::make_unique<detail::channel_producer<T>>()) {}
  channel_sender(channel_sender&&) noexcept = default;
  channel_sender& operator=(const channel_sender& other) {
    if (this != &other) {
      m_producer = std::make_unique<detail::channel_producer<T>>();
      base::operator=(other);
    }
    return *this;
  }
  channel_sender& operator=(channel_sender&& other) noexcept(false) {
    if (this != &other) {
      m_producer.reset();
      base::operator=(std::move(other));
      m_producer = std::move(other.m_producer);
    }
    return *this;
  }
  ~channel_sender() = default;  // m_producer goes before the base releases the queue

  /// Awaitable: `bool sent = co_await tx.send(item);` Suspends while the
  /// channel is full. Moves from `item` only when it returns true; false
  /// means the channel was closed and `item` is left as it was.
  [[nodiscard]] auto send(T& item) noexcept { return send_awaiter{m_state.get(), m_producer.get(), &item}; }
  [[nodiscard]] auto send(T&& item) noexcept { return send_awaiter{m_state.get(), m_producer.get(), &item}; }

  /// Blocking form for plain threads; same contract as send(). A full
  /// channel is retried for a few microseconds (spinning, then yielding)
  /// before the thread parks, as crossbeam-channel does: a slot usually frees
  /// up sooner than a futex wake-up takes.
  [[nodiscard]] bool send_blocking(T& item) {
    auto op = m_state->try_send(m_producer.get(), item);
    for (detail::ring_backoff backoff; op == detail::channel_op::would_block && !backoff.completed();) {
      backoff.snooze();
      op = m_state->try_send(m_producer.get(), item);
    }
    if (op != detail::channel_op::would_block) return op == detail::channel_op::done;
    detail::channel_waiter<T> w;
    w.send_item = &item;
    int outcome = m_state->wait_for_slot(w);
    if (outcome == detail::channel_waiter<T>::pending) outcome = m_state->wait_blocking(w);
    return outcome == detail::channel_waiter<T>::granted;
  }
  [[nodiscard]] bool send_blocking(T&& item) { return send_blocking(item); }

  /// Never waits: false when the channel is full or closed (item untouched then).
  [[nodiscard]] bool try_send(T& item) { return m_state->try_send(m_producer.get(), item) == detail::channel_op::done; }
  [[nodiscard]] bool try_send(T&& item) { return try_send(item); }

 private:
  friend struct detail::channel_access;
  std::unique_ptr<detail::channel_producer<T>> m_producer;

  struct send_awaiter {
    using waiter = detail::channel_waiter<T>;
    detail::channel_state<T>* m_channel;
    detail::channel_producer<T>* m_producer;
    T* m_item;
    waiter m_waiter{};
    // pending: decided by a waker, read it from m_waiter.result.
    int m_outcome = waiter::pending;

    bool await_ready() {
      auto op = m_channel->try_send(m_producer, *m_item);
      if (op == detail::channel_op::would_block) return false;
      m_outcome = op == detail::channel_op::done ? waiter::granted : waiter::closed;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      m_waiter.coroutine = detail::suspended_coroutine::here(h);
      m_waiter.send_item = m_item;
      int outcome = m_channel->wait_for_slot(m_waiter);
      // Once queued, a waker on another thread may send for us and resume
      // (and finish) this coroutine at any moment: do not touch *this after
      // a pending outcome.
      if (outcome == waiter::pending) return true;
      m_outcome = outcome;
      return false;
    }
    bool await_resume() noexcept {
      if (m_outcome == waiter::pending) m_outcome = m_waiter.result.load(std::memory_order_acquire);
      return m_outcome == waiter::granted;
    }
  };
};

/// The receiving half of a channel. Also an input range (blocking) for plain threads.
template <typename T>
class channel_receiver : public detail::channel_handle<T, false> {
  using base = detail::channel_handle<T, false>;
  using base::m_state;

 public:
  using value_type = T;
  using base::base;

  /// Awaitable: `std::optional<T> v = co_await rx.recv();` Suspends while
  /// empty; an empty optional means closed and fully drained.
  [[nodiscard]] auto recv() noexcept { return recv_awaiter{m_state.get()}; }

  /// Awaitable: appends between 1 and `max` items to `out` and returns how
  /// many; 0 means closed and drained. One claim (one CAS on a bounded
  /// channel's ring) for the whole batch.
  [[nodiscard]] auto recv_batch(std::vector<T>& out, std::size_t max) noexcept {
    return recv_batch_awaiter{m_state.get(), &out, max == 0 ? 1 : max};
  }

  /// Blocking forms for plain threads. An empty channel is retried for a few
  /// microseconds before the thread parks (see send_blocking).
  std::optional<T> recv_blocking() {
    std::optional<T> out;
    auto op = m_state->try_recv(out);
    for (detail::ring_backoff backoff; op == detail::channel_op::would_block && !backoff.completed();) {
      backoff.snooze();
      op = m_state->try_recv(out);
    }
    if (op != detail::channel_op::would_block) return out;
    detail::channel_waiter<T> w;
    if (wait_thread(w) != detail::channel_waiter<T>::granted) return std::nullopt;
    return std::move(w.item);
  }
  std::size_t recv_batch_blocking(std::vector<T>& out, std::size_t max) {
    if (max == 0) max = 1;
    detail::channel_op op;
    std::size_t n = m_state->try_recv_batch(out, max, op);
    for (detail::ring_backoff backoff; op == detail::channel_op::would_block && !backoff.completed();) {
      backoff.snooze();
      n = m_state->try_recv_batch(out, max, op);
    }
    if (op != detail::channel_op::would_block) return n;
    detail::channel_waiter<T> w;
    w.batch = &out;
    w.want = max;
    return wait_thread(w) == detail::channel_waiter<T>::granted ? w.got : 0;
  }

  /// Never waits: an item if one is ready now.
  std::optional<T> try_recv() {
    std::optional<T> out;
    (void)m_state->try_recv(out);
    return out;
  }
  /// Never waits: appends up to `max` ready items, returns how many.
  std::size_t try_recv_batch(std::vector<T>& out, std::size_t max) {
    if (max == 0) return 0;
    detail::channel_op op;
    return m_state->try_recv_batch(out, max, op);
  }

  /// True once closed and every item has been received.
  [[nodiscard]] bool drained() const noexcept { return m_state->drained(); }

  /// Range-for over a receiver blocks the thread for each item until drained.
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(channel_receiver* rx) : m_rx(rx) { ++*this; }
    T& operator*() { return *m_current; }
    iterator& operator++() {
      m_current = m_rx->recv_blocking();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return !m_current; }

   private:
    channel_receiver* m_rx = nullptr;
    std::optional<T> m_current;
  };
  iterator begin() { return iterator{this}; }
  std::default_sentinel_t end() { return {}; }

 private:
  // Queues `w` and blocks until a waker decides; returns the outcome.
  int wait_thread(detail::channel_waiter<T>& w) {
    int outcome = m_state->wait_for_items(w);
    if (outcome == detail::channel_waiter<T>::pending) outcome = m_state->wait_blocking(w);
    return outcome;
  }

  struct recv_awaiter {
    using waiter = detail::channel_waiter<T>;
    detail::channel_state<T>* m_channel;
    waiter m_waiter{};
    int m_outcome = waiter::pending;

    bool await_ready() {
      auto op = m_channel->try_recv(m_waiter.item);
      if (op == detail::channel_op::would_block) return false;
      m_outcome = op == detail::channel_op::done ? waiter::granted : waiter::closed;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      m_waiter.coroutine = detail::suspended_coroutine::here(h);
      int outcome = m_channel->wait_for_items(m_waiter);
      if (outcome == waiter::pending) return true;  // see send_awaiter
      m_outcome = outcome;
      return false;
    }
    std::optional<T> await_resume() {
      if (m_outcome == waiter::pending) m_outcome = m_waiter.result.load(std::memory_order_acquire);
      if (m_outcome != waiter::granted) return std::nullopt;
      return std::move(m_waiter.item);
    }
  };

  struct recv_batch_awaiter {
    using waiter = detail::channel_waiter<T>;
    detail::channel_state<T>* m_channel;
    std::vector<T>* m_out;
    std::size_t m_max;
    waiter m_waiter{};
    int m_outcome = waiter::pending;

    bool await_ready() {
      detail::channel_op op;
      m_waiter.got = m_channel->try_recv_batch(*m_out, m_max, op);
      if (op == detail::channel_op::would_block) return false;
      m_outcome = op == detail::channel_op::done ? waiter::granted : waiter::closed;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      m_waiter.coroutine = detail::suspended_coroutine::here(h);
      m_waiter.batch = m_out;
      m_waiter.want = m_max;
      int outcome = m_channel->wait_for_items(m_waiter);
      if (outcome == waiter::pending) return true;  // see send_awaiter
      m_outcome = outcome;
      return false;
    }
    std::size_t await_resume() noexcept {
      if (m_outcome == waiter::pending) m_outcome = m_waiter.result.load(std::memory_order_acquire);
      return m_outcome == waiter::granted ? m_waiter.got : 0;
    }
  };
};

/// Creates a channel; `capacity` 0 means unbounded. Returns {sender, receiver}.
template <typename T>
std::pair<channel_sender<T>, channel_receiver<T>> channel(std::size_t capacity = 0) {
  auto state = std::make_shared<detail::channel_state<T>>(capacity);
  return {channel_sender<T>{state}, channel_receiver<T>{state}};
}

}  // namespace sluice
