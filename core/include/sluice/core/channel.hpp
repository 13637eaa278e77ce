// sluice::channel<T>: a multi-producer multi-consumer channel for coroutines
// and threads alike. Bounded channels keep their items in a ring of stamped
// slots (crossbeam-channel's design, detail/channel_ring.hpp); unbounded ones
// in a linked list of blocks of slots (crossbeam's list flavour,
// detail/channel_list.hpp).
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
// once for batch consumers such as parallel stages; send_batch enqueues many
// with one claim per run of free slots, for producers that have several.
//
// Thread-safety: any number of threads and coroutines may use the channel at
// once, through their own handles or a shared one. The channel is FIFO in
// the order sends take effect: items one coroutine or thread sends one after
// another arrive in that order (even when the coroutine migrates between
// threads); sends that overlap in time have no order among themselves.
// unbounded_channel(channel_order::per_sender) keeps order per sender
// handle only, and in return senders of different lanes never contend.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <thread>
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

// A blocking operation's retries before its thread parks. First a few
// microseconds of backoff (spin, then yield), as crossbeam-channel does: a
// slot or an item usually turns up sooner than a futex wake-up takes. Then,
// for as long as a thread on the other side has been woken and has not run
// yet (`peer_waking()`), keep yielding and retrying, then back off once more:
// that thread is about to free slots or send items, and parking now as well
// would make the two sides take turns sleeping (a full ring, then an empty
// one, each hand-over a scheduler wake-up: thousands of context switches
// per million items, and wall time many times the CPU time). Bounded, in
// case the woken thread is starved. `first_step`: where the backoff starts
// (ring_backoff's steps; 0 = one pause). Returns the last outcome.
template <typename Attempt, typename PeerWaking>
channel_op retry_before_parking(channel_op op, Attempt&& attempt, PeerWaking&& peer_waking, unsigned first_step = 0) {
  auto back_off = [&] {
    for (ring_backoff backoff(first_step); op == channel_op::would_block && !backoff.completed();) {
      backoff.snooze();
      op = attempt();
    }
  };
  back_off();
  if (op != channel_op::would_block || !peer_waking()) return op;
  for (int i = 0; op == channel_op::would_block && i < 100'000 && peer_waking(); ++i) {
    std::this_thread::yield();
    op = attempt();
  }
  back_off();
  return op;
}

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
      m_lane = o.m_lane;
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
      m_lane = m_state->add_sender();
    } else {
      m_state->add_receiver();
    }
  }
  void detach() {
    if (!m_state) return;
    if constexpr (IsSender) {
      m_state->drop_sender(m_lane);
    } else {
      m_state->drop_receiver();
    }
    m_state.reset();
  }
  std::shared_ptr<channel_state<T>> m_state;
  std::uint32_t m_lane = 0;  // a sender's lane (channel_state::add_sender): 0 unless per-sender order
};

}  // namespace detail

/// The sending half of a channel.
template <typename T>
class channel_sender : public detail::channel_handle<T, true> {
  using base = detail::channel_handle<T, true>;
  using base::m_lane;
  using base::m_state;

 public:
  using value_type = T;

  using base::base;

  /// Awaitable: `bool sent = co_await tx.send(item);` Suspends while the
  /// channel is full. Moves from `item` only when it returns true; false
  /// means the channel was closed and `item` is left as it was.
  [[nodiscard]] auto send(T& item) noexcept { return send_awaiter{m_state.get(), &item, m_lane}; }
  [[nodiscard]] auto send(T&& item) noexcept { return send_awaiter{m_state.get(), &item, m_lane}; }

  /// Blocking form for plain threads; same contract as send(). A full
  /// channel is retried for a few microseconds (spinning, then yielding)
  /// before the thread parks, as crossbeam-channel does: a slot usually frees
  /// up sooner than a futex wake-up takes. It also keeps retrying while a
  /// receiver thread it woke has not run yet (detail::retry_before_parking).
  [[nodiscard]] bool send_blocking(T& item) {
    // The common case (room now) stays small enough to inline at every call.
    const auto op = m_state->try_send(item, /*whole_lines=*/true, m_lane);
    if (op == detail::channel_op::done) [[likely]]
      return true;
    return send_blocking_after(op, item);
  }
  [[nodiscard]] bool send_blocking(T&& item) { return send_blocking(item); }

  /// Never waits: false when the channel is full or closed (item untouched then).
  [[nodiscard]] bool try_send(T& item) { return m_state->try_send(item, false, m_lane) == detail::channel_op::done; }
  [[nodiscard]] bool try_send(T&& item) { return try_send(item); }

  // ---- batches: several items, one claim per run of free slots ----------------
  //
  // A sender that has several items at hand sends them with one claim (one
  // CAS on the ring's or list's tail) per run of consecutive free slots
  // instead of one per item. The items of one batch arrive in order and,
  // like single sends from one sender, after everything this sender sent
  // before. Each form moves items[0..k) and returns k; items[k..] are left
  // untouched (k < size() only as each form says). An empty span returns 0
  // at once.

