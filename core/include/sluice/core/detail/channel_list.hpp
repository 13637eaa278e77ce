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
// next block in (taken before its claim, so nothing after a claim can throw
// or fail).
//
// A receiver claims a run of consecutive positions in one block with one CAS
// on m_head. How it learns how far it may claim depends on the look:
//   * a batch poll (`exact` false: the fast path of every batch receive)
//     counts the slots from head whose `written` flag is set, like the
//     ring's stamps, and never reads m_tail. A receiver chasing its sender
//     used to load m_tail on every claim: the line went to the receiver's
//     core and the sender's next CAS on it stalled for the transfer back
//     (34% + 45% of the sender's samples in the 1x1 recv_batch row). A poll
//     that finds the head slot unwritten reports would_block at once, unless
//     the list is closed (`m_closed`, a flag written once), when it looks at
//     m_tail as below.
//     A single-item poll compares head with m_tail (an acquire load; see
//     try_pop);
//   * an exact look (the one before a waiter parks, under the channel's
//     lock) compares head with m_tail (a seq_cst load, see claim_upto_tail)
//     and waits in consume for a claimed slot whose sender is mid-write.
// Either way the receiver then moves the items out slot by slot, waiting
// only on each slot's `written` flag. A block is recycled when all of its
// slots have been read: each receiver adds what it read to the block's read
// count once per claim, and the one that completes the count retires it.
//
// A batch poll reads the flags of the head block before its CAS, so a block must
// not be freed while a receiver may still be looking at it: retired blocks
// go to a pool from which senders take the blocks they link in (so a stale
// look reads a live block, and the CAS, which fails because head moved on,
// discards what it read); the pool frees its excess only while no poll is
// between loading the head block and its CAS (`m_peekers`, see retire).
// Freeing means handing to a process-wide spare list first (spare_blocks,
// bounded), from which the next unbounded channel of the same item type
// takes its blocks, as it takes a destroyed channel's: a fresh block costs
// page faults.
//
// Bit 0 of m_tail is the closed mark: a send either claimed its position
// before the mark (its item will be received) or fails its CAS, sees the mark
// and returns closed with the item untouched. "Closed and drained" is
// "marked and head == tail", final once true. A batch poll only claims slots
// that are written, which a sender claimed before the mark, so it neither
// takes an item twice (the CAS on m_head) nor ends the stream early (it
// reports closed only after the same head == tail test as an exact look).
// Bit 0 of m_head says "the tail is in a later block", so an exact look can
// claim without looking at m_tail.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/boxed_item.hpp"
#include "sluice/core/detail/channel_ring.hpp"
#include "sluice/core/detail/std_parts.hpp"

namespace sluice::detail {

// The bytes of list blocks kept for reuse (channel_list::spare_blocks) by
// every item type together, and their bound.
inline std::atomic<std::size_t> spare_list_block_bytes{0};
inline constexpr std::size_t spare_list_block_budget = std::size_t{8} << 20;

template <typename T>
class channel_list {
 public:
  using status = typename channel_ring<T>::status;

