// The cancellable sleep's type-independent code (see sleep.hpp): compiled
// once here rather than in every program that includes the header.
#include "sluice/core/sleep.hpp"

namespace sluice::detail {

cancellable_sleep_awaiter::~cancellable_sleep_awaiter() = default;

bool cancellable_sleep_awaiter::suspend(suspended_coroutine waiter, const wait_owner* owner) {
  runtime& rt = runtime_for_timer();
  if (waits_watched()) m_note = wait_note(wait_kind::timer, "sleep", m_deadline, owner);
  m_state = std::make_shared<cancellable_sleep_state>();
  m_state->m_waiter = waiter;
  m_state->m_runtime = &rt;
  m_state->m_timer = rt.io().add_timer(m_deadline, [s = m_state] { s->fire(false); });
  m_on_stop.emplace(m_token, stop_handler{m_state});
  // Our release: if an event already fired, continue without suspending.
  return m_state->m_pending.fetch_sub(1, std::memory_order_acq_rel) != 1;
}

bool cancellable_sleep_awaiter::await_resume() {
  m_on_stop.reset();  // waits for a stop callback running on another thread
  if (!m_state) return !m_token.stop_requested();
  return !m_state->m_stopped;
}

}  // namespace sluice::detail
