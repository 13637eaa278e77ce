// byte_gate's members (detail/byte_gate.hpp): the same for every program,
// so compiled once here rather than in each program that includes the DSL.
#include "sluice/stages/detail/byte_gate.hpp"

#include <algorithm>
#include <vector>

namespace sluice::detail {

byte_gate::~byte_gate() = default;

bool byte_gate::acquire_awaiter::await_ready() {
  std::lock_guard lock(m_gate->m_mutex);
  return m_gate->try_admit(m_waiter);
}

bool byte_gate::acquire_awaiter::await_suspend(std::coroutine_handle<> h) {
  m_waiter.coroutine = suspended_coroutine::here(h);
  std::lock_guard lock(m_gate->m_mutex);
  if (m_gate->try_admit(m_waiter)) return false;
  m_gate->m_waiters.push_back(&m_waiter);
  return true;
}

void byte_gate::add(std::size_t n) {
  std::lock_guard lock(m_mutex);
  m_used += n;
}

void byte_gate::release(std::size_t n) {
  std::vector<waiter*> wake;
  {
    std::lock_guard lock(m_mutex);
    m_used -= std::min(n, m_used);
    while (!m_waiters.empty() && fits(m_waiters.front()->size)) {
      waiter* w = m_waiters.front();
      m_waiters.pop_front();
      m_used += w->size;
      w->admitted = true;
      wake.push_back(w);
    }
  }
  for (waiter* w : wake) w->coroutine.resume();
}

void byte_gate::close() {
  std::deque<waiter*> wake;
  {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    wake.swap(m_waiters);
  }
  for (waiter* w : wake) w->coroutine.resume();
}

std::size_t byte_gate::used() const {
  std::lock_guard lock(m_mutex);
  return m_used;
}

// Under the mutex. FIFO: nobody overtakes a waiter.
bool byte_gate::try_admit(waiter& w) {
  if (m_closed) return true;  // admitted stays false
  if (!m_waiters.empty() || !fits(w.size)) return false;
  m_used += w.size;
  w.admitted = true;
  return true;
}

}  // namespace sluice::detail
