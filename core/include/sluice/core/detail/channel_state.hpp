// The shared state behind sluice::channel handles.
//
// Two storages, one protocol:
//   * bounded channels keep their items in a channel_ring (detail/
//     channel_ring.hpp): slots with stamps, one CAS per side per item (per
//     run of slots for a batch, either side), a closed mark in the ring's
//     tail;
//   * unbounded channels keep them in a channel_list (detail/
//     channel_list.hpp): a linked list of blocks of slots, one CAS per side
//     per item (a batch, either side: one per block it reaches into), a
//     closed mark in the list's tail; a channel with per-sender order has
//     several lists, one per group of sender handles (detail/
//     channel_lanes.hpp).
// Either way a send that loses the race with close fails with its item
// untouched, every item sent before is received, and "closed and drained" is
// "marked and head == tail".
//
// An item type that is only ever sent through bounded channels (the chunks
// between pipeline stages) says so with `using bounded_channel_only = void;`:
// its channel_state then does not instantiate the unbounded storage (less
// code per channel type, see docs/architecture.md, "Header cost"), and
// asking for an unbounded channel of it throws.
//
// Waiting is the slow path. A waiter (a suspended coroutine or a blocked
// thread) registers under m_mutex; whoever makes progress possible (a send, a
// receive freeing a slot, close) performs the waiter's operation *on its
// behalf* (receives the item into the waiter, or sends the waiter's item)
// and then wakes it, so a waiter wakes with a definite outcome and never has
// to wait again. The waiting counts are incremented (seq_cst RMW) before the
// waiter looks at the storage a last time, and the fast paths load them
// (seq_cst) after their own seq_cst RMW on the storage's head or tail:
// either the waiter sees the new item or slot, or the waker sees the waiter.
//
// A channel whose sends all come from one thread lets that thread claim
// slots (ring) or positions (list) without the CAS (detail/sole_sender.hpp):
// its plain claim gives no StoreLoad order, so a receiver about to park
// issues a heavy barrier instead (sole_sender_gate::before_waiter_looks),
// and every other writer of the tail demotes the owner first
// (before_shared_write). A channel with per-sender order has a gate per
// lane (each lane is a tail of its own): the sender of each lane may claim
// without the CAS, and a receiver about to park issues one barrier for all.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/channel_lanes.hpp"
#include "sluice/core/detail/channel_ring.hpp"
#include "sluice/core/detail/resume.hpp"
#include "sluice/core/detail/select_arm.hpp"
#include "sluice/core/detail/sole_sender.hpp"
#include "sluice/core/detail/std_parts.hpp"

namespace sluice::detail {

// Fixed rather than std::hardware_destructive_interference_size, whose value
// may differ between compilers and so must not shape a type's layout.
inline constexpr std::size_t cache_line_size = 64;

/// Item types that declare `using bounded_channel_only = void;` (see the file comment).
template <typename T>
concept bounded_channel_only = requires {
  typename T::bounded_channel_only;
};

/// Stands in for the unbounded list of a bounded_channel_only item type:
/// never constructed (the channel_state constructor throws first), so its
/// operations are never called.
template <typename T>
struct no_unbounded_list {
  using status = typename channel_ring<T>::status;
  explicit no_unbounded_list(std::uint32_t) noexcept {}
  [[nodiscard]] std::uint32_t lane_count() const noexcept { return 1; }
  [[nodiscard]] std::size_t size() const noexcept { return 0; }
  [[nodiscard]] bool closed() const noexcept { return true; }
  bool close() noexcept { return false; }
  status try_push(T&, std::uint32_t) { return status::closed; }
  status try_push_alone(T&, std::uint32_t) { return status::closed; }
  template <typename Sink>
  status try_pop(Sink&&, bool) {
    return status::closed;
  }
  std::size_t try_pop_many(std::vector<T>&, std::size_t, status& st, bool, bool) {
    st = status::closed;
    return 0;
  }
  std::size_t try_push_many(T*, std::size_t, status& st, std::uint32_t) {
    st = status::closed;
    return 0;
  }
};

/// What a channel operation did: done, would have to wait, or closed (a send
/// on a closed channel; a receive on a closed and drained one).
enum class channel_op { done, would_block, closed };

/// One suspended receiver or sender. Lives in the awaiter (coroutine frame) or
/// on the blocked thread's stack; linked into the state's lists under m_mutex.
template <typename T>
struct channel_waiter {
  enum outcome : int { pending = 0, granted = 1, closed = 2 };