  /// Awaitable: `std::size_t k = co_await tx.send_batch(items);` sends
  /// between 1 and items.size() items, suspending only while not even one
  /// fits; 0 means the channel is closed (nothing sent). Loop on the rest to
  /// send them all.
  [[nodiscard]] auto send_batch(std::span<T> items) noexcept {
    return send_batch_awaiter{m_state.get(), items, m_lane};
  }

  /// Blocking form for plain threads: sends all of `items`, waiting (as
  /// send_blocking) while the channel is full. Returns items.size(), or
  /// fewer if the channel closed first (the unsent items untouched).
  std::size_t send_batch_blocking(std::span<T> items) {
    std::size_t sent = 0;
    while (sent < items.size()) {
      detail::channel_op op;
      sent += m_state->try_send_many(items.data() + sent, items.size() - sent, op, m_lane);
      if (sent == items.size() || op == detail::channel_op::closed) break;
      // Full: wait for one slot the way a single send does (backoff, then
      // park with a definite outcome), then claim runs again.
      if (!send_blocking(items[sent])) break;
      ++sent;
    }
    return sent;
  }

  /// Never waits: sends as many leading items as fit now; 0 when full or closed.
  std::size_t try_send_batch(std::span<T> items) {
    detail::channel_op op;
    return m_state->try_send_many(items.data(), items.size(), op, m_lane);
  }

 private:
  // send_blocking once the first try did not send: retry, then park.
  // A sole sender's first looks on a full ring wait for a freed window of
  // slots (detail::channel_ring::receivers_left_window, try_send's
  // whole_lines); later looks take any free slot, none is left when it parks.
  // A sole sender is faster than a receiver taking one item at a time, so
  // it finds the ring full often; it then waits longer before it looks again
  // (16 pauses, not 1: each look pulls the line the receiver is freeing).
  bool send_blocking_after(detail::channel_op first, T& item) {
    constexpr unsigned whole_line_looks = 3;
    const unsigned first_step = m_state->sends_alone(m_lane) ? 4 : 0;
    unsigned looks = 0;
    auto op = detail::retry_before_parking(
        first, [&] { return m_state->try_send(item, ++looks <= whole_line_looks, m_lane); },
        [this] { return m_state->receivers_waking(); }, first_step);
    if (op != detail::channel_op::would_block) return op == detail::channel_op::done;
    detail::channel_waiter<T> w;
    w.send_item = &item;
    int outcome = m_state->wait_for_slot(w);
    if (outcome == detail::channel_waiter<T>::pending) outcome = m_state->wait_blocking(w);
    return outcome == detail::channel_waiter<T>::granted;
  }

  struct send_batch_awaiter {
    using waiter = detail::channel_waiter<T>;
    detail::channel_state<T>* m_channel;
    std::span<T> m_items;
    std::uint32_t m_lane;
    std::size_t m_sent = 0;
    waiter m_waiter{};
    int m_outcome = waiter::pending;

    bool await_ready() {
      if (m_items.empty()) return true;
      detail::channel_op op;
      m_sent = m_channel->try_send_many(m_items.data(), m_items.size(), op, m_lane);
      return m_sent > 0 || op == detail::channel_op::closed;
    }
    // Full: queue as a single send of the first item (see send_awaiter).
    bool await_suspend(std::coroutine_handle<> h) {
      m_waiter.coroutine = detail::suspended_coroutine::here(h);
      m_waiter.send_item = &m_items[0];
      int outcome = m_channel->wait_for_slot(m_waiter);
      if (outcome == waiter::pending) return true;
      m_outcome = outcome;
      return false;
    }
    std::size_t await_resume() {
      if (m_sent > 0 || m_items.empty()) return m_sent;
      if (m_outcome == waiter::pending) m_outcome = m_waiter.result.load(std::memory_order_acquire);
      if (m_outcome != waiter::granted) return 0;
      m_sent = 1;
      // Whatever else fits now; an allocation failure here must not hide
      // that the first item went in.
      try {
        detail::channel_op op;
        m_sent += m_channel->try_send_many(m_items.data() + 1, m_items.size() - 1, op, m_lane);
      } catch (const std::bad_alloc&) {
      }
      return m_sent;
    }
  };

  struct send_awaiter {
    using waiter = detail::channel_waiter<T>;
    detail::channel_state<T>* m_channel;
    T* m_item;
    std::uint32_t m_lane;
    waiter m_waiter{};
    // pending: decided by a waker, read it from m_waiter.result.
    int m_outcome = waiter::pending;

