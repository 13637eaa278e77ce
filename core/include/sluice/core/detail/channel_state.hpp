// The shared state behind sluice::channel handles.
//
// Items live in a moodycamel::ConcurrentQueue. Three counters make the queue
// bounded, closable and awaitable without a lock on the fast path:
//   m_items       items fully enqueued and not yet claimed by a receiver;
//   m_free_slots  capacity left (bounded channels only);
//   m_send_state  a CLOSED bit plus the number of sends in progress.
// A receiver first claims an item by decrementing m_items, then dequeues it
// (the claim guarantees one is there), so close can never strand an item:
// the channel reports "closed and drained" only when CLOSED is set, no send is
// in progress and m_items is zero.
//
// Waiting is the slow path. A waiter (a suspended coroutine or a blocked
// thread) registers under m_mutex; whoever makes progress possible (a send, a
// receive freeing a slot, close, the last in-flight send after close) claims
// the item or slot *on the waiter's behalf* and then wakes it, so a waiter
// wakes only with a definite outcome and never has to wait again.
// Counter updates and waiter-count reads are seq_cst on both sides, so either
// the registering waiter sees the new item or the sender sees the waiter.
#pragma once

#include <concurrentqueue/concurrentqueue.h>
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <utility>

#include "sluice/core/detail/resume.hpp"

namespace sluice::detail {

// Fixed rather than std::hardware_destructive_interference_size, whose value
// may differ between compilers and so must not shape a type's layout.
inline constexpr std::size_t cache_line_size = 64;

/// One suspended receiver or sender. Lives in the awaiter (coroutine frame) or
/// on the blocked thread's stack; linked into the state's lists under m_mutex.
struct channel_waiter {
  enum outcome : int { pending = 0, granted = 1, closed = 2 };

  channel_waiter* next = nullptr;
  suspended_coroutine coroutine;  // null handle: a blocked thread
  std::size_t want = 1;           // items a receiver wants (recv_batch), 1 otherwise
  std::size_t got = 0;            // items or slots claimed for it by the waker
  std::atomic<int> result{pending};

  [[nodiscard]] bool is_thread() const noexcept { return !coroutine.handle; }
};

class waiter_queue {
 public:
  void push(channel_waiter* w) noexcept {
    w->next = nullptr;
    if (m_tail) {
      m_tail->next = w;
    } else {
      m_head = w;
    }
    m_tail = w;
  }
  channel_waiter* pop() noexcept {
    auto* w = m_head;
    if (w) {
      m_head = w->next;
      if (!m_head) m_tail = nullptr;
    }
    return w;
  }
  void push_front(channel_waiter* w) noexcept {
    w->next = m_head;
    m_head = w;
    if (!m_tail) m_tail = w;
  }
  [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }

 private:
  channel_waiter* m_head = nullptr;
  channel_waiter* m_tail = nullptr;
};

template <typename T>
class channel_state {
 public:
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;

  explicit channel_state(std::size_t capacity)
      : m_capacity(capacity), m_queue(capacity ? capacity : 32), m_free_slots(static_cast<std::int64_t>(capacity)) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
  [[nodiscard]] bool bounded() const noexcept { return m_capacity != 0; }
  [[nodiscard]] std::size_t size() const noexcept {
    auto n = m_items.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  [[nodiscard]] bool is_closed() const noexcept { return m_send_state.load(std::memory_order_acquire) & closed_bit; }

  // ---- handle counting ----------------------------------------------------
  void add_sender() noexcept { m_senders.fetch_add(1, std::memory_order_relaxed); }
  void drop_sender() {
    if (m_senders.fetch_sub(1, std::memory_order_acq_rel) == 1) close();
  }
  void add_receiver() noexcept { m_receivers.fetch_add(1, std::memory_order_relaxed); }
  void drop_receiver() {
    // Nobody can ever receive again: fail pending and future sends instead of
    // letting them wait forever on a full channel.
    if (m_receivers.fetch_sub(1, std::memory_order_acq_rel) == 1) close();
  }

  // ---- send side ------------------------------------------------------------
  // A send is: begin_send, acquire a slot, publish, end_send.

  /// Registers a send in progress; false once closed.
  bool begin_send() noexcept {
    auto s = m_send_state.load(std::memory_order_relaxed);
    do {
      if (s & closed_bit) return false;
    } while (!m_send_state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_relaxed));
    return true;
  }

  void end_send() {
    auto previous = m_send_state.fetch_sub(1, std::memory_order_acq_rel);
    if (previous == (closed_bit | 1)) wake_receivers_after_close();
  }

  bool try_acquire_slot() noexcept { return !bounded() || try_take(m_free_slots, 1) == 1; }