  channel_waiter* next = nullptr;
  suspended_coroutine coroutine;    // null handle: a blocked thread
  T* send_item = nullptr;           // a sender: the item the waker sends for it
  std::uint64_t sender_thread = 0;  // a blocked sender thread: its this_thread_token()
  std::optional<T> item;            // a single receive: the item received for it
  std::vector<T>* batch = nullptr;  // a batch receive: where the waker appends
  std::size_t want = 1;             // items a batch receiver wants at most
  std::size_t got = 0;              // items appended to *batch
  std::atomic<int> result{pending};
  select_arm* arm = nullptr;  // set: one arm of a select (detail/select_arm.hpp)

  [[nodiscard]] bool is_thread() const noexcept { return !coroutine.handle; }
};

template <typename T>
class waiter_queue {
 public:
  void push(channel_waiter<T>* w) noexcept {
    w->next = nullptr;
    if (m_tail) {
      m_tail->next = w;
    } else {
      m_head = w;
    }
    m_tail = w;
  }
  channel_waiter<T>* pop() noexcept {
    auto* w = m_head;
    if (w) {
      m_head = w->next;
      if (!m_head) m_tail = nullptr;
    }
    return w;
  }
  void push_front(channel_waiter<T>* w) noexcept {
    w->next = m_head;
    m_head = w;
    if (!m_tail) m_tail = w;
  }
  [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
  /// Unlinks `w` if queued (a withdrawn select arm); true if it was.
  bool remove(channel_waiter<T>* w) noexcept {
    channel_waiter<T>* before = nullptr;
    for (auto* at = m_head; at; before = at, at = at->next) {
      if (at != w) continue;
      (before ? before->next : m_head) = w->next;
      if (m_tail == w) m_tail = before;
      w->next = nullptr;
      return true;
    }
    return false;
  }

 private:
  channel_waiter<T>* m_head = nullptr;
  channel_waiter<T>* m_tail = nullptr;
};

template <typename T>
class channel_state {
 public:
  using waiter = channel_waiter<T>;
  static constexpr bool unbounded_allowed = !bounded_channel_only<T>;
  using unbounded_list = std::conditional_t<unbounded_allowed, channel_lanes<T>, no_unbounded_list<T>>;

