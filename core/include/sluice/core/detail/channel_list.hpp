// The storage of an unbounded sluice::channel: a linked list of blocks of
// slots, after crossbeam-channel's list flavour, with the same discipline as
// the bounded ring (detail/channel_ring.hpp): per item each side writes only
// its own position and the slot, never a counter that the other side writes.
//
// `m_tail` and `m_head` are positions shifted left by one bit: a block index
// times `lap` plus an offset. Offsets 0 .. block_cap-1 name slots; offset
// block_cap is never a slot, it means "the block is full and its successor is
// being linked in" (wait). A sender claims a position with one CAS on m_tail,
// moves its item into the slot and sets the slot's `written` flag (a release
// store: no read-modify-write); the sender of a block's last slot links the
// next block in (allocated before its claim, so nothing after a claim can
// throw or fail). A receiver claims one position, or a run of consecutive
// positions in one block, with one CAS on m_head, waits for each claimed
// slot's `written` flag (its sender is between the CAS and the store), and
// moves the items out. A block is freed (or kept as the one spare) when all
// of its slots have been read: each receiver adds what it read to the
// block's read count once per claim, and the one that completes the count
// owns the block.
//
// Bit 0 of m_tail is the closed mark: a send either claimed its position
// before the mark (its item will be received) or fails its CAS, sees the mark
// and returns closed with the item untouched. "Closed and drained" is
// "marked and head == tail", final once true. Bit 0 of m_head says "the tail
// is in a later block", so a receiver can claim without looking at m_tail.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/channel_ring.hpp"
#include "sluice/core/detail/std_parts.hpp"

namespace sluice::detail {

template <typename T>
class channel_list {
 public:
  using status = typename channel_ring<T>::status;

  channel_list() {
    block* first = new block;
    m_head_block.store(first, std::memory_order_relaxed);
    m_tail_block.store(first, std::memory_order_relaxed);
  }
  channel_list(const channel_list&) = delete;
  channel_list& operator=(const channel_list&) = delete;
  ~channel_list() {
    // Whatever nobody received. No operation runs concurrently with this,
    // and every claimed position was written (a claim is always completed).
    std::uint64_t head = m_head.load(std::memory_order_relaxed) & ~mark;
    const std::uint64_t tail = m_tail.load(std::memory_order_relaxed) & ~mark;
    block* b = m_head_block.load(std::memory_order_relaxed);
    while (head != tail) {
      const std::uint64_t offset = (head >> shift) % lap;
      if (offset == block_cap) {
        block* next = b->next.load(std::memory_order_relaxed);
        delete b;
        b = next;
      } else {
        b->slots[offset].value()->~stored();
      }
      head += std::uint64_t{1} << shift;
    }
    delete b;
    delete m_spare.load(std::memory_order_relaxed);
  }

  /// Moves `item` into the list. closed: marked closed (`item` untouched).
  /// Throws std::bad_alloc (item untouched) if a block cannot be allocated.
  status try_push(T& item) {
    if constexpr (boxed) {
      auto box = std::make_unique<T>(std::move(item));
      status st = push_stored(box);
      if (st != status::ok) item = std::move(*box);  // give it back as it was
      return st;
    } else {
      return push_stored(item);
    }
  }

  /// Moves up to `n` items from `items` into the list, one claim (one CAS on
  /// m_tail) per block the run reaches into, and stops early only if the
  /// list is closed (`st` closed; 0 when nothing went in) or a block cannot
  /// be allocated after some items went in. Returns how many, moved from
  /// `items[0..k)` in order; the rest are untouched. Throws std::bad_alloc
  /// (nothing moved) if the first claim needs a block it cannot allocate.
  std::size_t try_push_many(T* items, std::size_t n, status& st) {
    std::size_t total = 0;
    st = status::ok;
    while (total < n) {
      std::size_t k;
      try {
        if constexpr (boxed) {
          st = try_push(items[total]);
          k = st == status::ok;
        } else {
          k = push_run(items + total, n - total, st);
        }
      } catch (const std::bad_alloc&) {
        if (total == 0) throw;
        break;
      }
      if (k == 0) break;
      total += k;
    }
    if (total) st = status::ok;
    return total;
  }

