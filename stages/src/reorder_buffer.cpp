#include "sluice/stages/detail/reorder_buffer.hpp"

#include <algorithm>

namespace sluice::detail {

reorder_buffer::~reorder_buffer() {
  for (const entry& e : m_entries) e.destroy(e.items);
}

void reorder_buffer::reserve_one() {
  if (m_entries.size() == m_entries.capacity()) m_entries.reserve(std::max<std::size_t>(4, 2 * m_entries.size()));
}

void reorder_buffer::hold(std::uint64_t seq, void* items, destroy_fn destroy) noexcept {
  // After an equal seq: a gap filler never repeats a seq, but keep FIFO order anyway.
  const auto at = std::upper_bound(m_entries.begin(), m_entries.end(), seq,
                                   [](std::uint64_t s, const entry& e) { return s < e.seq; });
  m_entries.insert(at, entry{seq, items, destroy});  // capacity reserved: does not throw
}

void* reorder_buffer::take_front(std::uint64_t& seq) noexcept {
  const entry first = m_entries.front();
  m_entries.erase(m_entries.begin());
  seq = first.seq;
  return first.items;
}

}  // namespace sluice::detail
