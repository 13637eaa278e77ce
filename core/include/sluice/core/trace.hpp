// sluice::trace_session: records what the runtime's threads do as Chrome
// Trace Event JSON, the format Perfetto (ui.perfetto.dev) and chrome://tracing open.
//
//   {
//     sluice::trace_session trace("run.trace.json");   // starts recording
//     sluice::run(rt, pipeline);
//     trace.finish();                                  // writes and renames the file
//   }
//
// Usually started for you: run_options::trace, the SLUICE_TRACE environment
// variable, `repo-fetcher --trace FILE`. What is recorded:
//  * one track per thread that recorded anything (arena workers, the reactor,
//    blocking-pool threads, the thread calling run()), named by thread_name
//    metadata events;
//  * complete spans ("ph":"X") for synchronous work on a thread (a stage's
//    chunk, libcurl's socket work on the reactor): they nest per track. A
//    stage's sections that follow each other on a thread at most 4 us
//    apart, with nothing else recorded between them (chunks handed on
//    without waiting), are one span whose args count items and chunks;
//  * channel waits as complete spans on a track per stage coroutine
//    ("<stage>: channel waits"): a coroutine waits for one thing at a
//    time, so its waits never overlap, and one "X" event per wait is half
//    the events and bytes of a "b"/"e" pair (channel waits are most of
//    what a light pipeline records);
//  * async spans ("ph":"b"/"e" pairs with an id) for other waits that
//    hold no thread: async items, HTTP requests, rate-limit pauses.
//
// How: a trace point appends one fixed-size binary record (timestamps,
// kind, an interned name id, a count) to its thread's buffer; a writer
// thread (started by the process's first session and kept, blocked and
// using no CPU, between sessions, named "sluice-trace") formats the records as JSON (through json_writer) and
// writes them out. Names are interned once per thread and name (a small
// per-thread cache in front of the session's table), so the traced
// threads neither format nor escape text. A stage section that extends
// the thread's open span is decided and stored inline, without a call
// (see open_stage_section). The generic complete() and
// async_span() (HTTP requests, rate-limit pauses: rare events with string
// arguments) copy their strings into the record instead.
//
// Bounded memory: each thread appends to its own 32 KiB buffer (about 800
// records), handed to the writer when full, so the writer formats and
// writes the file while the run goes on and finish() has only the last
// partial buffers left; at most 2 MiB of full buffers wait for the writer,
// beyond that a recording thread waits for it (backpressure, no loss). A
// long run therefore holds about 32 KiB per recording thread plus at most
// 4 MiB (the queue, and as many emptied buffers kept for reuse), and the
// writer's text buffer (up to about 512 KiB, kept for the next session
// once one has run). Events
// that could not be written (a write error, or an event racing with
// finish()) are counted and the count is stored in the file
// ("otherData": {"dropped_events": N}).
//
// The file is written to "<path>.tmp-<pid>" and put in place of `path` by
// finish() (detail::replace_file: a rename, minus the flush ext4 does when
// a rename replaces a file), so a reader never sees half a trace, also when
// the run fails (run()'s session finishes on the way out); a process killed
// mid-run leaves only the temporary file. It is not fsync'ed unless
// trace_options::fsync asks for it. Every string goes through
// sluice/core/json.hpp, so the file is valid UTF-8 JSON whatever the names.
//
// Cost: with no session active, an instrumented spot costs one relaxed load
// of a global pointer and a branch (trace_active()). Defining
// SLUICE_NO_TRACE before including sluice headers compiles the stage
// library's trace points out (SLUICE_TRACE_ACTIVE() is then a null constant).
//
// One session per process at a time (tracks are process-wide). A child
// forked while a session records does not record into it (a fork handler
// clears the child's active session) and may start a session of its own;
// the child's copy of the parent's trace_session object finishes nothing
// (the file is the parent's, which finishes it). Thread-safety: trace
// points may be hit from any thread; start and finish a session from one
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/core/detail/same_short_text.hpp"
#include "sluice/core/detail/std_parts.hpp"