  /// Takes the oldest item and passes it (as T&&) to `sink`. would_block:
  /// empty; closed: marked closed and empty (drained).
  template <typename Sink>
  status try_pop(Sink&& sink) {
    status st;
    block* b;
    std::uint64_t offset;
    if (claim(1, b, offset, st) == 0) return st;
    consume(b, offset, 1, sink);
    return status::ok;
  }

  /// Takes up to `max` items, appending them to `out` (whose capacity the
  /// caller has reserved): one claim per block the run spans. Returns how
  /// many; `st` says why it returned 0 (would_block or closed).
  std::size_t try_pop_many(std::vector<T>& out, std::size_t max, status& st) {
    auto append = [&out](T&& v) { out.push_back(std::move(v)); };
    std::size_t total = 0;
    while (total < max) {
      block* b;
      std::uint64_t offset;
      const std::size_t n = claim(max - total, b, offset, st);
      if (n == 0) break;
      consume(b, offset, n, append);
      total += n;
    }
    if (total) st = status::ok;
    return total;
  }

  /// Sets the closed mark; true for the call that set it.
  bool close() noexcept { return !(m_tail.fetch_or(mark, std::memory_order_seq_cst) & mark); }
  [[nodiscard]] bool closed() const noexcept { return m_tail.load(std::memory_order_acquire) & mark; }

  /// Items in the list, counting positions claimed by senders still writing
  /// them (a snapshot).
  [[nodiscard]] std::size_t size() const noexcept {
    for (;;) {
      const std::uint64_t tail = m_tail.load(std::memory_order_seq_cst);
      const std::uint64_t head = m_head.load(std::memory_order_seq_cst);
      if (m_tail.load(std::memory_order_seq_cst) != tail) continue;
      const std::uint64_t have = items_before(tail >> shift), gone = items_before(head >> shift);
      return have > gone ? static_cast<std::size_t>(have - gone) : 0;
    }
  }

 private:
  // A type whose move may throw is boxed before a position is claimed, so
  // that nothing between claiming and writing a slot can throw.
  static constexpr bool boxed = !std::is_nothrow_move_constructible_v<T>;
  using stored = std::conditional_t<boxed, std::unique_ptr<T>, T>;

  // 127 slots a block: a 256-item batch takes three claims, and for 8-byte
  // items a block is about 2 KiB.
  static constexpr std::uint64_t lap = 128;
  static constexpr std::uint64_t block_cap = lap - 1;
  static constexpr std::uint64_t shift = 1;
  static constexpr std::uint64_t mark = 1;

  struct slot {
    alignas(stored) unsigned char storage[sizeof(stored)];
    std::atomic<bool> written{false};
    stored* value() noexcept { return std::launder(reinterpret_cast<stored*>(storage)); }
  };

  struct block {
    std::atomic<block*> next{nullptr};
    // Receivers only; on its own line, away from the senders' `next`.
    alignas(64) std::atomic<std::uint64_t> read{0};
    slot slots[block_cap];

    block* wait_next() const noexcept {
      ring_backoff backoff;
      for (;;) {
        if (block* n = next.load(std::memory_order_acquire)) return n;
        backoff.snooze();
      }
    }
  };

  // Slots before position `pos` (positions at offset block_cap are not slots).
  static std::uint64_t items_before(std::uint64_t pos) noexcept {
    return pos / lap * block_cap + std::min(pos % lap, block_cap);
  }

  block* new_block() {
    if (block* b = m_spare.exchange(nullptr, std::memory_order_acquire)) return b;
    return new block;
  }
  // `b` is no longer reachable by anyone: keep it as the spare (the next
  // block a sender links in) or free it.
  void retire(block* b) noexcept {
    b->next.store(nullptr, std::memory_order_relaxed);
    b->read.store(0, std::memory_order_relaxed);
    for (auto& s : b->slots) s.written.store(false, std::memory_order_relaxed);
    delete m_spare.exchange(b, std::memory_order_acq_rel);
  }