  /// `lanes`: 1, or for an unbounded channel with per-sender order the
  /// number of lists its sender handles are dealt out to (channel_lanes).
  /// Throws std::invalid_argument for capacity 0 when T is
  /// bounded_channel_only, and for several lanes on a bounded channel.
  explicit channel_state(std::size_t capacity, std::uint32_t lanes = 1) : m_capacity(capacity) {
    if (lanes == 0 || (capacity && lanes != 1))
      throw std::invalid_argument("sluice: per-sender order is for unbounded channels (capacity 0)");
    if (capacity) {
      m_ring.emplace(capacity);
    } else if constexpr (unbounded_allowed) {
      m_list.emplace(lanes);
      if (lanes > 1) m_more_lanes = std::make_unique<lane_senders[]>(lanes - 1);
    } else {
      throw std::invalid_argument("sluice: this item type is sent through bounded channels only (capacity > 0)");
    }
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
  [[nodiscard]] bool bounded() const noexcept { return m_capacity != 0; }
  [[nodiscard]] std::size_t size() const noexcept { return m_ring ? m_ring->size() : m_list->size(); }
  [[nodiscard]] bool is_closed() const noexcept { return m_ring ? m_ring->closed() : m_list->closed(); }

  /// True while a blocked sender (receiver) thread has been served and
  /// woken but has not run again yet: it is about to make progress, so a
  /// thread on the other side should not go to sleep too (see
  /// channel.hpp's retry_before_parking). A heuristic, read relaxed.
  [[nodiscard]] bool senders_waking() const noexcept { return m_senders_waking.load(std::memory_order_relaxed) > 0; }
  [[nodiscard]] bool receivers_waking() const noexcept {
    return m_receivers_waking.load(std::memory_order_relaxed) > 0;
  }

  /// True if the calling thread is the sole sender of `lane` (it claims
  /// without the CAS, see sole_sender.hpp). A hint.
  [[nodiscard]] bool sends_alone(std::uint32_t lane = 0) const noexcept {
    return senders_of(lane).gate.owned_by(this_thread_token());
  }

  /// Heavy barriers parking receivers have asked `lane`'s gate for
  /// (sole_sender_gate::parking_barriers; for tests).
  [[nodiscard]] std::uint64_t parking_barriers(std::uint32_t lane) const noexcept {
    return senders_of(lane).gate.parking_barriers();
  }

  // ---- handle counting ----------------------------------------------------
  /// Registers a sender handle; returns the lane its sends go to (0 unless
  /// the channel has several, which handles take in turn).
  std::uint32_t add_sender() noexcept {
    m_senders.fetch_add(1, std::memory_order_relaxed);
    std::uint32_t lane = 0;
    if (lane_count() > 1) lane = m_next_lane.fetch_add(1, std::memory_order_relaxed) % lane_count();
    senders_of(lane).handles.fetch_add(1, std::memory_order_relaxed);
    return lane;
  }
  /// Unregisters a sender handle of `lane` (what add_sender returned for it).
  void drop_sender(std::uint32_t lane) {
    senders_of(lane).handles.fetch_sub(1, std::memory_order_relaxed);
    if (m_senders.fetch_sub(1, std::memory_order_acq_rel) == 1) close();
  }
  void add_receiver() noexcept { m_receivers.fetch_add(1, std::memory_order_relaxed); }
  void drop_receiver() {
    // Nobody can ever receive again: fail pending and future sends instead of
    // letting them wait forever on a full channel.
    if (m_receivers.fetch_sub(1, std::memory_order_acq_rel) == 1) close();
  }

  // ---- fast paths -------------------------------------------------------------

  /// Sends `item` if there is room now; moves from it only when done.
  /// `whole_lines` (a blocking sender's first tries): the sole sender,
  /// past the slots it knows are free, waits until receivers have freed a
  /// window of slots (channel_ring::receivers_left_window); may then report
  /// would_block while a slot is free, so a caller must follow it with a
  /// plain call before it parks.
  /// `lane`: the sender handle's (add_sender).
  channel_op try_send(T& item, bool whole_lines = false, std::uint32_t lane = 0) {
    channel_op op = sole_send(item, whole_lines, lane);
    if (op == channel_op::done && m_receivers_waiting.load(std::memory_order_seq_cst) > 0) wake_waiters();
    return op;
  }

  /// Sends items[0..k) for the largest k that fits now (one claim per run
  /// of free slots, see channel_ring/channel_list try_push_many); returns k,
  /// and in `op` why it returned 0. items[k..n) are untouched.
  std::size_t try_send_many(T* items, std::size_t n, channel_op& op, std::uint32_t lane = 0) {
    auto st = channel_ring<T>::status::would_block;
    std::size_t k = 0;
    senders_of(lane).gate.before_shared_write(this_thread_token());
    if (m_ring) {
      // Several runs: a run ends where the ring wraps around to a slot
      // that is not free yet, or where another sender claimed in between.
      while (k < n) {
        const std::size_t got = m_ring->try_push_many(items + k, n - k, st, false);
        if (got == 0) break;
        k += got;
      }
    } else {
      k = m_list->try_push_many(items, n, st, lane);
    }
    op = k ? channel_op::done : from(st);
    if (k && m_receivers_waiting.load(std::memory_order_seq_cst) > 0) wake_waiters();
    return k;
  }

  /// Receives one item into `out` if one is ready now.
  channel_op try_recv(std::optional<T>& out) {
    channel_op op = recv_now(out, false);
    if (op == channel_op::done) after_recv();
    return op;
  }

  /// Appends up to `max` ready items to `out`; returns how many, and in `op`
  /// why it returned 0. `whole_lines`: leave items in the cache line of
  /// slots a sender is still filling for a later call (see
  /// channel_ring::trim_to_whole_lines); may then report would_block while
  /// items are ready, so a caller must follow it with a plain call before
  /// it parks.
  std::size_t try_recv_batch(std::vector<T>& out, std::size_t max, channel_op& op, bool whole_lines = false) {
    std::size_t n;
    if constexpr (std::is_nothrow_move_constructible_v<T>) {
      n = recv_many_now(out, max, op, false, whole_lines);  // throws only before a claim (reserve)
    } else {
      try {
        n = recv_many_now(out, max, op, false, whole_lines);
      } catch (...) {
        // An item's move threw after the claim: the claimed slots are free
        // all the same, so senders waiting for one must still be served.
        after_recv();
        throw;
      }
    }
    if (n) after_recv();
    return n;
  }

  /// True when the channel is closed and every item has been received.
  [[nodiscard]] bool drained() const noexcept {
    // The size counts a slot claimed before the mark and still being
    // written, so "closed and empty" is final.
    return is_closed() && size() == 0;
  }

  // ---- waiting ------------------------------------------------------------------

  /// Slow path for a sender that found no free slot (`w.send_item` set).
  /// Returns pending after queueing `w`, or granted/closed when decided at once.
  int wait_for_slot(waiter& w) {
    channel_op op;
    {
      std::lock_guard lock(m_mutex);
      m_senders_waiting.fetch_add(1, std::memory_order_seq_cst);
      const std::uint64_t me = this_thread_token();
      if (w.is_thread()) w.sender_thread = me;  // a waker may send for it without demoting it
      op = send_now(*w.send_item, true, me);
      if (op == channel_op::would_block) {
        m_send_waiters.push(&w);
        return waiter::pending;
      }
      m_senders_waiting.fetch_sub(1, std::memory_order_relaxed);
    }
    if (op != channel_op::done) return waiter::closed;
    if (m_receivers_waiting.load(std::memory_order_seq_cst) > 0) wake_waiters();
    return waiter::granted;
  }

  /// Slow path for a receiver that found nothing (`w.batch` set for a batch).
  int wait_for_items(waiter& w) {
    int outcome = waiter::pending;
    {
      std::lock_guard lock(m_mutex);
      m_receivers_waiting.fetch_add(1, std::memory_order_seq_cst);
      before_receiver_looks();
      channel_op op = recv_for(w);
      if (op == channel_op::would_block) {
        m_recv_waiters.push(&w);
        return waiter::pending;
      }
      m_receivers_waiting.fetch_sub(1, std::memory_order_relaxed);
      outcome = op == channel_op::done ? waiter::granted : waiter::closed;
    }
    if (outcome == waiter::granted) after_recv();
    return outcome;
  }

  /// Blocks a thread whose waiter was queued until a waker decides its
  /// outcome, then passes through the lock once: the waker notifies under the
  /// lock, so after this the waker no longer touches `w` (on our stack).
  int wait_blocking(waiter& w) {
    for (int r = w.result.load(std::memory_order_acquire); r == waiter::pending;
         r = w.result.load(std::memory_order_acquire))
      w.result.wait(r, std::memory_order_acquire);
    (w.send_item ? m_senders_waking : m_receivers_waking).fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard pass_through(m_mutex);
    return w.result.load(std::memory_order_acquire);
  }

  // ---- select() hook (detail/select_arm.hpp) -------------------------------------

  /// Queues the waiter of one select arm (`w.arm` set; `w.send_item` set for
  /// a send) unless its selector is decided already or its operation
  /// completes or finds the channel closed right now. Returns pending when
  /// queued, granted when the operation completed (the arm won), closed
  /// otherwise. Calls the selector's wake() itself when this call decided it.
  int select_wait(waiter& w) {
    const bool sending = w.send_item != nullptr;
    auto& waiting = sending ? m_senders_waiting : m_receivers_waiting;
    channel_op op;
    bool decided;
    {
      std::lock_guard lock(m_mutex);
      waiting.fetch_add(1, std::memory_order_seq_cst);
      if (!sending) before_receiver_looks();
      if (!w.arm->m_selector->claim()) {
        waiting.fetch_sub(1, std::memory_order_relaxed);
        return waiter::closed;
      }
      op = arm_op(w, this_thread_token());
      if (op == channel_op::would_block) {
        w.arm->m_selector->release();
        (sending ? m_send_waiters : m_recv_waiters).push(&w);
        return waiter::pending;
      }
      waiting.fetch_sub(1, std::memory_order_relaxed);
      decided = w.arm->m_selector->settle(w.arm->m_index, op == channel_op::done);
    }
    if (op == channel_op::done) {
      if (!sending) {
        after_recv();
      } else if (m_receivers_waiting.load(std::memory_order_seq_cst) > 0) {
        wake_waiters();
      }
    }
    if (decided) w.arm->m_selector->wake();
    return op == channel_op::done ? waiter::granted : waiter::closed;
  }

  /// Unlinks a select arm's waiter if it is still queued. After this no waker
  /// touches `w` again.
  void select_withdraw(waiter& w) {
    const bool sending = w.send_item != nullptr;
    std::lock_guard lock(m_mutex);
    if ((sending ? m_send_waiters : m_recv_waiters).remove(&w))
      (sending ? m_senders_waiting : m_receivers_waiting).fetch_sub(1, std::memory_order_relaxed);
  }

  // ---- close ------------------------------------------------------------------

  /// Idempotent. Pending sends fail; receivers drain what was sent, then see the end.
  void close() {
    // The mark is a write of every tail: no plain claim may race it.
    share_every_gate();
    if (!(m_ring ? m_ring->close() : m_list->close())) return;
    wake_after_close();
  }

 private:
  // ---- storage operations, no waking ------------------------------------------

  // `exact`: tell "full"/"empty" from "the other side is mid-operation on
  // that slot" (see channel_ring.hpp); required where the outcome parks a
  // waiter or reports the end, i.e. under m_mutex. The fast paths poll.
  // An unbounded channel's send never blocks (would_block is bounded only);
  // it may throw std::bad_alloc, with `item` untouched.
  // `owner_ok`: a thread that may own the sole-sender gate without being
  // demoted by this send (sole_sender_gate::before_shared_write).
  // `lane`: the sender handle's. The callers that pass none send for a
  // queued sender waiter, and only a bounded channel (one lane) has those:
  // an unbounded send never waits for room.
  channel_op send_now(T& item, bool exact, std::uint64_t owner_ok, std::uint32_t lane = 0) {
    senders_of(lane).gate.before_shared_write(owner_ok);
    if (!m_ring) return from(m_list->try_push(item, lane));
    return from(m_ring->try_push(item, exact));
  }

  // A send's fast path: the plain claim while this thread owns the
  // sole-sender gate of the handle's lane (claimed on its first send while
  // the lane has one sender handle), else (or, on the ring, when the slot
  // is not free, unless `whole_lines`) the CAS.
  //
  // Kept small enough to inline into every send loop: the first send's
  // claim and the owner's fall-back to the CAS are out of line
  // (sole_send_slow). As one function GCC kept it out of line, and a sole
  // sender feeding a batch receiver ran 18-20 ns/item in a small program
  // against 13 with the call inlined (the bare ring: 6-9).
  [[gnu::always_inline]] channel_op sole_send(T& item, bool whole_lines, std::uint32_t lane) {
    // Shared for good (several sending threads, coroutines moving between
    // arena threads): straight to the CAS, without the token and the gate's
    // other tests.
    sole_sender_gate& gate = senders_of(lane).gate;
    if (gate.is_shared()) [[likely]]
      return shared_send(item, lane);
    const std::uint64_t me = this_thread_token();
    const bool inside = gate.enter(me);
    if (inside && push_inside_gate(gate, item, whole_lines, lane) == channel_ring<T>::status::ok) [[likely]]
      return channel_op::done;
    return sole_send_slow(item, whole_lines, me, inside, lane);
  }

  channel_op shared_send(T& item, std::uint32_t lane) {
    return from(m_ring ? m_ring->try_push(item, false) : m_list->try_push(item, lane));
  }

  // Between a successful gate.enter() (the gate of `lane`) and its leave(): the plain claim.
  [[gnu::always_inline]] typename channel_ring<T>::status push_inside_gate(sole_sender_gate& gate, T& item,
                                                                           bool whole_lines, std::uint32_t lane) {
    struct leave_gate {
      sole_sender_gate& gate;
      ~leave_gate() { gate.leave(); }
    } inside{gate};  // also when a block cannot be allocated (std::bad_alloc, item untouched)
    return m_ring ? m_ring->try_push_alone(item, whole_lines) : m_list->try_push_alone(item, lane);
  }

  // sole_send when the plain claim did not send. `tried_plain`: this thread
  // owned the gate and the slot was not free (or, with `whole_lines`, its
  // window not yet freed). Otherwise the gate may be unclaimed: claim it on
  // this thread's first send and try the plain claim. A whole_lines caller
  // that tried is told would_block; anything else sends with the CAS.
  [[gnu::noinline]] channel_op sole_send_slow(T& item, bool whole_lines, std::uint64_t me, bool tried_plain,
                                              std::uint32_t lane) {
    sole_sender_gate& gate = senders_of(lane).gate;
    if (!tried_plain && gate.is_unclaimed() && claim_sole(me, lane) && gate.enter(me)) {
      if (push_inside_gate(gate, item, whole_lines, lane) == channel_ring<T>::status::ok) return channel_op::done;
      tried_plain = true;
    }
    if (tried_plain && whole_lines) return channel_op::would_block;
    return send_now(item, false, me, lane);
  }

  // Several sender handles in the lane take turns on its tail: share the
  // gate at once instead of claiming it and having the next sender demote
  // the owner with a heavy barrier. (Threads sharing one handle, or a
  // handle dealt to the lane later, demote it on their first send.)
  bool claim_sole(std::uint64_t me, std::uint32_t lane) {
    lane_senders& senders = senders_of(lane);
    if (senders.handles.load(std::memory_order_relaxed) == 1) return senders.gate.claim(me);
    senders.gate.share();
    return false;
  }

  // A receiver about to park, after counting itself as waiting and before
  // its last look: one heavy barrier for every lane whose gate may have an
  // owner (sole_sender_gate::waiter_needs_barrier).
  void before_receiver_looks() noexcept {
    bool barrier = false;
    for (std::uint32_t k = 0; k < lane_count(); ++k) barrier |= senders_of(k).gate.waiter_needs_barrier();
    if (barrier) heavy_barrier();
  }

  [[nodiscard]] std::uint32_t lane_count() const noexcept { return m_ring ? 1 : m_list->lane_count(); }

  // Demotes every lane's gate for good with one heavy barrier for up to 64
  // of them (sole_sender_gate::begin_share) instead of one each: a barrier
  // costs microseconds, and a per-sender channel may have an owner in
  // every lane. Chunked so that close() allocates nothing.
  void share_every_gate() noexcept {
    using step = sole_sender_gate::share_step;
    constexpr std::uint32_t chunk = 64;
    const std::uint32_t lanes = lane_count();
    for (std::uint32_t first = 0; first < lanes; first += chunk) {
      const std::uint32_t n = std::min(chunk, lanes - first);
      step steps[chunk];
      bool barrier = false;
      for (std::uint32_t i = 0; i < n; ++i)
        barrier |= (steps[i] = senders_of(first + i).gate.begin_share()) == step::revoking;
      if (barrier) heavy_barrier();
      for (std::uint32_t i = 0; i < n; ++i) senders_of(first + i).gate.end_share(steps[i]);
    }
  }

  channel_op recv_now(std::optional<T>& out, bool exact) {
    auto sink = [&out](T&& v) { out.emplace(std::move(v)); };
    return from(m_ring ? m_ring->try_pop(sink, exact) : m_list->try_pop(sink, exact));
  }

  // A batch takes at most this many items: a bounded channel holds no more
  // than its capacity; for an unbounded one it bounds what one call
  // reserves (the caller's `max` may be anything, SIZE_MAX included).
  static constexpr std::size_t unbounded_batch_limit = 4096;

  std::size_t recv_many_now(std::vector<T>& out, std::size_t max, channel_op& op, bool exact,
                            bool whole_lines = false) {
    // Reserved before the claim: once items are claimed, nothing may fail
    // for want of room in `out`.
    max = std::min(max, m_ring ? m_capacity : unbounded_batch_limit);
    if (max > out.max_size() - out.size()) throw std::length_error("sluice: recv_batch: output vector is full");
    out.reserve(out.size() + max);
    auto st = channel_ring<T>::status::would_block;
    std::size_t n = m_ring ? m_ring->try_pop_many(out, max, st, exact, whole_lines)
                           : m_list->try_pop_many(out, max, st, exact, whole_lines);
    op = n ? channel_op::done : from(st);
    return n;
  }

  channel_op recv_for(waiter& w) {
    if (!w.batch) return recv_now(w.item, true);
    channel_op op;
    w.got = recv_many_now(*w.batch, w.want, op, true);
    return op;
  }

  static channel_op from(typename channel_ring<T>::status st) noexcept {
    switch (st) {
      case channel_ring<T>::status::ok:
        return channel_op::done;
      case channel_ring<T>::status::would_block:
        return channel_op::would_block;
      default:
        return channel_op::closed;
    }
  }

  void after_recv() {
    if (m_senders_waiting.load(std::memory_order_seq_cst) > 0) wake_waiters();
  }

  // ---- waking -------------------------------------------------------------------

  // Collects coroutines to resume while holding the lock; resumes them after
  // unlocking, because a coroutine resumed inline may re-enter the channel.
  class wake_list {
   public:
    void add(waiter* w, int outcome) {
      if (w->arm) {
        m_coroutines.push(w);  // its selector decides how it resumes
      } else if (w->is_thread()) {
        // Still under the lock: the thread re-takes the lock before it
        // returns, so the node (on its stack) outlives this notify.
        w->result.store(outcome, std::memory_order_release);
        w->result.notify_one();
      } else {
        w->result.store(outcome, std::memory_order_release);
        m_coroutines.push(w);
      }
    }
    ~wake_list() {
      while (auto* w = m_coroutines.pop()) {
        if (w->arm) {
          w->arm->m_selector->wake();
        } else {
          w->coroutine.resume();
        }
      }
    }

   private:
    waiter_queue<T> m_coroutines;
  };

  // Serves waiting receivers and senders for as long as one side's progress
  // lets the other go on (a receive served frees a slot for a waiting sender,
  // a send served gives a waiting receiver an item).
  void wake_waiters() {
    wake_list woken;
    std::lock_guard lock(m_mutex);
    for (bool progress = true; progress;) {
      const bool received = serve_receivers(woken);  // both sides are served every round
      const bool sent = serve_senders(woken);
      progress = received || sent;
    }
  }

  bool serve_receivers(wake_list& woken) {
    bool served = false;
    while (auto* w = m_recv_waiters.pop()) {
      if (w->arm) {
        if (serve_arm(*w, woken, served)) continue;
        break;
      }
      channel_op op = recv_for(*w);
      if (op == channel_op::would_block) {
        m_recv_waiters.push_front(w);
        break;
      }
      m_receivers_waiting.fetch_sub(1, std::memory_order_relaxed);
      if (w->is_thread()) m_receivers_waking.fetch_add(1, std::memory_order_relaxed);
      woken.add(w, op == channel_op::done ? waiter::granted : waiter::closed);
      served |= op == channel_op::done;
    }
    return served;
  }

  bool serve_senders(wake_list& woken) {
    bool served = false;
    while (auto* w = m_send_waiters.pop()) {
      if (w->arm) {
        if (serve_arm(*w, woken, served)) continue;
        break;
      }
      channel_op op = send_now(*w->send_item, true, w->sender_thread);
      if (op == channel_op::would_block) {
        m_send_waiters.push_front(w);
        break;
      }
      m_senders_waiting.fetch_sub(1, std::memory_order_relaxed);
      if (w->is_thread()) m_senders_waking.fetch_add(1, std::memory_order_relaxed);
      woken.add(w, op == channel_op::done ? waiter::granted : waiter::closed);
      served |= op == channel_op::done;
    }
    return served;
  }

  // A popped waiter of a select arm: claim its selector, try the operation,
  // settle. A decided selector's waiter is dropped untouched. False (and `w`
  // back at the front) when the operation would block.
  bool serve_arm(waiter& w, wake_list& woken, bool& served) {
    const bool sending = w.send_item != nullptr;
    auto& waiting = sending ? m_senders_waiting : m_receivers_waiting;
    if (!w.arm->m_selector->claim()) {
      waiting.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    channel_op op = arm_op(w, 0);
    if (op == channel_op::would_block) {
      w.arm->m_selector->release();
      (sending ? m_send_waiters : m_recv_waiters).push_front(&w);
      return false;
    }
    waiting.fetch_sub(1, std::memory_order_relaxed);
    served |= op == channel_op::done;
    if (w.arm->m_selector->settle(w.arm->m_index, op == channel_op::done)) woken.add(&w, waiter::granted);
    return true;
  }

  // `owner_ok` as for send_now: the calling thread's token when it sends
  // for itself, 0 when it serves another's queued arm.
  channel_op arm_op(waiter& w, std::uint64_t owner_ok) {
    return w.send_item ? send_now(*w.send_item, true, owner_ok) : recv_for(w);
  }

  // Runs once no send can add items (the storage is marked closed): waiting
  // senders fail, waiting receivers get what is
  // left, then the end of the stream.
  void wake_after_close() {
    wake_list woken;
    std::lock_guard lock(m_mutex);
    serve_senders(woken);  // all fail: closed
    serve_receivers(woken);
  }

  const std::size_t m_capacity;           // 0: unbounded
  std::optional<channel_ring<T>> m_ring;  // bounded
  std::optional<unbounded_list> m_list;   // unbounded
  alignas(cache_line_size) std::atomic<int> m_receivers_waiting{0};
  alignas(cache_line_size) std::atomic<int> m_senders_waiting{0};
  alignas(cache_line_size) std::atomic<std::size_t> m_senders{0};
  std::atomic<std::uint32_t> m_next_lane{0};  // the lane of the next sender handle (several lanes only)
  std::atomic<std::size_t> m_receivers{0};
  std::atomic<int> m_senders_waking{0};  // thread waiters served, not yet running
  std::atomic<int> m_receivers_waking{0};
  // Per lane: who may claim its tail without the CAS, and how many sender
  // handles were dealt to it. Lane 0 (every bounded and default unbounded
  // channel has only it) is here, lanes 1.. of a per-sender channel apart.
  struct lane_senders {
    sole_sender_gate gate;
    std::atomic<std::uint32_t> handles{0};
  };
  lane_senders m_first_lane;
  std::unique_ptr<lane_senders[]> m_more_lanes;
  lane_senders& senders_of(std::uint32_t lane) noexcept {
    assert(lane < lane_count());
    return lane == 0 ? m_first_lane : m_more_lanes[lane - 1];
  }
  const lane_senders& senders_of(std::uint32_t lane) const noexcept {
    return lane == 0 ? m_first_lane : m_more_lanes[lane - 1];
  }
  std::mutex m_mutex;  // guards the two waiter lists
  waiter_queue<T> m_recv_waiters;
  waiter_queue<T> m_send_waiters;
};

}  // namespace sluice::detail