  channel_list() {
    block* first = new_block();
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
        release(b);
        b = next;
      } else {
        b->slots[offset].value()->~stored();
      }
      head += std::uint64_t{1} << shift;
    }
    release(b);
    while (block* pooled = m_pool.pop()) release(pooled);
  }

  /// Moves `item` into the list. closed: marked closed (`item` untouched).
  /// Throws std::bad_alloc (item untouched) if a block cannot be allocated.
  status try_push(T& item) {
    return push_boxed(
        item, [&](stored& value) { return push_stored(value); }, status::ok);
  }

  /// try_push for the sole writer of m_tail (see sole_sender.hpp): claims
  /// the position with plain stores instead of a CAS. The caller must be
  /// inside the channel's sole_sender_gate, so no other thread writes
  /// m_tail (not even close(), which demotes the owner first). closed:
  /// marked closed (`item` untouched). Throws std::bad_alloc (item
  /// untouched) if a block cannot be allocated.
  status try_push_alone(T& item) {
    return push_boxed(
        item, [&](stored& value) { return push_alone(value); }, status::ok);
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
  /// empty (or, unless `exact`, its sender is still writing it); closed:
  /// marked closed and empty (drained).
  template <typename Sink>
  status try_pop(Sink&& sink, bool exact = true) {
    status st;
    block* b;
    std::uint64_t offset;
    // One item: compare head with the tail (acquire in a poll) rather than
    // read the head slot's flag, which would need the poll's two counts in
    // m_peekers around it, dearer than the tail's line for a single item.
    if (claim_upto_tail(1, b, offset, st, /*poll=*/!exact) == 0) return st;
    consume(b, offset, 1, sink);
    return status::ok;
  }

  /// Takes up to `max` items, appending them to `out` (whose capacity the
  /// caller has reserved): one claim per block the run spans. Returns how
  /// many; `st` says why it returned 0 (would_block or closed; as for
  /// try_pop).
  /// `whole_lines` (a poll only): a run that stops inside the cache line of
  /// slots a sender is still filling stops at that line's start instead, as
  /// the ring's (channel_ring::trim_to_whole_lines): may report would_block
  /// while items are ready.
  std::size_t try_pop_many(std::vector<T>& out, std::size_t max, status& st, bool exact = true,
                           bool whole_lines = false) {
    auto append = [&out](T&& v) { out.push_back(std::move(v)); };
    std::size_t total = 0;
    while (total < max) {
      block* b;
      std::uint64_t offset;
      const std::size_t n = claim(max - total, b, offset, st, exact, whole_lines);
      if (n == 0) break;
      consume(b, offset, n, append);
      total += n;
      // A run that stopped inside its block stopped at a slot not ready yet
      // (or at the tail): looking again now would only spin on it.
      if (offset + n != block_cap) break;
    }
    if (total) st = status::ok;
    return total;
  }

  /// Sets the closed mark; true for the call that set it.
  bool close() noexcept {
    const bool first = !(m_tail.fetch_or(mark, std::memory_order_seq_cst) & mark);
    // After the mark: a poll that sees the flag finds the mark in m_tail.
    m_closed.store(true, std::memory_order_release);
    return first;
  }
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
  // See boxed_item.hpp.
  static constexpr bool boxed = boxed_item<T>;
  using stored = stored_item<T>;

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
    alignas(64) slot slots[block_cap];  // from a line's start, for trim_to_whole_lines

    block* wait_next() const noexcept {
      ring_backoff backoff;
      for (;;) {
        if (block* n = next.load(std::memory_order_acquire)) return n;
        backoff.snooze();
      }
    }
  };

  // Blocks chained through `next`, last in first out; not thread-safe (the
  // pool and the spare list each guard theirs with a mutex). A popped block's
  // `next` is null, as a block being linked in needs it.
  struct block_stack {
    block* top = nullptr;
    std::size_t count = 0;
    void push(block* b) noexcept {
      b->next.store(top, std::memory_order_relaxed);
      top = b;
      ++count;
    }
    block* pop() noexcept {
      block* b = top;
      if (!b) return nullptr;
      top = b->next.load(std::memory_order_relaxed);
      --count;
      b->next.store(nullptr, std::memory_order_relaxed);
      return b;
    }
  };

  // Slots before position `pos` (positions at offset block_cap are not slots).
  static std::uint64_t items_before(std::uint64_t pos) noexcept {
    return pos / lap * block_cap + std::min(pos % lap, block_cap);
  }

  // Blocks the pool keeps for senders to link in (about 256 KiB, at least
  // two): a receiver retires blocks as fast as senders need new ones, and
  // a burst's blocks beyond this go back to the allocator.
  static constexpr std::size_t pool_limit = std::max<std::size_t>(2, (std::size_t{256} << 10) / sizeof(block));

  block* new_block() {
    {
      std::lock_guard lock(m_pool_mutex);
      if (block* b = m_pool.pop()) return b;
    }
    if (block* b = spare_blocks::get().take()) return b;
    return new block;
  }

  // Blocks no channel of this T holds, kept process-wide for the next
  // channel's senders; the blocks of every T together stay within
  // spare_list_block_budget (8 MiB). A backlog's blocks are fresh
  // memory, and a block freed to the allocator goes back to the kernel
  // when its heap is trimmed: a channel that surges after another one
  // ended (a pipeline per run), or a live one whose backlog outgrew its
  // own pool, then took a page fault per 4 KiB it grew by again (up to a third
  // of the unbounded 2x2 recv_batch row's time in one measured sitting).
  // Only blocks no poll can be looking at come here: a destroyed channel's,
  // and a pool's excess taken while m_peekers was 0 (see retire), so a
  // block here is never read through a stale pointer. The mutex publishes
  // a block's reset to the channel that takes it.
  class spare_blocks {
   public:
    static spare_blocks& get() {
      static spare_blocks* const spares = new spare_blocks;  // never destroyed: channels may outlive statics
      return *spares;
    }
    block* take() noexcept {
      if (!m_any.load(std::memory_order_relaxed)) return nullptr;  // no lock while there is none
      std::lock_guard lock(m_mutex);
      block* b = m_blocks.pop();
      if (b) spare_list_block_bytes.fetch_sub(sizeof(block), std::memory_order_relaxed);
      m_any.store(m_blocks.count != 0, std::memory_order_relaxed);
      return b;
    }
    // Keeps `b` (reset) if the budget allows; false: the caller frees it.
    bool keep(block* b) noexcept {
      if (spare_list_block_bytes.fetch_add(sizeof(block), std::memory_order_relaxed) + sizeof(block) >
          spare_list_block_budget) {
        spare_list_block_bytes.fetch_sub(sizeof(block), std::memory_order_relaxed);
        return false;
      }
      std::lock_guard lock(m_mutex);
      m_blocks.push(b);
      m_any.store(true, std::memory_order_relaxed);
      return true;
    }

   private:
    std::mutex m_mutex;
    block_stack m_blocks;            // guarded by m_mutex
    std::atomic<bool> m_any{false};  // m_blocks is not empty: written under the mutex, read before it as a hint
  };

  // A block no poll can be looking at (see spare_blocks): kept for another
  // channel, or freed. Any items left in it are already destroyed.
  static void release(block* b) noexcept {
    reset(b);
    if (!spare_blocks::get().keep(b)) delete b;
  }

  static void reset(block* b) noexcept {
    b->read.store(0, std::memory_order_relaxed);
    for (auto& s : b->slots) s.written.store(false, std::memory_order_relaxed);
  }

  // `b` is no longer reachable from m_head_block or m_tail_block: reset it
  // and keep it in the pool. A poll may still be reading a stale pointer to
  // it (loaded before head moved past it); that is harmless while the block
  // stays allocated, because its CAS on m_head then fails. So the pool's
  // excess is freed only when no poll is looking (`m_peekers` is 0), and
  // kept for a later retire otherwise. Why a zero count is enough: the
  // store that moved m_head_block past a pooled block is seq_cst and
  // precedes, through the seq_cst read counts, the seq_cst load here that
  // reads 0; a poll that counts itself in later (its increment comes after
  // that load in the single order of seq_cst operations) then loads
  // m_head_block (seq_cst) after that store, so never a pooled block. A
  // poll counted in before the load has left again by the time it reads 0
  // (its release decrement), so its reads happen before the delete.
  void retire(block* b) noexcept {
    reset(b);
    block_stack excess;
    {
      std::lock_guard lock(m_pool_mutex);
      m_pool.push(b);
      if (m_pool.count <= pool_limit) return;
      // Take the excess off, down to half the limit, to free in one go.
      while (m_pool.count > pool_limit / 2) excess.push(m_pool.pop());
    }
    if (m_peekers.load(std::memory_order_seq_cst) == 0) {
      while (block* e = excess.pop())
        if (!spare_blocks::get().keep(e)) delete e;  // reset when it was retired
      return;
    }
    std::lock_guard lock(m_pool_mutex);  // a poll is looking: keep them for now
    while (block* e = excess.pop()) m_pool.push(e);
  }

  // Asks for the slot line a few lines after `offset` in writable state
  // before the CAS. A slot line was last read by a receiver (or reset by
  // one, in a recycled block), so the first store to it must fetch it back
  // from that core (~100 ns here), and the CAS, a locked instruction, waits
  // for every store before it: without this the sender stalls once per line.
  static void prefetch_ahead(block* b, std::uint64_t offset) noexcept {
    constexpr std::uint64_t lines = 4;
    constexpr std::uint64_t ahead = lines * std::max<std::uint64_t>(1, 64 / sizeof(slot));
    if (offset + ahead < block_cap) __builtin_prefetch(&b->slots[offset + ahead], 1, 3);
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
      prefetch_ahead(b, offset);
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

  // The sole sender's claim: as push_stored, with plain stores of m_tail
  // (as the ring's push_alone). Nobody else writes m_tail meanwhile, so the
  // tail is never at a block's end position here: this sender moved it past
  // the end when it claimed the last slot. The tail is stored before the
  // slot's flag: a receiver that sees the flag (acquire) sees the tail past
  // the slot, and one that compares head with the tail first waits for the
  // flag, as for a sender between its CAS and its flag. An exact look that
  // reads a stale tail and would park is covered by the gate's
  // before_waiter_looks (a heavy barrier), as on the ring.
  status push_alone(stored& value) {
    const std::uint64_t tail = m_tail.load(std::memory_order_relaxed);
    if (tail & mark) return status::closed;  // not while owned: close() demotes first
    const std::uint64_t offset = (tail >> shift) % lap;
    assert(offset < block_cap && "the sole sender moved the tail past every block end it reached");
    block* b = m_tail_block.load(std::memory_order_relaxed);
    std::unique_ptr<block, spare_return> next_block{nullptr, spare_return{this}};
    const bool last = offset + 1 == block_cap;
    if (last) next_block.reset(new_block());  // before the claim, as in push_stored
    prefetch_ahead(b, offset);
    slot& s = b->slots[offset];
    if (last) {
      block* next = next_block.release();
      m_tail_block.store(next, std::memory_order_release);
      m_tail.store(tail + (std::uint64_t{2} << shift), std::memory_order_release);  // past the slot and the end
      b->next.store(next, std::memory_order_release);
    } else {
      m_tail.store(tail + (std::uint64_t{1} << shift), std::memory_order_release);
    }
    ::new (s.storage) stored(std::move(value));  // nothrow
    s.written.store(true, std::memory_order_release);
    return status::ok;
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
  // saying empty or closed and drained. A poll (`exact` false) claims only
  // written slots; see the file comment.
  std::size_t claim(std::size_t max, block*& b, std::uint64_t& offset, status& st, bool exact,
                    bool whole_lines = false) {
    if (!exact) {
      const std::size_t n = claim_written(max, b, offset, st, whole_lines);
      if (n != 0 || st != status::closed) return n;
      // Closed: the head slot may still belong to a sender that claimed it
      // before the mark and is writing it; the exact look tells.
    }
    return claim_upto_tail(max, b, offset, st);
  }

  // A poll: claims the run of written slots from head (at most `max`, in the
  // head block) without reading m_tail. 0 with would_block when the head slot
  // is not written, or with closed when the list is marked
  // closed (the caller then makes the exact look). `whole_lines`: see
  // try_pop_many and trim_to_whole_lines.
  std::size_t claim_written(std::size_t max, block*& b, std::uint64_t& offset, status& st, bool whole_lines) {
    // Counted in before the head block is loaded and out after the CAS: until
    // then `b` may be a block that receivers have since retired (see retire).
    struct peeking {
      std::atomic<std::uint64_t>& count;
      explicit peeking(std::atomic<std::uint64_t>& c) noexcept : count(c) {
        count.fetch_add(1, std::memory_order_seq_cst);
      }
      ~peeking() { count.fetch_sub(1, std::memory_order_release); }
      peeking(const peeking&) = delete;
      peeking& operator=(const peeking&) = delete;
    } guard{m_peekers};
    ring_backoff backoff;
    std::uint64_t head = m_head.load(std::memory_order_acquire);
    b = m_head_block.load(std::memory_order_seq_cst);
    for (;;) {
      offset = (head >> shift) % lap;
      if (offset != block_cap) {
        // Each flag is set once per use of the block, by the sender holding
        // that position, and read here only while `b` is still the head
        // block (else the CAS below fails): a set flag means an item that is
        // published, not merely claimed.
        const std::uint64_t limit = std::min<std::uint64_t>(max, block_cap - offset);
        std::uint64_t n = 0;
        while (n < limit && b->slots[offset + n].written.load(std::memory_order_acquire)) ++n;
        if (whole_lines && n < limit && !m_closed.load(std::memory_order_relaxed)) {
          n = trim_to_whole_lines(b, offset + n, n);
          if (n == 0) {
            st = status::would_block;
            return 0;
          }
        }
        if (n != 0) {
          const std::uint64_t new_head = head + (n << shift);  // keeps the later-block mark
          if (m_head.compare_exchange_weak(head, new_head, std::memory_order_seq_cst, std::memory_order_acquire)) {
            if (offset + n == block_cap) move_to_next_block(b, new_head);
            return static_cast<std::size_t>(n);
          }
          b = m_head_block.load(std::memory_order_seq_cst);
          backoff.spin();
          continue;
        }
        // The head slot is empty, or its sender is mid-write. Report that at
        // once: spinning on the slot would pull the line its sender is
        // writing to this core again and again (the caller backs off before
        // it looks again). The closed flag is written once, so reading it
        // costs no line transfer per poll.
        st = m_closed.load(std::memory_order_acquire) ? status::closed : status::would_block;
        return 0;
      } else {
        backoff.snooze();  // the receiver of the last slot is moving to the next block
      }
      head = m_head.load(std::memory_order_acquire);
      b = m_head_block.load(std::memory_order_seq_cst);
    }
  }

  // A receiver that takes the written slots of a line its sender is still
  // filling reads that line on every poll: it goes to the receiver's core,
  // the sender's next store to it must fetch it back, and the sender's next
  // CAS (a locked instruction waits for earlier stores) stalls for that.
  // Chasing the sender item by item so cost both sides a line transfer per
  // poll. So a polling batch receiver cuts a run that stops at the unwritten
  // slot `end` back to the start of end's line, and takes the rest once
  // the line is full (or on a later, plain look). Returns the new `n`.
  static std::uint64_t trim_to_whole_lines(block* b, std::uint64_t end, std::uint64_t n) noexcept {
    constexpr std::size_t line = 64;
    if constexpr (line % sizeof(slot) != 0) {
      return n;
    } else {
      const auto address = reinterpret_cast<std::uintptr_t>(&b->slots[end]);
      const std::uint64_t in_line = address % line / sizeof(slot);
      return n - std::min(in_line, n);
    }
  }

  // An exact look: claims up to `max` positions below m_tail in the head
  // block. The tail is read with a seq_cst load, not a fence: what must hold
  // is that a receiver about to park (it incremented the channel's waiting
  // count with a seq_cst RMW, then looks here) either sees a sender's claim
  // or that sender sees the waiting count. The sender's CAS on m_tail and its
  // load of the count are seq_cst too; if our load does not see the CAS, it
  // precedes the CAS in the single order S of seq_cst operations, so the
  // increment precedes the sender's load in S and that load sees it.
  // A poll (`poll`, used for single items: see try_pop) may read the tail
  // with acquire only: its outcome is items, would_block (after which the
  // caller looks exactly before it parks) or closed (mark set and head ==
  // tail, final whatever the order), and none of these decides a park.
  std::size_t claim_upto_tail(std::size_t max, block*& b, std::uint64_t& offset, status& st, bool poll = false) {
    ring_backoff backoff;
    std::uint64_t head = m_head.load(std::memory_order_acquire);
    b = m_head_block.load(std::memory_order_seq_cst);
    for (;;) {
      offset = (head >> shift) % lap;
      if (offset == block_cap) {  // the receiver of the last slot is moving to the next block
        backoff.snooze();
        head = m_head.load(std::memory_order_acquire);
        b = m_head_block.load(std::memory_order_seq_cst);
        continue;
      }
      std::uint64_t n = std::min<std::uint64_t>(max, block_cap - offset);
      std::uint64_t new_head = head;
      if (!(head & mark)) {
        // The tail may be in this block: only positions below it are claimed.
        const std::uint64_t tail = m_tail.load(poll ? std::memory_order_acquire : std::memory_order_seq_cst);
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
        if (offset + n == block_cap) move_to_next_block(b, new_head);
        return static_cast<std::size_t>(n);
      }
      b = m_head_block.load(std::memory_order_seq_cst);
      backoff.spin();
    }
  }

  // The receiver that claimed the last slot of `b` (m_head now at its end
  // position, on which other receivers wait) makes the next block the head
  // block. `b` cannot be retired meanwhile: its last slot is not read yet.
  void move_to_next_block(block* b, std::uint64_t end_head) noexcept {
    block* next = b->wait_next();
    std::uint64_t next_index = (end_head & ~mark) + (std::uint64_t{1} << shift);
    if (next->next.load(std::memory_order_relaxed)) next_index |= mark;
    m_head_block.store(next, std::memory_order_seq_cst);  // seq_cst: see retire
    m_head.store(next_index, std::memory_order_release);
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
        // seq_cst: orders the move of m_head_block past `b` before retire's
        // look at m_peekers (see retire).
        if (b->read.fetch_add(n, std::memory_order_seq_cst) + n == block_cap) list->retire(b);
      }
    } done{this, b, offset, offset + n, n};
    while (done.at != done.end) {
      slot& s = wait_written(b->slots[done.at++]);
      struct destroy {
        stored* v;
        ~destroy() { v->~stored(); }
      } item{s.value()};
      sink(std::move(unboxed<T>(*item.v)));
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
  std::atomic<std::uint64_t> m_peekers{0};  // polls between loading the head block and their CAS
  std::atomic<bool> m_closed{false};        // set once, after the mark: read by every empty poll
  alignas(64) std::atomic<std::uint64_t> m_tail{0};
  std::atomic<block*> m_tail_block{nullptr};
  alignas(64) std::mutex m_pool_mutex;  // guards m_pool
  block_stack m_pool;                   // retired blocks
};

}  // namespace sluice::detail
