// The untyped half of stage_io (stage_channels), compiled once here instead
// of per pair of item types in every program (docs/architecture.md, "Header
// cost"). Nothing here holds or awaits a task, so it does not depend on the
// task protocol a program is compiled with (core/task.hpp).
#include "sluice/stages/detail/stage_io.hpp"

#include <algorithm>

namespace sluice::detail {

outlet_parts::outlet_parts() = default;
outlet_parts::outlet_parts(channel_sender<chunk_record> sender, std::size_t workers)
    : tx(std::move(sender)), spread(workers) {}
outlet_parts::outlet_parts(inlet_ptr inlet) : fused(std::move(inlet)) {}
outlet_parts::outlet_parts(inlet_list copies, lanes_starter start) : lanes(std::move(copies)), start_lanes(start) {}
outlet_parts::outlet_parts(const outlet_parts& other) = default;
outlet_parts::outlet_parts(outlet_parts&& other) noexcept = default;
outlet_parts& outlet_parts::operator=(const outlet_parts& other) = default;
outlet_parts& outlet_parts::operator=(outlet_parts&& other) noexcept = default;
outlet_parts::~outlet_parts() = default;

stage_channels::stage_channels(stage_channels&& other) noexcept = default;
stage_channels::~stage_channels() = default;

stage_channels::stage_channels(pipeline_state& state, std::size_t index, channel_receiver<chunk_record>&& in,
                               outlet_parts&& out, bool upstream_ordered, bool holds_back)
    : stage_context(state, index),
      m_in(std::move(in)),
      m_out(std::move(out.tx)),
      m_fused(std::move(out.fused)),
      m_holds_back(holds_back),
      m_reorder(upstream_ordered) {
  const std::size_t self = this->index();  // offset inside a topology's sub-flow
  if (out.lanes.size() == 1) m_fused = std::move(out.lanes.front());
  if (out.lanes.size() > 1) {
    // Copies of the next stage in lanes (fused_lanes.hpp): a plain send
    // into their channel; the lanes' own sends take the memory bounds.
    m_lanes = std::move(out.lanes);
    m_out = out.start_lanes(state, m_lanes);
  } else if (!m_fused) {
    m_out_queue = state.consumer_queue(self);
  }
  if (state.bounds().active()) {
    m_bounds = &state.bounds();
    m_in_gate = m_bounds->inputs[self].get();
    const auto& next = state.consumers(self);
    if (!m_fused && m_lanes.empty() && next.size() == 1) m_out_gate = m_bounds->inputs[next.front()].get();
  }
  if (m_holds_back) pass_hold_back();
}

void stage_channels::hold_back() {
  m_holds_back = true;
  pass_hold_back();
}

// The stages after this one run in its coroutine, or (lanes) take over
// its place before the limits in flight.
void stage_channels::pass_hold_back() {
  if (m_fused) m_fused->runs_in_source();
  for (auto& lane : m_lanes) lane->runs_in_source();
}

void stage_channels::close_output() {
  if (m_out.valid()) m_out.close();
  if (m_fused) std::exchange(m_fused, nullptr)->finish();
}

bool stage_channels::poll(delivery& out) {
  for (;;) {
    if (!m_pending.empty() && m_pending.front_seq() <= m_next_in) {
      take_pending(out);
      return true;
    }
    auto c = m_in.try_recv();
    if (!c) return false;
    left_channel(*c);
    if (!m_reorder || c->seq <= m_next_in) {
      deliver(std::move(*c), out);
      return true;
    }
    hold(std::move(*c));
  }
}

bool stage_channels::take_received(std::optional<chunk_record>&& c, delivery& out) {
  if (!c) return end_of_stream(out);
  left_channel(*c);
  accept(std::move(*c), out);
  return true;
}

// A chunk that came from waiting: delivers it, or holds it and delivers the
// one it overtook. The upstream stage sends from one coroutine, so every chunk earlier than
// `c` was published before it: it is in the channel now, unless its send
// failed when the run was cancelled (a gap, skipped).
void stage_channels::accept(chunk_record&& c, delivery& out) {
  if (!m_reorder || c.seq <= m_next_in) {
    deliver(std::move(c), out);
    return;
  }
  hold(std::move(c));
  if (!poll(out)) take_pending(out);
}

// End of the input channel: a held chunk if any is left, else false.
bool stage_channels::end_of_stream(delivery& out) {
  if (m_pending.empty()) return false;
  take_pending(out);
  return true;
}

// A chunk came out of the input channel: gives its room back.
void stage_channels::left_channel(const chunk_record& c) noexcept {
  if (!m_bounds) return;
  if (m_in_gate) m_in_gate->release(c.bytes);
  if (m_bounds->flight_items) m_bounds->flight_items->release(c.item_count());
  if (m_bounds->flight_bytes) m_bounds->flight_bytes->release(c.bytes);
}

void stage_channels::deliver(chunk_record&& c, delivery& out) noexcept {
  if (m_reorder && c.seq == m_next_in) ++m_next_in;
  out.chunk = std::move(c);
  received(out);
}

void stage_channels::hold(chunk_record&& c) {
  m_pending.reserve_one();
  const std::uint64_t seq = c.seq;
  m_pending.hold(seq, new chunk_record(std::move(c)),
                 [](void* held) noexcept { delete static_cast<chunk_record*>(held); });
}

void stage_channels::take_pending(delivery& out) noexcept {
  std::uint64_t seq = 0;
  auto* held = static_cast<chunk_record*>(m_pending.take_front(seq));
  out.chunk = std::move(*held);
  delete held;
  m_next_in = std::max(m_next_in, seq + 1);
  received(out);
}

void stage_channels::received(delivery& out) noexcept {
  const std::size_t n = out.chunk.item_count();
  stats().input.sub(n);
  out.first_index = static_cast<std::size_t>(stats().items_in.fetch_add(n, std::memory_order_relaxed));
}

void stage_channels::sent(bool ok, std::size_t items, std::size_t inputs) noexcept {
  if (!ok) {
    drop(inputs);
    return;
  }
  if (m_out_queue) m_out_queue->add(items);
  stage_stats::bump(stats().emitted, items);
  completed(inputs);
}

}  // namespace sluice::detail
