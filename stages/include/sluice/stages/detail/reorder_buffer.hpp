// The chunks a stage received ahead of an earlier one (see stage_io's
// reorder), by sequence number. Untyped, so its code is compiled once in the
// library rather than per item type: each entry holds its items behind a
// pointer, with the function that deletes them. Chunks overtake each other
// only when a sender moved threads between two sends, so the buffer holds a
// few at most and an allocation per held chunk costs nothing measurable.
// Thread-safety: none (one stage coroutine owns it).
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::detail {

class reorder_buffer {
 public:
  using destroy_fn = void (*)(void*) noexcept;

  reorder_buffer() = default;
  reorder_buffer(reorder_buffer&& other) noexcept = default;
  reorder_buffer& operator=(reorder_buffer&&) = delete;
  reorder_buffer(const reorder_buffer&) = delete;
  reorder_buffer& operator=(const reorder_buffer&) = delete;
  ~reorder_buffer();  // deletes what is still held

  [[nodiscard]] bool empty() const noexcept { return m_entries.empty(); }
  /// The lowest sequence number held; only when !empty().
  [[nodiscard]] std::uint64_t front_seq() const noexcept { return m_entries.front().seq; }

  /// Room for one more entry, so the hold() after it cannot fail.
  void reserve_one();
  /// Takes ownership of `items` (deleted by `destroy` unless taken back).
  void hold(std::uint64_t seq, void* items, destroy_fn destroy) noexcept;
  /// Removes the entry with the lowest sequence number; returns its items
  /// (the caller owns them now) and sets `seq`. Only when !empty().
  void* take_front(std::uint64_t& seq) noexcept;

 private:
  struct entry {
    std::uint64_t seq;
    void* items;
    destroy_fn destroy;
  };
  std::vector<entry> m_entries;  // sorted by seq
};

}  // namespace sluice::detail
