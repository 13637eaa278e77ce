#include "sluice/stages/detail/pipeline_state.hpp"

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <string>
#include <utility>

#include "run_join.hpp"
#include "sluice/core/channel.hpp"
#include "sluice/core/wait_note.hpp"
#include "sluice/stages/detail/chunk.hpp"
#include "sluice/stages/pipeline_error.hpp"

namespace sluice::detail {

pipeline_state::pipeline_state(runtime& rt, std::vector<stage_info> stages)
    : m_runtime(rt),
      m_stages(std::move(stages)),
      m_stats(std::make_unique<stage_stats[]>(m_stages.size())),
      m_consumers(m_stages.size()),
      m_on_stop(m_stop.get_token(), closers_on_stop{this}) {
  for (std::size_t i = 0; i < m_stages.size(); ++i)
    for (auto from : stage_inputs(m_stages, i))
      if (from < m_stages.size()) m_consumers[from].push_back(i);
  m_bounds.inputs.resize(m_stages.size());
  std::vector<std::size_t> limits(m_stages.size());
  for (std::size_t i = 0; i < m_stages.size(); ++i) limits[i] = m_stages[i].capacity_bytes;
  for (std::size_t i = 0; i < m_stages.size(); ++i)
    if (m_stages[i].output_bytes) bound_output(i, m_stages[i].output_bytes, limits);
  bool any = false;
  for (std::size_t i = 0; i < m_stages.size(); ++i) {
    if (limits[i] == 0) continue;
    m_bounds.inputs[i] = std::make_unique<byte_gate>(limits[i]);
    any = true;
  }
  if (any) on_cancel([this] { m_bounds.close(); });
}

void pipeline_state::bound_output(std::size_t stage, std::size_t bytes, std::vector<std::size_t>& limits) const {
  // A fused consumer has no channel: the bound moves on to the stage it sends into.
  std::vector<std::size_t> todo = m_consumers[stage];
  while (!todo.empty()) {
    const std::size_t c = todo.back();
    todo.pop_back();
    if (m_stages[c].fused) {
      todo.insert(todo.end(), m_consumers[c].begin(), m_consumers[c].end());
      continue;
    }
    limits[c] = limits[c] ? std::min(limits[c], bytes) : bytes;
  }
}

void pipeline_state::limit_in_flight(std::size_t items, std::size_t bytes) {
  const bool had = m_bounds.active();
  if (items) m_bounds.flight_items = std::make_unique<byte_gate>(items);
  if (bytes) m_bounds.flight_bytes = std::make_unique<byte_gate>(bytes);
  if (!had && m_bounds.active()) on_cancel([this] { m_bounds.close(); });
}

std::vector<stage_info> first_stage(stage_info&& info) {
  std::vector<stage_info> stages;
  stages.push_back(std::move(info));
  return stages;
}

void append_stage(std::vector<stage_info>& stages, stage_info&& info) { stages.push_back(std::move(info)); }

std::vector<std::size_t> stage_inputs(const std::vector<stage_info>& stages, std::size_t i) {
  if (stages[i].inputs) return *stages[i].inputs;
  if (i == 0) return {};
  return {i - 1};
}

void pipeline_state::run_closers() {
  m_stopped.store(true, std::memory_order_relaxed);  // before any channel closes (see stopped())
  std::vector<shared_fn<void()>> closers;
  {
    std::lock_guard lock(m_mutex);
    if (m_cancelled) return;
    m_cancelled = true;
    closers.swap(m_closers);
  }
  // Outside the lock: closing may resume a waiter inline (one that suspended
  // outside any runtime), and that code may call back into this state.
  for (auto& close : closers) close();
}

void pipeline_state::cancel_by_user() {
  m_user_cancelled.store(true, std::memory_order_relaxed);
  cancel();
}

void pipeline_state::fail(std::size_t stage, std::size_t item_index, std::exception_ptr error) {
  {
    std::lock_guard lock(m_mutex);
    if (!m_error) {
      m_error = std::move(error);
      m_error_stage = stage;
      m_error_item = item_index;
    }
  }
  cancel();
}

void pipeline_state::close_on_cancel(const channel_receiver<chunk_record>& rx) {
  on_cancel([rx] { rx.close(); });
}

void pipeline_state::on_cancel(shared_fn<void()> close) {
  {
    std::lock_guard lock(m_mutex);
    if (!m_cancelled) {
      m_closers.push_back(std::move(close));
      return;
    }
  }
  close();
}

void pipeline_state::keep(join_handle<void> stage) { m_stage_tasks.push_back(std::move(stage)); }

task<void> pipeline_state::join() {
  // The oneshot waits below are marked as the run's own (run_join.hpp), so
  // a stall dump leaves them out. `self` lives in this frame while they last.
  const wait_owner self{this, k_run_join_stage, "run", 0, std::chrono::steady_clock::now()};
  // A run inside an async stage's item keeps that item as the owner
  // (keep_inherited): its wait stays listed under the item.
  own_waits_awaiter own{&self, true};
  co_await own;
  // Stage coroutines never throw (they report through fail()), so awaiting
  // them one after the other cannot leave a later one running unawaited.
  for (auto& stage : m_stage_tasks) co_await stage;
}

pipeline_report pipeline_state::make_report(std::chrono::nanoseconds elapsed) const {
  pipeline_report report;
  report.elapsed = elapsed;
  report.cancelled = m_user_cancelled.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < m_stages.size(); ++i) {
    const auto& s = m_stats[i];
    stage_report r;
    r.name = m_stages[i].name;
    r.kind = m_stages[i].kind;
    r.branch = m_stages[i].branch;
    r.inputs = stage_inputs(m_stages, i);
    s.copy_counters(r);
    r.busy_time = std::chrono::nanoseconds(s.busy_ns.load(std::memory_order_relaxed) /
                                           std::max<std::uint32_t>(1, s.busy_share.load(std::memory_order_relaxed)));
    r.latency = s.latency.summary();
    r.item_latency = s.item_latency.summary();
    r.queue_capacity = m_stages[i].capacity;
    r.peak_queue_depth = static_cast<std::size_t>(std::max<std::int64_t>(0, s.input.peak.load()));
    if (auto n = s.input.samples.load(std::memory_order_relaxed)) {
      r.input_full_ratio = static_cast<double>(s.input.full.load()) / static_cast<double>(n);
      r.input_empty_ratio = static_cast<double>(s.input.empty.load()) / static_cast<double>(n);
    }
    report.stages.push_back(std::move(r));
  }
  return report;
}

void pipeline_state::rethrow_if_failed(const pipeline_report& report) const {
  if (!m_error) return;
  auto shared = std::make_shared<const pipeline_report>(report);
  const auto& name = m_stages[m_error_stage].name;
  std::string what = "sluice pipeline failed in stage '" + name + "' (#" + std::to_string(m_error_stage) + ")";
  if (!m_stages[m_error_stage].branch.empty()) what += " of " + m_stages[m_error_stage].branch;
  if (m_error_item != pipeline_error::no_item) what += " on item " + std::to_string(m_error_item);
  try {
    std::rethrow_exception(m_error);
  } catch (const std::exception& e) {
    throw pipeline_error(name, m_error_stage, m_error_item, what + ": " + e.what(), shared);
  } catch (...) {
    throw pipeline_error(name, m_error_stage, m_error_item, what + ": unknown exception", shared);
  }
}

}  // namespace sluice::detail