  status push_stored(stored& value) {
    ring_backoff backoff;
    std::uint64_t tail = m_tail.load(std::memory_order_acquire);
    block* b = m_tail_block.load(std::memory_order_acquire);
    std::unique_ptr<block, spare_return> next_block{nullptr, spare_return{this}};
    for (;;) {
      if (tail & mark) return status::closed;
      const std::uint64_t offset = (tail >> shift) % lap;
      if (offset == block_cap) {  // another sender is linking the next block in
        backoff.snooze();
        tail = m_tail.load(std::memory_order_acquire);
        b = m_tail_block.load(std::memory_order_acquire);
        continue;
      }
      // The sender of the last slot links the next block; allocate it before
      // the claim so that nothing after the claim can fail.
      if (offset + 1 == block_cap && !next_block) next_block.reset(new_block());
      if (m_tail.compare_exchange_weak(tail, tail + (std::uint64_t{1} << shift), std::memory_order_seq_cst,
                                       std::memory_order_acquire)) {
        if (offset + 1 == block_cap) link_next_block(b, next_block.release());
        slot& s = b->slots[offset];
        ::new (s.storage) stored(std::move(value));  // nothrow
        s.written.store(true, std::memory_order_release);
        return status::ok;
      }
      b = m_tail_block.load(std::memory_order_acquire);
      backoff.spin();
    }
  }

  // Claims up to `n` positions of the tail block with one CAS and moves
  // items[0..k) into them; returns k (0: closed).
  std::size_t push_run(T* items, std::size_t n, status& st) {
    ring_backoff backoff;
    std::uint64_t tail = m_tail.load(std::memory_order_acquire);
    block* b = m_tail_block.load(std::memory_order_acquire);
    std::unique_ptr<block, spare_return> next_block{nullptr, spare_return{this}};
    for (;;) {
      if (tail & mark) {
        st = status::closed;
        return 0;
      }
      const std::uint64_t offset = (tail >> shift) % lap;
      if (offset == block_cap) {  // another sender is linking the next block in
        backoff.snooze();
        tail = m_tail.load(std::memory_order_acquire);
        b = m_tail_block.load(std::memory_order_acquire);
        continue;
      }
      const std::uint64_t k = std::min<std::uint64_t>(n, block_cap - offset);
      const bool fills_block = offset + k == block_cap;
      if (fills_block && !next_block) next_block.reset(new_block());  // before the claim, as in push_stored
      if (m_tail.compare_exchange_weak(tail, tail + (k << shift), std::memory_order_seq_cst,
                                       std::memory_order_acquire)) {
        if (fills_block) link_next_block(b, next_block.release());
        for (std::uint64_t i = 0; i < k; ++i) {
          slot& s = b->slots[offset + i];
          ::new (s.storage) stored(std::move(items[i]));  // nothrow
          s.written.store(true, std::memory_order_release);
        }
        st = status::ok;
        return static_cast<std::size_t>(k);
      }
      b = m_tail_block.load(std::memory_order_acquire);
      backoff.spin();
    }
  }

  // The sender that claimed a block's last slot links the next block in:
  // published as the tail block, then the tail moved past the block's
  // end position (the offset block_cap that other senders wait on), then
  // chained for the receivers.
  void link_next_block(block* b, block* next) noexcept {
    m_tail_block.store(next, std::memory_order_release);
    m_tail.fetch_add(std::uint64_t{1} << shift, std::memory_order_release);
    b->next.store(next, std::memory_order_release);
  }

  struct spare_return {
    channel_list* list;
    void operator()(block* b) const noexcept { list->retire(b); }
  };