namespace sluice {

/// An argument of a trace event: a number or a string (escaped on writing).
struct trace_arg {
  std::string_view key;
  std::string_view text = {};
  std::int64_t number = 0;
  bool is_number = false;

  static trace_arg num(std::string_view key, std::int64_t value) noexcept { return {key, {}, value, true}; }
  static trace_arg str(std::string_view key, std::string_view value) noexcept { return {key, value, 0, false}; }
};

namespace detail {

/// A timestamp a trace point takes only because a trace is recording (a
/// channel wait's two ends): the CPU's time-stamp counter where it is
/// invariant and the kernel's clock runs on it too (x86-64 Linux with an
/// invariant TSC and the "tsc" clocksource: one rdtsc, about half the cost
/// of steady_clock::now() through the vDSO), steady_clock nanoseconds
/// otherwise. The trace's writer converts counter values to steady_clock
/// time, calibrated against it, so a stamp is only ever handed to the
/// recorder, never compared with a time_point.
struct trace_stamp {
  std::int64_t value = 0;
};

/// Where trace_now() reads: 0 not decided yet, 1 the TSC, 2 steady_clock.
/// Decided once per process (decide_trace_stamp_source()) and never changed,
/// so the two ends of a wait always come from the same source.
extern std::atomic<int> g_trace_stamp_source;
int decide_trace_stamp_source() noexcept;

/// A steady_clock time as the recorder keeps it: nanoseconds since the
/// clock's epoch.
[[nodiscard]] inline std::int64_t trace_ticks(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

/// The current trace_stamp.
[[nodiscard]] inline trace_stamp trace_now() noexcept {
  int source = g_trace_stamp_source.load(std::memory_order_relaxed);
  if (source == 0) [[unlikely]]
    source = decide_trace_stamp_source();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (source == 1) return {static_cast<std::int64_t>(__builtin_ia32_rdtsc())};
#endif
  return {trace_ticks(std::chrono::steady_clock::now())};
}

/// The recording session's id, 0 while none (trace_session sets it).
extern std::atomic<std::uint64_t> g_trace_session;

/// A stage section that starts at most this long after the same stage's
/// previous section on the same thread ended, with nothing recorded between
/// them, extends that section (its args count the chunks) instead of adding
/// an event: a stage handing on short chunks without waiting is one span,
/// not thousands, which is most of what tracing a light pipeline costs.
/// The gap is the stage's own hand-off (sending a chunk on and taking the
/// next one, no wait: a wait is a record and always splits the span). On
/// the 2-core VM that hand-off took 1.3-1.7 us (median) and up to 3.3 us
/// (90th percentile) in the no-work pipeline, so the 1 us gap used before
/// merged only a third of the sections it was meant to; 4 us merges 95%,
/// cut that run's events by a third and its traced time by about 1% of the
/// run. A 4 us gap is below a pixel on any view showing more than a few
/// milliseconds, and the span's args still count the items and chunks.
inline constexpr std::int64_t k_trace_merge_gap_ns = 4000;

/// A thread's newest stage section, kept open beside its buffer of records
/// while following sections of the same stage extend it (see
/// k_trace_merge_gap_ns): three of four sections of a no-work run do. An
/// extension is inline (trace_recorder::stage_section, through
/// t_open_stage_section): it compares the stage's name and the gap and
/// stores into the section, without a call, a name lookup or raising the
/// buffer's `busy` flag (the one atomic read-modify-write a record costs).
/// Any other record of the thread closes it into the records first (under
/// `busy`), so the file's order and the "nothing recorded between" rule
/// stay. finish() and the owner's exit close it too (the buffer's mutex
/// held, `busy` down); an extension racing finish() may then be missed
/// (its chunk's items absent from the span), as a record racing it is
/// dropped; the fields finish() reads are atomics, read whole.
struct open_stage_section {
  std::atomic<std::uint64_t> session{0};  // the session it belongs to, 0 when none is open
  std::atomic<std::int64_t> start{0};     // trace_ticks
  std::atomic<std::int64_t> end{0};
  std::atomic<std::int64_t> items{0};
  std::atomic<std::uint32_t> name{0};    // interned
  std::atomic<std::uint32_t> chunks{0};  // merged in after the first
  std::string stage;                     // the stage's name, as given (the owner's only)

  /// Extends the section with the calling (owning) thread's section of
  /// `stage` from `from` to `to` (trace_ticks), when it is open in the
  /// recording session, of the same stage, and ended at most
  /// k_trace_merge_gap_ns before `from`. Returns whether it did.
  bool try_extend(std::string_view name_of_stage, std::int64_t from, std::int64_t to, std::int64_t count) noexcept {
    const auto current = g_trace_session.load(std::memory_order_relaxed);
    if (current == 0 || session.load(std::memory_order_relaxed) != current) return false;
    if (name_of_stage.size() != stage.size() || !same_short_text(name_of_stage.data(), stage.data(), stage.size()))
      return false;
    const auto last_end = end.load(std::memory_order_relaxed);
    const auto merged = chunks.load(std::memory_order_relaxed);
    if (from < last_end || from - last_end > k_trace_merge_gap_ns || merged == UINT32_MAX) return false;
    end.store(to > last_end ? to : last_end, std::memory_order_relaxed);
    items.store(items.load(std::memory_order_relaxed) + count, std::memory_order_relaxed);
    chunks.store(merged + 1, std::memory_order_relaxed);
    return true;
  }
};

/// The calling thread's open_stage_section (in its trace buffer), null
/// until the thread records its first stage section. A plain pointer,
/// constant-initialised: reading it is one load, with no TLS wrapper call.
inline constinit thread_local open_stage_section* t_open_stage_section = nullptr;

/// The process's recorder; reached through trace_active(). Never destroyed
/// (trace points on exiting threads may still look at it).
class trace_recorder {
 public:
  using clock = std::chrono::steady_clock;

  /// A complete span on the calling thread's track. `start`..`end` must not
  /// enclose a suspension of the calling coroutine (spans on a track nest).
  /// Copies its strings: for rare events (see the file comment).
  void complete(std::string_view category, std::string_view name, clock::time_point start, clock::time_point end,
                std::initializer_list<trace_arg> args = {});
  /// An async span (a "b" and an "e" event with a fresh id): for waits that
  /// hold no thread. Recorded on the calling thread. Copies its strings.
  void async_span(std::string_view category, std::string_view name, clock::time_point start, clock::time_point end,
                  std::initializer_list<trace_arg> args = {});

  // The stage library's hot trace points: one fixed-size record each, the
  // names interned. Never throw (a span that cannot be recorded is counted
  // as dropped).

  /// A stage's synchronous section ("X", category "stage", named by the
  /// stage, args {"items": items}).
  /// Inline while it extends the thread's open section (see
  /// open_stage_section).
  void stage_section(std::string_view stage, clock::time_point start, clock::time_point end,
                     std::int64_t items) noexcept {
    const auto from = trace_ticks(start);
    const auto to = trace_ticks(end);
    if (auto* open = t_open_stage_section; open != nullptr && open->try_extend(stage, from, to, items)) [[likely]]
      return;
    start_stage_section(stage, from, to, items);
  }
  /// A coroutine's wait on a channel (category "channel", named
  /// "<stage>: <what>"), recorded once, when the wait ends. `waiter`
  /// identifies the waiting coroutine (its frame address): one coroutine's
  /// waits follow each other, so they are written as complete spans ("X")
  /// on a track of their own per stage and coroutine, named "<stage>:
  /// channel waits". Without a waiter (null), or once a session has 4096
  /// such tracks, the wait is an async span ("b"/"e") instead.
  void channel_wait(std::string_view stage, std::string_view what, clock::time_point start, clock::time_point end,
                    const void* waiter = nullptr) noexcept;
  /// The same with trace_now() stamps (the stage library's waits: no
  /// steady_clock read when the wait starts or ends).
  void channel_wait(std::string_view stage, std::string_view what, trace_stamp start, trace_stamp end,
                    const void* waiter = nullptr) noexcept;
  /// An async stage's item from start to end (async, category "item", named
  /// by the stage, args {"item": index}).
  void async_item(std::string_view stage, clock::time_point start, clock::time_point end, std::int64_t index) noexcept;

  struct impl;
  explicit trace_recorder(impl* state) noexcept : m_impl(state) {}

 private:
  // stage_section()'s out-of-line part, for a section the inline
  // extension did not take: closes the thread's open section into its
  // records and opens this one.
  void start_stage_section(std::string_view stage, std::int64_t from, std::int64_t to, std::int64_t items) noexcept;

  impl* m_impl;
};

extern std::atomic<trace_recorder*> g_active_trace;

/// Names the calling thread's track ("reactor", "blocking pool"); call once
/// when a thread starts. Arena threads are named for their arena slot.
void set_trace_thread_name(const char* name) noexcept;

}  // namespace detail

/// The active recorder, or null when nothing is being traced: one relaxed load.
[[nodiscard]] inline detail::trace_recorder* trace_active() noexcept {
  return detail::g_active_trace.load(std::memory_order_relaxed);
}

/// What finish() wrote.
struct trace_summary {
  std::string path;
  std::uint64_t events = 0;          // events written (metadata included)
  std::uint64_t dropped_events = 0;  // events lost to a write error or emitted during finish()
  std::uint64_t bytes = 0;           // size of the file
};

/// How a trace_session writes its file.
struct trace_options {
  /// fsync the file before renaming it into place, and its directory
  /// after, so the trace survives a power loss too. Off by default: a trace
  /// is a diagnostic, the rename alone already keeps readers from seeing
  /// half a file, and a sync costs milliseconds per trace (more than the
  /// recording of a short run).
  bool fsync = false;
};

/// A recording session writing one trace file; see the file comment.
class trace_session {
 public:
  /// Starts recording into `path`. Throws std::logic_error when another
  /// session is active, std::system_error when the temporary file cannot be
  /// created (the error names the path).
  explicit trace_session(std::string path, trace_options options = {});
  /// finish()es if that was not done, swallowing errors (the temporary file
  /// is then removed).
  ~trace_session();
  trace_session(const trace_session&) = delete;
  trace_session& operator=(const trace_session&) = delete;

