// The storage of a bounded sluice::channel: a fixed ring of slots, each with a
// stamp, after Dmitry Vyukov's bounded MPMC queue and crossbeam-channel's
// array flavour.
//
// `m_tail` and `m_head` are positions: an index into the ring plus a lap
// counter above it. A slot's stamp says whose turn it is: `pos` means "empty,
// waiting for the sender holding position pos", `pos + 1` means "full, waiting
// for the receiver holding position pos". A sender claims a position with one
// CAS on m_tail, writes the value, then publishes it by storing the stamp; a
// receiver does the mirror image on m_head. So per item each side writes only
// its own position counter and the slot: no counter is written by both sides,
// and with several small items per cache line the slot lines are the only
// cross-core traffic.
//
// A batch (try_push_many, try_pop_many) claims a run of consecutive slots
// with one CAS; each slot of the run is then handled exactly as above.
//
// Close sets a mark bit in m_tail. A sender's claim is a CAS on m_tail, so it
// either happened before the mark (the item is in, and will be received) or
// it fails and sees the mark (the send fails, the item untouched). (A sole
// sender thread claims with a plain store instead, try_push_alone; close
// demotes it first, so no plain store races the mark: see sole_sender.hpp.) A receiver
// that finds its slot not yet published while m_tail is past it waits for the
// sender that holds it (it is between its CAS and its stamp store); "closed
// and drained" is "marked and head == tail", which is exact.
//
// Telling "empty" from "a sender is writing the slot at head" (and "full"
// from "a receiver is reading the slot at tail") takes a look at the other
// side's position, the one line the other side writes on every item. Only
// an *exact* operation looks: the ones that decide whether to park a waiter
// or report the end, which run under the channel's lock. A plain poll
// (`exact` false) reports would_block at once instead, so a receiver
// chasing its sender does not pull m_tail's line away from it on every
// poll (and a sender waiting on a full ring leaves m_head alone).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/boxed_item.hpp"
#include "sluice/core/detail/std_parts.hpp"

namespace sluice::detail {

/// Short waits inside the ring: a claimed slot whose owner has not finished
/// writing or reading it. Spins briefly, then yields, because on a machine
/// with fewer cores than threads the owner may need our core to finish.
class ring_backoff {
 public:
  ring_backoff() = default;
  /// Starts as if spin() or snooze() had run `first_step` times.
  explicit ring_backoff(unsigned first_step) noexcept : m_step(first_step) {}
  void spin() noexcept {
    for (unsigned i = 0; i < (1u << std::min(m_step, 6u)); ++i) pause();
    if (m_step <= 6) ++m_step;
  }
  void snooze() noexcept {
    if (m_step <= 6) {
      for (unsigned i = 0; i < (1u << m_step); ++i) pause();
    } else {
      std::this_thread::yield();
    }
    if (m_step <= 10) ++m_step;
  }
  [[nodiscard]] bool completed() const noexcept { return m_step > 10; }
  /// True once spin() or snooze() ran `steps` times.
  [[nodiscard]] bool stepped(unsigned steps) const noexcept { return m_step >= steps; }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  unsigned m_step = 0;
};

template <typename T>
class channel_ring {
 public:
  enum class status { ok, would_block, closed };

  explicit channel_ring(std::size_t capacity)
      : m_capacity(capacity),
        m_mark_bit(std::bit_ceil(capacity + 1)),
        m_one_lap(m_mark_bit * 2),
        m_slots(std::make_unique<slot[]>(capacity)) {
    for (std::size_t i = 0; i < capacity; ++i) m_slots[i].stamp.store(i, std::memory_order_relaxed);
  }
  channel_ring(const channel_ring&) = delete;
  channel_ring& operator=(const channel_ring&) = delete;
  ~channel_ring() {
    // Whatever nobody received. No operation runs concurrently with this.
    std::uint64_t head = m_head.load(std::memory_order_relaxed);
    const std::uint64_t tail = m_tail.load(std::memory_order_relaxed) & ~m_mark_bit;
    while (head != tail) {
      slot& s = m_slots[index(head)];
      s.value()->~stored();
      head = next(head);
    }
  }