    bool await_ready() {
      auto op = m_channel->try_send(*m_item, false, m_lane);
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
  /// channel's ring) for the whole batch. One call takes at most the
  /// channel's capacity (4096 for an unbounded channel), whatever `max`
  /// says, and reserves room for that in `out` before it claims anything
  /// (std::bad_alloc / std::length_error then, nothing taken). All batch
  /// forms: if T's move constructor throws while an item is moved into
  /// `out`, that item is destroyed, every other item the call claimed is
  /// still appended, the channel stays usable, and the exception is
  /// rethrown.
  [[nodiscard]] auto recv_batch(std::vector<T>& out, std::size_t max) noexcept {
    return recv_batch_awaiter{m_state.get(), &out, max == 0 ? 1 : max};
  }

  /// Blocking forms for plain threads. An empty channel is retried for a few
  /// microseconds before the thread parks (see send_blocking).
  std::optional<T> recv_blocking() {
    // The common case (an item ready) stays small enough to inline.
    std::optional<T> out;
    const auto op = m_state->try_recv(out);
    if (op == detail::channel_op::done) [[likely]]
      return out;
    return recv_blocking_after(op);
  }
  std::size_t recv_batch_blocking(std::vector<T>& out, std::size_t max) {
    if (max == 0) max = 1;
    detail::channel_op op;
    const std::size_t n = m_state->try_recv_batch(out, max, op, /*whole_lines=*/true);
    if (n != 0) [[likely]]
      return n;
    return recv_batch_blocking_after(op, out, max);
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
  // recv_blocking once the first try found nothing: retry, then park.
  std::optional<T> recv_blocking_after(detail::channel_op first) {
    std::optional<T> out;
    auto op = detail::retry_before_parking(
        first, [&] { return m_state->try_recv(out); }, [this] { return m_state->senders_waking(); });
    if (op != detail::channel_op::would_block) return out;
    detail::channel_waiter<T> w;
    if (wait_thread(w) != detail::channel_waiter<T>::granted) return std::nullopt;
    return std::move(w.item);
  }
  // recv_batch_blocking once the first try found nothing: retry, then park.
  // A batch receiver that finds its sender only a few items ahead waits
  // before it looks again (the backoff starts at 16 pauses, not 1) and, for
  // the first few looks, leaves a bounded ring's partly filled line of slots
  // to its sender (whole_lines): each look pulls the line the sender is
  // writing away from it, and chasing it item by item cost both sides ~100
  // ns of CPU per item. So items arrive in larger batches, at most a few
  // microseconds later; the looks after that take whatever is there, so
  // nothing is left behind when the thread parks.
  std::size_t recv_batch_blocking_after(detail::channel_op op, std::vector<T>& out, std::size_t max) {
    constexpr unsigned first_step = 4;        // 16 pauses, then 32, 64, then yields
    constexpr unsigned whole_line_looks = 3;  // the looks after the three spins take everything
    std::size_t n = 0;
    unsigned looks = 0;
    op = detail::retry_before_parking(
        op,
        [&] {
          detail::channel_op now;
          n = m_state->try_recv_batch(out, max, now, ++looks <= whole_line_looks);
          return now;
        },
        [this] { return m_state->senders_waking(); }, first_step);
    if (op != detail::channel_op::would_block) return n;
    detail::channel_waiter<T> w;
    w.batch = &out;
    w.want = max;
    return wait_thread(w) == detail::channel_waiter<T>::granted ? w.got : 0;
  }
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
/// An unbounded channel's memory grows with its backlog, in blocks of 127
/// items. The blocks it no longer needs beyond a pool of its own (about
/// 256 KiB), and all of its blocks when it is destroyed, are kept for the
/// next unbounded channels of the same item type, up to 8 MiB for the whole
/// process, and freed beyond that.
template <typename T>
std::pair<channel_sender<T>, channel_receiver<T>> channel(std::size_t capacity = 0) {
  auto state = std::make_shared<detail::channel_state<T>>(capacity);
  return {channel_sender<T>{state}, channel_receiver<T>{state}};
}

/// What order a channel keeps between items sent through different handles.
enum class channel_order {
  /// FIFO in the order sends take effect (the default; see the file comment).
  sends_take_effect,
  /// Only per sender handle: items sent through one handle arrive in the
  /// order they were sent (from any threads or coroutines using it, one
  /// send after another), and items of different handles have no order
  /// among themselves, as with moodycamel's queue and its producer tokens.
  /// In return, handles do not share the position their sends claim: the
  /// unbounded channel keeps `lanes` lists, and sender handles (the first
  /// one and every copy) take them in turn. A copy is a new sender for
  /// this purpose; a moved handle keeps its lane. Everything else is as
  /// for the default: close and drain are exact, receives take any lane
  /// (each receive in turn, so no lane waits behind a busy one), and an
  /// item is received once. Costs `lanes` lists' first blocks up front.
  /// A lane whose only handle sends from one thread claims without a
  /// locked instruction (as a channel with one sender handle does), so
  /// give each producer thread a handle and `lanes` >= the handles alive.
  per_sender,
};

/// Creates an unbounded channel with the given order between senders.
/// `lanes` (per_sender only; at least 1): how many lists sender handles are
/// dealt out to; sends through handles of different lanes never contend.
/// Throws std::invalid_argument for lanes == 0.
template <typename T>
std::pair<channel_sender<T>, channel_receiver<T>> unbounded_channel(channel_order order, std::uint32_t lanes = 4) {
  auto state =
      std::make_shared<detail::channel_state<T>>(0, order == channel_order::per_sender ? lanes : std::uint32_t{1});
  return {channel_sender<T>{state}, channel_receiver<T>{state}};
}

}  // namespace sluice
