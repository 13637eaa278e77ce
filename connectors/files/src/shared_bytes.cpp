#include <new>
#include <utility>

#include "block_pool.hpp"
#include "sluice/files/line.hpp"

namespace sluice::files {

shared_bytes shared_bytes::allocate(std::size_t capacity) {
  void* raw = ::operator new(sizeof(storage) + capacity);
  auto* s = new (raw) storage{{1}, capacity, nullptr};
  return shared_bytes(s);
}

void shared_bytes::destroy(storage* s) noexcept {
  if (s->pool) {
    s->pool->give_back(s);
    return;
  }
  s->~storage();
  ::operator delete(static_cast<void*>(s));
}

namespace detail {

shared_bytes block_pool::take() {
  {
    std::lock_guard lock(m_mutex);
    ++m_out;
    if (!m_idle.empty()) {
      shared_bytes::storage* s = m_idle.back();
      m_idle.pop_back();
      s->refs.store(1, std::memory_order_relaxed);
      return shared_bytes(s);
    }
  }
  try {
    shared_bytes fresh = shared_bytes::allocate(m_block);
    fresh.m_storage->pool = this;
    return fresh;
  } catch (...) {
    std::lock_guard lock(m_mutex);
    --m_out;
    throw;
  }
}

void block_pool::close() noexcept {
  std::vector<shared_bytes::storage*> idle;
  bool last = false;
  {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    idle.swap(m_idle);
    last = m_out == 0;
  }
  for (auto* s : idle) free_storage(s);
  if (last) delete this;
}

void block_pool::give_back(shared_bytes::storage* s) noexcept {
  bool last = false;
  {
    std::lock_guard lock(m_mutex);
    --m_out;
    if (!m_closed && m_idle.size() < m_keep) {
      m_idle.push_back(s);
      return;
    }
    last = m_closed && m_out == 0;
  }
  free_storage(s);
  if (last) delete this;
}

void block_pool::free_storage(shared_bytes::storage* s) noexcept {
  s->pool = nullptr;  // not back to this pool again: shared_bytes::destroy frees it
  shared_bytes::destroy(s);
}

}  // namespace detail
}  // namespace sluice::files