  /// Moves `item` into the ring. would_block: full (or, unless `exact`, a
  /// receiver is still reading the slot); closed: marked closed. `item` is
  /// moved from only on ok.
  status try_push(T& item, bool exact) {
    return push_boxed(
        item, [&](stored& value) { return push_stored(value, exact); }, status::ok);
  }

  /// try_push for the sole writer of m_tail (see sole_sender.hpp): claims
  /// the slot with a plain store instead of a CAS. The caller must be inside
  /// the channel's sole_sender_gate, so no other thread writes m_tail (not
  /// even close(), which demotes the owner first). would_block: the slot at
  /// tail is not free yet (full, or a receiver is reading it); the caller
  /// falls back to try_push. `whole_lines`: also would_block past the slots
  /// known to be free until receivers have freed a window of slots (see
  /// receivers_left_window). `item` is moved from only on ok.
  status try_push_alone(T& item, bool whole_lines) {
    return push_boxed(
        item, [&](stored& value) { return push_alone(value, whole_lines); }, status::ok);
  }

  /// Moves up to `n` items from `items` into consecutive slots with one
  /// claim (one CAS on m_tail for the run; a boxed type: one per item).
  /// Returns how many, moved from `items[0..k)` in order; `st` says why it
  /// returned 0 (would_block or closed, as for try_push). The rest are
  /// untouched.
  std::size_t try_push_many(T* items, std::size_t n, status& st, bool exact) {
    if constexpr (boxed) {
      std::size_t k = 0;
      for (st = status::ok; k < n && (st = try_push(items[k], exact)) == status::ok;) ++k;
      if (k) st = status::ok;
      return k;
    } else {
      ring_backoff backoff;
      std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
      for (;;) {
        if (tail & m_mark_bit) {
          st = status::closed;
          return 0;
        }
        // Count the consecutive free slots from tail (each stamp is changed
        // only by the owner of its position, so a free slot stays free until
        // the sender that claims it writes it). At most one lap: the slot at
        // tail is not free for tail + one lap.
        std::size_t k = 0;
        std::uint64_t end = tail;
        while (k < n && m_slots[index(end)].stamp.load(std::memory_order_acquire) == end) {
          end = next(end);
          ++k;
        }
        if (k > 0) {
          if (m_tail.compare_exchange_weak(tail, end, std::memory_order_seq_cst, std::memory_order_relaxed)) {
            std::uint64_t pos = tail;
            for (std::size_t i = 0; i < k; ++i, pos = next(pos)) {
              slot& s = m_slots[index(pos)];
              ::new (s.storage) stored(std::move(items[i]));  // nothrow: claimed slots must be published
              s.stamp.store(pos + 1, std::memory_order_release);
            }
            st = status::ok;
            return k;
          }
          backoff.spin();
          continue;
        }
        st = full_or_wait(tail, backoff, exact);
        if (st != status::ok) return 0;
        tail = m_tail.load(std::memory_order_relaxed);
      }
    }
  }