  [[nodiscard]] moodycamel::ConcurrentQueue<T>& queue() noexcept { return m_queue; }

  /// Enqueues an item whose slot is already held (through `token`, or the
  /// calling thread's implicit producer when null) and wakes a waiting receiver.
  void publish(moodycamel::ProducerToken* token, T&& item) {
    bool queued = token ? m_queue.enqueue(*token, std::move(item)) : m_queue.enqueue(std::move(item));
    if (!queued) throw std::bad_alloc();
    m_items.fetch_add(1, std::memory_order_seq_cst);
    if (m_receivers_waiting.load(std::memory_order_seq_cst) > 0) wake_receivers();
  }

  /// Slow path for a sender that found no free slot. Returns pending after
  /// queueing `w`, or granted/closed when the outcome was decided right away.
  int wait_for_slot(channel_waiter& w) {
    std::lock_guard lock(m_mutex);
    m_senders_waiting.fetch_add(1, std::memory_order_seq_cst);
    if (try_acquire_slot()) {
      m_senders_waiting.fetch_sub(1, std::memory_order_relaxed);
      return channel_waiter::granted;
    }
    if (is_closed()) {
      m_senders_waiting.fetch_sub(1, std::memory_order_relaxed);
      return channel_waiter::closed;
    }
    m_send_waiters.push(&w);
    return channel_waiter::pending;
  }

  // ---- receive side ---------------------------------------------------------

  /// Claims up to `max` published items (returns how many); they are then
  /// guaranteed to be dequeued by take().
  std::size_t try_claim(std::size_t max) noexcept { return try_take(m_items, max); }

  /// Dequeues one claimed item. The claim guarantees an element is in the
  /// queue; try_dequeue can still miss it momentarily while another consumer
  /// is mid-dequeue, hence the (short) retry loop, as in BlockingConcurrentQueue.
  T take_one() {
    std::optional<T> out;
    while (!m_queue.try_dequeue(out)) {
    }
    release_slots(1);
    return std::move(*out);
  }

  /// Dequeues `n` claimed items into `out`.
  template <typename OutputIt>
  OutputIt take_many(OutputIt out, std::size_t n) {
    std::size_t left = n;
    while (left > 0) {
      std::size_t got = m_queue.try_dequeue_bulk(out, left);
      left -= got;
    }
    release_slots(n);
    return out;
  }

  /// True when the channel is closed, no send is in progress and nothing is left.
  [[nodiscard]] bool drained() const noexcept {
    return m_send_state.load(std::memory_order_seq_cst) == closed_bit && m_items.load(std::memory_order_seq_cst) <= 0;
  }

  /// Slow path for a receiver that found nothing to claim; see wait_for_slot.
  int wait_for_items(channel_waiter& w) {
    std::lock_guard lock(m_mutex);
    m_receivers_waiting.fetch_add(1, std::memory_order_seq_cst);
    if (std::size_t n = try_claim(w.want)) {
      m_receivers_waiting.fetch_sub(1, std::memory_order_relaxed);
      w.got = n;
      return channel_waiter::granted;
    }
    if (drained()) {
      m_receivers_waiting.fetch_sub(1, std::memory_order_relaxed);
      return channel_waiter::closed;
    }
    m_recv_waiters.push(&w);
    return channel_waiter::pending;
  }

  /// Blocks a thread whose waiter was queued until a waker decides its
  /// outcome, then passes through the lock once: the waker notifies under the
  /// lock, so after this the waker no longer touches `w` (on our stack).
  int wait_blocking(channel_waiter& w) {
    for (int r = w.result.load(std::memory_order_acquire); r == channel_waiter::pending;
         r = w.result.load(std::memory_order_acquire))
      w.result.wait(r, std::memory_order_acquire);
    std::lock_guard pass_through(m_mutex);
    return w.result.load(std::memory_order_acquire);
  }

  // ---- close ------------------------------------------------------------------

  /// Idempotent. Pending sends fail; receivers drain what was sent, then see the end.
  void close() {
    auto previous = m_send_state.fetch_or(closed_bit, std::memory_order_acq_rel);
    if (previous & closed_bit) return;
    wake_all_senders_closed();
    if (previous == 0) wake_receivers_after_close();  // no send in progress
  }

 private:
  // Atomically takes up to `max` from a non-negative counter.
  static std::size_t try_take(std::atomic<std::int64_t>& counter, std::size_t max) noexcept {
    auto have = counter.load(std::memory_order_seq_cst);
    while (have > 0) {
      auto n = std::min<std::int64_t>(have, static_cast<std::int64_t>(max));
      if (counter.compare_exchange_weak(have, have - n, std::memory_order_seq_cst, std::memory_order_seq_cst))
        return static_cast<std::size_t>(n);
    }
    return 0;
  }