  /// A session on `path` unless one is already active (then null): for
  /// layers that trace "if nobody else does" (run() with SLUICE_TRACE).
  [[nodiscard]] static std::unique_ptr<trace_session> start_unless_active(std::string path, trace_options options = {});

  /// Stops recording, writes every thread's buffer and the thread names,
  /// closes the JSON, fsyncs it when the options ask for that, and renames
  /// it to the path. Throws
  /// std::system_error when writing fails (the temporary file is removed).
  /// Idempotent: a second call returns the first result.
  trace_summary finish();

 private:
  struct claimed {};
  static claimed claim_or_throw();
  trace_session(std::string path, trace_options options, claimed);  // the process's one session slot is ours

  std::string m_path;
  trace_options m_options;
  std::int64_t m_process = 0;  // the pid of the process that started it
  bool m_finished = false;
  trace_summary m_summary;
};

}  // namespace sluice

/// The recorder for a trace point in the stage library: trace_active(), or a
/// null constant when SLUICE_NO_TRACE is defined (trace points compile out).
#if defined(SLUICE_NO_TRACE)
#define SLUICE_TRACE_ACTIVE() (static_cast<::sluice::detail::trace_recorder*>(nullptr))
#else
#define SLUICE_TRACE_ACTIVE() (::sluice::trace_active())
#endif

namespace sluice::detail {
/// The template argument of header code that has trace points but does not
/// depend on a pipeline's item types (stage_io's untyped awaiters): one
/// instance per program and trace mode, so a translation unit compiled with
/// SLUICE_NO_TRACE never shares it with one that traces (no ODR clash).
struct traced_build {};
struct untraced_build {};
#if defined(SLUICE_NO_TRACE)
using trace_build = untraced_build;
#else
using trace_build = traced_build;
#endif
}  // namespace sluice::detail
