// What a running stage is doing right now, for the stall watchdog and the
// trace: how many of its coroutines wait on a full output or an empty input
// channel, how many async items it has in flight, and which arena thread is
// running which stage (in the thread's slot: core's detail/thread_activity.hpp).
// Kept beside the report's counters (stage_stats).
//
// Cost: a wait is counted only when a coroutine actually suspends on a
// channel (the slow path); a synchronous section (a chunk through a stage's
// function) stores its stage in the thread's slot on entry and restores it
// on exit, two relaxed stores. Trace points cost one relaxed load while no
// trace_session is active.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/detail/thread_activity.hpp"
#include "sluice/core/trace.hpp"

namespace sluice::detail {

class pipeline_state;

/// Live activity counters of one stage.
struct stage_activity {
  std::atomic<std::int32_t> blocked_send{0};  // coroutines waiting for room in the output channel
  std::atomic<std::int32_t> blocked_recv{0};  // coroutines waiting for input
  std::atomic<std::int32_t> in_flight{0};     // async items started and not finished
  std::atomic<std::int32_t> in_generator{0};  // a generator source awaiting its generator's next item
};

/// Counts a wait that is not on a channel (a generator source awaiting its
/// generator's next item) in `counter` for as long as it lasts: until
/// end(), or until the scope is left (an exception thrown by the awaited
/// code). Lives in the coroutine frame across the co_await.
class counted_wait {
 public:
  explicit counted_wait(std::atomic<std::int32_t>& counter) noexcept : m_counter(&counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  ~counted_wait() { end(); }
  counted_wait(const counted_wait&) = delete;
  counted_wait& operator=(const counted_wait&) = delete;
  void end() noexcept {
    if (m_counter != nullptr) m_counter->fetch_sub(1, std::memory_order_relaxed);
    m_counter = nullptr;
  }

 private:
  std::atomic<std::int32_t>* m_counter;
};

/// Marks the calling thread as running `stage` of the run `state` (on the
/// runtime whose id() is `rt`: an id, since a later runtime may get a
/// destroyed one's address, and oneTBB threads outlive their arena) for a
/// synchronous section, and records it as a complete span ("X") on the
/// thread's track when tracing (unless `traced` is false: pieces too small
/// to be worth an event, such as one thread's range of a parallel_for).
/// Must not live across a co_await. `Tag` is
/// the stage's item type: it makes every instantiation belong to its
/// pipeline's types (see SLUICE_NO_TRACE in trace.hpp).
///
/// A section whose time also counts as the stage's busy time is opened
/// with `timed_section` and closed with stop(), which returns the elapsed
/// time: the busy time and the trace span then share two clock reads
/// instead of taking four (on short chunks the reads are most of what
/// tracing costs).
struct timed_section_t {
  explicit timed_section_t() = default;
};
inline constexpr timed_section_t timed_section{};

template <typename Tag>
class stage_span {
 public:
  stage_span(const pipeline_state* state, std::uint64_t rt, std::size_t stage, const std::string& name,
             bool traced = true) noexcept
      : stage_span(state, rt, stage, name, traced, false) {}
  /// A timed section (see above): always reads the clock at entry.
  stage_span(const pipeline_state* state, std::uint64_t rt, std::size_t stage, const std::string& name,
             timed_section_t) noexcept
      : stage_span(state, rt, stage, name, true, true) {}
  ~stage_span() {
    m_slot.section_owner.store(m_previous_run, std::memory_order_relaxed);
    m_slot.section.store(m_previous_stage, std::memory_order_relaxed);
    if (m_trace) [[unlikely]]
      record();
  }
  stage_span(const stage_span&) = delete;
  stage_span& operator=(const stage_span&) = delete;

  /// Items handled in the section (shown in the span's args).
  void items(std::size_t n) noexcept { m_items = n; }

  /// Ends a timed section's clock: the time since entry (the trace span
  /// ends here too). Call once.
  [[nodiscard]] trace_recorder::clock::duration stop() noexcept {
    m_end = trace_recorder::clock::now();
    m_stopped = true;
    return m_end - m_start;
  }

 private:
  stage_span(const pipeline_state* state, std::uint64_t rt, std::size_t stage, const std::string& name, bool traced,
             bool timed) noexcept
      : m_slot(this_thread_activity()), m_name(name) {
    m_previous_run = m_slot.section_owner.load(std::memory_order_relaxed);
    m_previous_stage = m_slot.section.load(std::memory_order_relaxed);
    m_slot.runtime.store(rt, std::memory_order_relaxed);
    m_slot.section.store(static_cast<std::uint32_t>(stage), std::memory_order_relaxed);
    m_slot.section_owner.store(state, std::memory_order_relaxed);
    m_trace = traced ? SLUICE_TRACE_ACTIVE() : nullptr;
    if (timed || m_trace) m_start = trace_recorder::clock::now();
  }

  void record() noexcept {
    m_trace->stage_section(m_name, m_start, m_stopped ? m_end : trace_recorder::clock::now(),
                           static_cast<std::int64_t>(m_items));
  }

  thread_activity& m_slot;
  const std::string& m_name;
  const void* m_previous_run;
  std::uint32_t m_previous_stage;
  trace_recorder* m_trace;
  trace_recorder::clock::time_point m_start{};
  trace_recorder::clock::time_point m_end{};
  std::size_t m_items = 0;
  bool m_stopped = false;
};

/// A coroutine's wait on a channel: counted in `counter` while it lasts and
/// recorded as one trace record when it ends (when tracing). begin() before
/// suspending, with the waiting coroutine's frame address (its waits go on
/// a track of its own, see trace_recorder::channel_wait), end() when
/// resumed (both on whichever thread runs the coroutine).
template <typename Tag>
class channel_wait {
 public:
  void begin(std::atomic<std::int32_t>& counter, const void* waiter) noexcept {
    m_counter = &counter;
    counter.fetch_add(1, std::memory_order_relaxed);
    m_trace = SLUICE_TRACE_ACTIVE();
    if (m_trace) [[unlikely]] {
      m_waiter = waiter;
      m_start = trace_now();  // the wait's two reads are the tracing's own: the cheap clock (see trace_stamp)
    }
  }
  void end(const std::string& stage, const char* what) noexcept {
    if (!m_counter) return;
    m_counter->fetch_sub(1, std::memory_order_relaxed);
    m_counter = nullptr;
    if (m_trace) [[unlikely]]
      m_trace->channel_wait(stage, what, m_start, trace_now(), m_waiter);
  }

 private:
  std::atomic<std::int32_t>* m_counter = nullptr;
  trace_recorder* m_trace = nullptr;
  const void* m_waiter = nullptr;
  trace_stamp m_start{};
};

}  // namespace sluice::detail