  void release_slots(std::size_t n) {
    if (!bounded()) return;
    m_free_slots.fetch_add(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
    if (m_senders_waiting.load(std::memory_order_seq_cst) > 0) wake_senders();
  }

  // Collects waiters to resume while holding the lock; resumes after
  // unlocking, because a coroutine resumed inline may re-enter the channel.
  class wake_list {
   public:
    void add(channel_waiter* w, int outcome) {
      if (w->is_thread()) {
        // Still under the lock: the thread re-takes the lock before it
        // returns, so the node (on its stack) outlives this notify.
        w->result.store(outcome, std::memory_order_release);
        w->result.notify_one();
      } else {
        w->result.store(outcome, std::memory_order_relaxed);
        m_coroutines.push(w);
      }
    }
    ~wake_list() {
      while (auto* w = m_coroutines.pop()) w->coroutine.resume();
    }

   private:
    waiter_queue m_coroutines;
  };

  void wake_receivers() {
    wake_list woken;
    std::lock_guard lock(m_mutex);
    while (!m_recv_waiters.empty()) {
      // Peek by popping; a waiter we cannot serve goes back to the front.
      auto* w = m_recv_waiters.pop();
      std::size_t n = try_claim(w->want);
      if (n == 0) {
        m_recv_waiters.push_front(w);
        break;
      }
      w->got = n;
      m_receivers_waiting.fetch_sub(1, std::memory_order_relaxed);
      woken.add(w, channel_waiter::granted);
    }
  }

  void wake_senders() {
    wake_list woken;
    std::lock_guard lock(m_mutex);
    while (!m_send_waiters.empty() && try_acquire_slot()) {
      auto* w = m_send_waiters.pop();
      w->got = 1;
      m_senders_waiting.fetch_sub(1, std::memory_order_relaxed);
      woken.add(w, channel_waiter::granted);
    }
  }

  void wake_all_senders_closed() {
    wake_list woken;
    std::lock_guard lock(m_mutex);
    while (auto* w = m_send_waiters.pop()) {
      m_senders_waiting.fetch_sub(1, std::memory_order_relaxed);
      woken.add(w, channel_waiter::closed);
    }
  }

  // Runs once no send can add items: every waiting receiver gets what is
  // left, then the end of the stream.
  void wake_receivers_after_close() {
    wake_list woken;
    std::lock_guard lock(m_mutex);
    while (auto* w = m_recv_waiters.pop()) {
      m_receivers_waiting.fetch_sub(1, std::memory_order_relaxed);
      w->got = try_claim(w->want);
      woken.add(w, w->got ? channel_waiter::granted : channel_waiter::closed);
    }
  }

  const std::size_t m_capacity;  // 0: unbounded
  moodycamel::ConcurrentQueue<T> m_queue;
  alignas(cache_line_size) std::atomic<std::int64_t> m_items{0};
  alignas(cache_line_size) std::atomic<std::int64_t> m_free_slots;
  alignas(cache_line_size) std::atomic<std::uint64_t> m_send_state{0};
  alignas(cache_line_size) std::atomic<int> m_receivers_waiting{0};
  std::atomic<int> m_senders_waiting{0};
  std::atomic<std::size_t> m_senders{0};
  std::atomic<std::size_t> m_receivers{0};
  std::mutex m_mutex;  // guards the two waiter lists
  waiter_queue m_recv_waiters;
  waiter_queue m_send_waiters;
};

/// The moodycamel producer behind one sender handle. moodycamel keeps FIFO
/// order per producer, and its implicit producers are per thread, so a
/// coroutine that migrates between threads needs a producer token of its own
/// to keep its items in order. A token must not be used by two threads at
/// once: a send that finds it busy (a handle shared between threads) falls
/// back to its thread's implicit producer instead of corrupting the queue.
template <typename T>
class channel_producer {
 public:
  channel_producer() = default;
  channel_producer(const channel_producer&) = delete;
  channel_producer& operator=(const channel_producer&) = delete;

  void publish(channel_state<T>& channel, T&& item) {
    if (m_busy.test_and_set(std::memory_order_acquire)) {
      channel.publish(nullptr, std::move(item));
      return;
    }
    struct release {
      std::atomic_flag& busy;
      ~release() { busy.clear(std::memory_order_release); }
    } guard{m_busy};
    if (!m_token) m_token = std::make_unique<moodycamel::ProducerToken>(channel.queue());
    channel.publish(m_token.get(), std::move(item));
  }

 private:
  std::atomic_flag m_busy;
  std::unique_ptr<moodycamel::ProducerToken> m_token;  // created and used only while m_busy is held
};

}  // namespace sluice::detail