  /// Takes the oldest item and passes it (as T&&) to `sink`, which must not
  /// throw. would_block: empty (or, unless `exact`, its sender is still
  /// writing it); closed: marked closed and empty (drained), exact only.
  template <typename Sink>
  status try_pop(Sink&& sink, bool exact) {
    ring_backoff backoff;
    std::uint64_t head = m_head.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = m_slots[index(head)];
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == head + 1) {
        if (m_head.compare_exchange_weak(head, next(head), std::memory_order_seq_cst, std::memory_order_relaxed)) {
          consume(s, head, sink);
          return status::ok;
        }
        backoff.spin();
      } else if (stamp == head) {
        if (!exact) {
          // Poll the slot, not m_tail: a sender mid-write usually
          // publishes within a few pauses.
          if (backoff.stepped(poll_spins)) return status::would_block;
          backoff.spin();
          head = m_head.load(std::memory_order_relaxed);
          continue;
        }
        status st = empty_or_wait(head, backoff);
        if (st != status::ok) return st;  // ok: a sender is mid-write, look again
        head = m_head.load(std::memory_order_relaxed);
      } else {
        backoff.snooze();
        head = m_head.load(std::memory_order_relaxed);
      }
    }
  }

  /// Takes up to `max` published items with one claim, appending them to
  /// `out` (whose capacity the caller has reserved). Returns how many;
  /// `st` says why it returned 0 (would_block or closed, as for try_pop).
  /// `whole_lines` (a poll only): a run that ends inside the cache line a
  /// sender is still filling stops at that line's start, and a run that
  /// lies wholly inside it is left for later (would_block) — see
  /// trim_to_whole_lines.
  std::size_t try_pop_many(std::vector<T>& out, std::size_t max, status& st, bool exact, bool whole_lines = false) {
    ring_backoff backoff;
    std::uint64_t head = m_head.load(std::memory_order_relaxed);
    for (;;) {
      // Count the consecutive published slots from head.
      std::size_t n = 0;
      std::uint64_t end = head;
      while (n < max && m_slots[index(end)].stamp.load(std::memory_order_acquire) == end + 1) {
        end = next(end);
        ++n;
      }
      if (whole_lines && n < max && !exact) {
        n = trim_to_whole_lines(end, n);
        if (n == 0) {
          st = status::would_block;
          return 0;
        }
      }
      if (n > 0) {
        if (m_head.compare_exchange_weak(head, end, std::memory_order_seq_cst, std::memory_order_relaxed)) {
          st = status::ok;
          return take_run(head, end, n, out);
        }
        backoff.spin();
        continue;
      }
      const std::uint64_t stamp = m_slots[index(head)].stamp.load(std::memory_order_acquire);
      if (stamp == head) {
        if (!exact) {
          if (backoff.stepped(poll_spins)) {
            st = status::would_block;
            return 0;
          }
          backoff.spin();
          head = m_head.load(std::memory_order_relaxed);
          continue;
        }
        st = empty_or_wait(head, backoff);
        if (st != status::ok) return 0;
      } else {
        backoff.snooze();
      }
      head = m_head.load(std::memory_order_relaxed);
    }
  }

  /// Sets the closed mark; true for the call that set it.
  bool close() noexcept { return !(m_tail.fetch_or(m_mark_bit, std::memory_order_seq_cst) & m_mark_bit); }
  [[nodiscard]] bool closed() const noexcept { return m_tail.load(std::memory_order_acquire) & m_mark_bit; }

  /// Items in the ring (a snapshot).
  [[nodiscard]] std::size_t size() const noexcept {
    for (;;) {
      const std::uint64_t tail = m_tail.load(std::memory_order_seq_cst);
      const std::uint64_t head = m_head.load(std::memory_order_seq_cst);
      if (m_tail.load(std::memory_order_seq_cst) != tail) continue;
      const std::uint64_t hix = index(head), tix = index(tail);
      if (hix < tix) return tix - hix;
      if (hix > tix) return m_capacity - hix + tix;
      return (tail & ~m_mark_bit) == head ? 0 : m_capacity;
    }
  }

 private:
  // See boxed_item.hpp.
  static constexpr bool boxed = boxed_item<T>;
  using stored = stored_item<T>;

  // A poll's spins (1 + 2 + 4 pauses) on a slot that is not ready before it
  // reports would_block.
  static constexpr unsigned poll_spins = 3;

  struct slot {
    std::atomic<std::uint64_t> stamp{0};
    alignas(stored) unsigned char storage[sizeof(stored)];
    stored* value() noexcept { return std::launder(reinterpret_cast<stored*>(storage)); }
  };

  status push_stored(stored& value, bool exact) noexcept {
    ring_backoff backoff;
    std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
    for (;;) {
      if (tail & m_mark_bit) return status::closed;
      slot& s = m_slots[index(tail)];
      const std::uint64_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {
        if (m_tail.compare_exchange_weak(tail, next(tail), std::memory_order_seq_cst, std::memory_order_relaxed)) {
          ::new (s.storage) stored(std::move(value));  // nothrow: a claimed slot must be published
          s.stamp.store(tail + 1, std::memory_order_release);
          return status::ok;
        }
        backoff.spin();
      } else if (stamp + m_one_lap == tail + 1) {
        // The slot still holds last lap's item: full, unless a receiver has
        // claimed it and is reading it right now.
        if (!exact) {
          if (backoff.stepped(poll_spins)) return status::would_block;
          backoff.spin();
          tail = m_tail.load(std::memory_order_relaxed);
          continue;
        }
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (m_head.load(std::memory_order_relaxed) + m_one_lap == tail) return status::would_block;
        backoff.spin();
        tail = m_tail.load(std::memory_order_relaxed);
      } else {
        backoff.snooze();  // another sender claimed this slot; catch up
        tail = m_tail.load(std::memory_order_relaxed);
      }
    }
  }

  // The tail is stored before the stamp: a receiver that sees the stamp
  // (acquire) sees the tail past the slot, and one that sees the tail first
  // waits for the stamp, as it waits for a sender between CAS and stamp.
  status push_alone(stored& value, bool whole_lines) noexcept {
    const std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
    if (tail & m_mark_bit) return status::closed;  // not while owned: close() demotes first
    slot& s = m_slots[index(tail)];
    if (s.stamp.load(std::memory_order_acquire) != tail) return status::would_block;
    if (whole_lines && tail >= m_sole_free_until && !receivers_left_window(tail)) return status::would_block;
    ::new (s.storage) stored(std::move(value));  // nothrow, as in push_stored
    m_tail.store(next(tail), std::memory_order_relaxed);
    s.stamp.store(tail + 1, std::memory_order_release);
    return status::ok;
  }

  // A sole sender is faster than a receiver taking one item at a time, so
  // the ring runs full, and refilling it slot by slot right behind the
  // receiver wrote (and polled) the line the receiver was still reading and
  // freeing: that line then crossed between the cores several times per
  // item, and the blocking 1x1 row was 7-25 % slower than with the CAS. So
  // past the slots it already knows to be free (m_sole_free_until), the
  // sender waits until the receivers have freed a whole window of slots
  // (an eighth of the ring, up to the ring's end) and then refills the
  // window in one burst: it polls the window's last slot, a line the
  // receiver reaches last, and writes no line the receiver is still on.
  // Receivers free in order, so the last slot free means the window is.
  bool receivers_left_window(std::uint64_t tail) noexcept {
    const std::uint64_t window = std::min<std::uint64_t>(refill_window(), m_capacity - index(tail));
    const std::uint64_t last = tail + window - 1;  // same lap: index(last) < capacity
    if (m_slots[index(last)].stamp.load(std::memory_order_acquire) != last) return false;
    m_sole_free_until = last + 1;
    return true;
  }
  std::uint64_t refill_window() const noexcept {
    constexpr std::size_t small_ring = 64;  // slots; below it the window is the slot at tail
    return m_capacity < small_ring ? 1 : m_capacity / 8;
  }

  // Hands the item at `pos` (claimed by the caller) to `sink`, then frees
  // the slot for the sender one lap later, even if `sink` throws (a boxed
  // type's move), so the ring never stalls on a claimed slot.
  template <typename Sink>
  void consume(slot& s, std::uint64_t pos, Sink& sink) {
    struct release_slot {
      slot& s;
      std::uint64_t stamp;
      ~release_slot() {
        s.value()->~stored();
        s.stamp.store(stamp, std::memory_order_release);
      }
    } release{s, pos + m_one_lap};
    sink(std::move(unboxed<T>(*release.s.value())));
  }

  // Moves the `n` items of the claimed run [head, end) to `out` (capacity
  // reserved, so only a boxed type's move can throw) and frees their slots.
  // If a move throws, the run is still finished: every slot is freed (the
  // ring never stalls on a claimed slot) and every other item of the run is
  // appended; only the item whose move threw is destroyed (as for
  // try_pop). Then the first exception is rethrown.
  std::size_t take_run(std::uint64_t head, std::uint64_t end, std::size_t n, std::vector<T>& out) {
    auto append = [&out](T&& v) { out.push_back(std::move(v)); };
    if constexpr (boxed) {
      std::exception_ptr failed;
      for (std::uint64_t pos = head; pos != end; pos = next(pos)) {
        try {
          consume(m_slots[index(pos)], pos, append);
        } catch (...) {
          if (!failed) failed = std::current_exception();
          --n;
        }
      }
      if (failed) std::rethrow_exception(failed);
    } else {
      for (std::uint64_t pos = head; pos != end; pos = next(pos)) consume(m_slots[index(pos)], pos, append);
    }
    return n;
  }

  // A batch receiver that takes the published slots of a cache line while
  // a sender is still filling the rest of it writes their stamps (frees
  // them) into the very line the sender writes next: the line then moves
  // between the two cores once per receive instead of once per lap, and
  // each move stalls the sender's next CAS. So a polling batch receiver
  // leaves the published slots of the line holding `end` (the first slot
  // not published) to a later call: the run [.., end) is cut back to that
  // line's start. Returns the new `n` (0: every published slot is in that
  // line). Not cut: slots that do not tile a line, and small rings (under
  // four lines), where the sender's line is most of the ring.
  std::size_t trim_to_whole_lines(std::uint64_t& end, std::size_t n) noexcept {
    constexpr std::size_t line = 64;
    if constexpr (line % sizeof(slot) != 0) {
      return n;
    } else {
      if (m_capacity < 4 * (line / sizeof(slot))) return n;
      // Slots before `end` in its line (from the address: the array need
      // not start a line), and only those of end's lap (index >= 0).
      const auto address = reinterpret_cast<std::uintptr_t>(&m_slots[index(end)]);
      const std::size_t in_line = address % line / sizeof(slot);
      const std::size_t cut = std::min(std::min(in_line, static_cast<std::size_t>(index(end))), n);
      end -= cut;
      return n - cut;
    }
  }

  // The slot at tail holds an item (stamp one lap behind) or another sender
  // claimed it: closed/would_block when the ring is full (only an exact
  // look at m_head tells "full" from "a receiver is reading that slot";
  // a poll gives up after a few spins), ok to look again.
  status full_or_wait(std::uint64_t tail, ring_backoff& backoff, bool exact) noexcept {
    const std::uint64_t stamp = m_slots[index(tail)].stamp.load(std::memory_order_acquire);
    if (stamp + m_one_lap == tail + 1) {
      if (!exact) {
        if (backoff.stepped(poll_spins)) return status::would_block;
        backoff.spin();
        return status::ok;
      }
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (m_head.load(std::memory_order_relaxed) + m_one_lap == tail) return status::would_block;
      backoff.spin();
    } else {
      backoff.snooze();  // another sender claimed this slot; catch up
    }
    return status::ok;
  }

  // The slot at head is empty: the ring is empty (or closed and drained)
  // unless a sender holds the slot and is writing it; then wait for it (ok).
  status empty_or_wait(std::uint64_t head, ring_backoff& backoff) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
    if ((tail & ~m_mark_bit) == head) return (tail & m_mark_bit) ? status::closed : status::would_block;
    backoff.spin();
    return status::ok;
  }

  [[nodiscard]] std::uint64_t index(std::uint64_t pos) const noexcept { return pos & (m_mark_bit - 1); }
  [[nodiscard]] std::uint64_t next(std::uint64_t pos) const noexcept {
    return index(pos) + 1 < m_capacity ? pos + 1 : (pos & ~(m_one_lap - 1)) + m_one_lap;
  }

  const std::size_t m_capacity;
  const std::uint64_t m_mark_bit;  // closed flag in m_tail; also the index mask + 1
  const std::uint64_t m_one_lap;
  std::unique_ptr<slot[]> m_slots;
  alignas(64) std::atomic<std::uint64_t> m_head{0};
  alignas(64) std::atomic<std::uint64_t> m_tail{0};
  // The sole sender's (sole_sender.hpp) only: positions below it were free
  // when it last looked (receivers_left_window). On m_tail's line, which
  // that sender writes on every item anyway.
  std::uint64_t m_sole_free_until = 0;
};

}  // namespace sluice::detail
