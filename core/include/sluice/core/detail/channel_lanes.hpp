// The storage of an unbounded sluice::channel: one channel_list (a lane), or,
// for a channel made with channel_order::per_sender, several lanes with each
// sender handle bound to one of them.
//
// Why lanes: one list orders every send by one shared tail, so two senders
// sending at once move the tail's cache line between their cores about once
// per item (docs/architecture.md, "What is left of the unbounded 2x2
// recv_batch gap"). That is the price of the default channel's promise,
// FIFO in the order sends take effect. A channel that promises only
// per-sender order (moodycamel's, and what a fan-in usually needs) gives
// each sender handle a tail of its own: handles are dealt out to the lanes
// in turn, so up to `lane_count()` handles never share a tail line.
//
// Each lane is a whole channel_list with its own closed mark, so everything
// the list guarantees holds per lane, and the lanes add only this:
//   * close() marks every lane, lane 0 first and the last lane last, and
//     closed() reads the last lane's mark: once it reads true every lane is
//     marked, so "closed and empty" (channel_state::drained) stays final.
//     A send either claims in its lane before that lane's mark (its item
//     will be received) or fails.
//   * A receive looks at the lanes in turn, from a per-thread starting lane
//     that moves on after each batch (and after a run of single items), so
//     no lane waits behind another one that never runs dry. It reports
//     closed only when every lane reported closed and drained in this look
//     (final per lane, so final for all), would_block otherwise.
//   * A receiver about to park looks at every lane exactly (seq_cst loads of
//     each tail) after counting itself as waiting: the argument of
//     channel_state's file comment holds per lane, so a send to any lane
//     either is seen by that look or sees the waiter.
// With one lane (the default order) every call goes straight to it.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/core/detail/channel_list.hpp"

namespace sluice::detail {

template <typename T>
class channel_lanes {
 public:
  using status = typename channel_list<T>::status;

  /// `lanes` >= 1.
  explicit channel_lanes(std::uint32_t lanes)
      : m_count(lanes), m_more(lanes > 1 ? std::make_unique<channel_list<T>[]>(lanes - 1) : nullptr) {}

  [[nodiscard]] std::uint32_t lane_count() const noexcept { return m_count; }

  // ---- sends: into the sender's lane (see channel_list) ---------------------------
  // `sender_lane` < lane_count(): channel_state::add_sender deals them out.

  status try_push(T& item, std::uint32_t sender_lane) { return lane(sender_lane).try_push(item); }
  status try_push_alone(T& item, std::uint32_t sender_lane) { return lane(sender_lane).try_push_alone(item); }
  std::size_t try_push_many(T* items, std::size_t n, status& st, std::uint32_t sender_lane) {
    return lane(sender_lane).try_push_many(items, n, st);
  }

  // ---- receives: any lane, each in turn -------------------------------------------

  template <typename Sink>
  status try_pop(Sink&& sink, bool exact = true) {
    if (m_count == 1) return m_first.try_pop(sink, exact);
    status st;
    take_in_turn(1, st, /*single=*/true, [&](channel_list<T>& l, std::size_t, status& lane_st) -> std::size_t {
      lane_st = l.try_pop(sink, exact);
      return lane_st == status::ok;
    });
    return st;
  }

  std::size_t try_pop_many(std::vector<T>& out, std::size_t max, status& st, bool exact = true,
                           bool whole_lines = false) {
    if (m_count == 1) return m_first.try_pop_many(out, max, st, exact, whole_lines);
    return take_in_turn(max, st, /*single=*/false, [&](channel_list<T>& l, std::size_t want, status& lane_st) {
      return l.try_pop_many(out, want, lane_st, exact, whole_lines);
    });
  }

  // ---- close and snapshots --------------------------------------------------------

  /// Marks every lane (also when another close() got there first, so that
  /// every lane is marked when this returns); true for the call that marked
  /// lane 0.
  bool close() noexcept {
    const bool first = m_first.close();
    for (std::uint32_t i = 1; i < m_count; ++i) lane(i).close();
    return first;
  }
  /// True once every lane is marked (see the file comment).
  [[nodiscard]] bool closed() const noexcept { return lane(m_count - 1).closed(); }

  /// Items in all lanes, counting positions claimed by senders still writing them (a snapshot).
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < m_count; ++i) n += lane(i).size();
    return n;
  }

 private:
  // Where this thread's next receive starts looking. A hint shared by every
  // channel the thread receives from: any start is correct, it only spreads
  // receives over the lanes. After a batch the next look starts at the lane
  // after the one the batch ended in; single items stay on their lane for a
  // run of `single_run` (a poll per lane per item would cost more than the
  // item), then move on.
  struct cursor_state {
    static constexpr std::uint32_t single_run = 64;
    std::uint32_t lane = 0;
    std::uint32_t run = 0;
    void took_batch(std::uint32_t k, std::uint32_t count) noexcept {
      lane = (k + 1) % count;
      run = 0;
    }
    void took_single(std::uint32_t k, std::uint32_t count) noexcept {
      if (k != lane) {
        lane = k;
        run = 1;
      } else if (++run >= single_run) {
        lane = (k + 1) % count;
        run = 0;
      }
    }
  };
  static cursor_state& receive_cursor() noexcept {
    static thread_local cursor_state cursor;
    return cursor;
  }

  // Takes up to `max` items with `take(lane, want, lane_status) -> taken`
  // from the lanes in turn, from this thread's cursor on, and moves the
  // cursor on (`single`: one item, see cursor_state). `st`: ok if anything
  // was taken, else closed only if every lane said closed (and drained).
  template <typename Take>
  std::size_t take_in_turn(std::size_t max, status& st, bool single, Take&& take) {
    auto& cursor = receive_cursor();
    std::uint32_t k = cursor.lane % m_count;  // the cursor is shared with channels of other lane counts
    std::uint32_t last = k;
    bool all_closed = true;
    std::size_t total = 0;
    for (std::uint32_t looked = 0; looked < m_count && total < max; ++looked, k = k + 1 == m_count ? 0 : k + 1) {
      status lane_st = status::would_block;
      if (const std::size_t got = take(lane(k), max - total, lane_st)) {
        total += got;
        last = k;
      } else if (lane_st != status::closed) {
        all_closed = false;
      }
    }
    if (total == 0) {
      st = all_closed ? status::closed : status::would_block;
    } else {
      st = status::ok;
      if (single) {
        cursor.took_single(last, m_count);
      } else {
        cursor.took_batch(last, m_count);
      }
    }
    return total;
  }

  // Lane 0 lives here, so a one-lane channel's calls reach its list without
  // a pointer in between.
  channel_list<T>& lane(std::uint32_t k) noexcept {
    assert(k < m_count);
    return k == 0 ? m_first : m_more[k - 1];
  }
  const channel_list<T>& lane(std::uint32_t k) const noexcept { return k == 0 ? m_first : m_more[k - 1]; }

  std::uint32_t m_count;
  channel_list<T> m_first;
  std::unique_ptr<channel_list<T>[]> m_more;  // lanes 1 .. m_count-1
};

}  // namespace sluice::detail