  // Claims up to `max` consecutive positions in the head block with one CAS.
  // Returns how many (setting `b` and `offset` to the first), or 0 with `st`
  // saying empty or closed and drained.
  std::size_t claim(std::size_t max, block*& b, std::uint64_t& offset, status& st) {
    ring_backoff backoff;
    std::uint64_t head = m_head.load(std::memory_order_acquire);
    b = m_head_block.load(std::memory_order_acquire);
    for (;;) {
      offset = (head >> shift) % lap;
      if (offset == block_cap) {  // the receiver of the last slot is moving to the next block
        backoff.snooze();
        head = m_head.load(std::memory_order_acquire);
        b = m_head_block.load(std::memory_order_acquire);
        continue;
      }
      std::uint64_t n = std::min<std::uint64_t>(max, block_cap - offset);
      std::uint64_t new_head = head;
      if (!(head & mark)) {
        // The tail may be in this block: only positions below it are claimed.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        const std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
        const std::uint64_t hpos = head >> shift, tpos = tail >> shift;
        if (hpos == tpos) {
          st = (tail & mark) ? status::closed : status::would_block;
          return 0;
        }
        if (hpos / lap == tpos / lap) {
          n = std::min(n, tpos - hpos);
        } else {
          new_head |= mark;  // every slot left in this block is claimed by a sender
        }
      }
      new_head += n << shift;
      if (m_head.compare_exchange_weak(head, new_head, std::memory_order_seq_cst, std::memory_order_acquire)) {
        if (offset + n == block_cap) {
          block* next = b->wait_next();
          std::uint64_t next_index = (new_head & ~mark) + (std::uint64_t{1} << shift);
          if (next->next.load(std::memory_order_relaxed)) next_index |= mark;
          m_head_block.store(next, std::memory_order_release);
          m_head.store(next_index, std::memory_order_release);
        }
        return static_cast<std::size_t>(n);
      }
      b = m_head_block.load(std::memory_order_acquire);
      backoff.spin();
    }
  }

  // Moves the `n` claimed items from `offset` on to `sink`, waiting for
  // senders still writing them, then counts them read; the receiver that
  // completes a block's count retires it. If `sink` throws (a boxed type's
  // move), the item whose move threw is destroyed, the other claimed items
  // still go to `sink` and the block is still counted, then the first
  // exception is rethrown.
  template <typename Sink>
  void consume(block* b, std::uint64_t offset, std::size_t n, Sink& sink) {
    if constexpr (boxed) {
      std::exception_ptr failed;
      auto guarded = [&sink, &failed](T&& v) {
        try {
          sink(std::move(v));
        } catch (...) {
          if (!failed) failed = std::current_exception();
        }
      };
      consume_all(b, offset, n, guarded);
      if (failed) std::rethrow_exception(failed);
    } else {
      consume_all(b, offset, n, sink);
    }
  }

  template <typename Sink>
  void consume_all(block* b, std::uint64_t offset, std::size_t n, Sink& sink) {
    struct finish {
      channel_list* list;
      block* b;
      std::uint64_t at, end, n;
      ~finish() {
        for (; at != end; ++at) wait_written(b->slots[at]).value()->~stored();
        if (b->read.fetch_add(n, std::memory_order_acq_rel) + n == block_cap) list->retire(b);
      }
    } done{this, b, offset, offset + n, n};
    while (done.at != done.end) {
      slot& s = wait_written(b->slots[done.at++]);
      struct destroy {
        stored* v;
        ~destroy() { v->~stored(); }
      } item{s.value()};
      if constexpr (boxed) {
        sink(std::move(*item.v->get()));
      } else {
        sink(std::move(*item.v));
      }
    }
  }

  static slot& wait_written(slot& s) noexcept {
    if (!s.written.load(std::memory_order_acquire)) {
      ring_backoff backoff;
      while (!s.written.load(std::memory_order_acquire)) backoff.snooze();
    }
    return s;
  }

  alignas(64) std::atomic<std::uint64_t> m_head{0};
  std::atomic<block*> m_head_block{nullptr};
  alignas(64) std::atomic<std::uint64_t> m_tail{0};
  std::atomic<block*> m_tail_block{nullptr};
  alignas(64) std::atomic<block*> m_spare{nullptr};
};

}  // namespace sluice::detail
