// Live progress of a running pipeline: what on_progress callbacks receive.
//
//   sluice::run_options options;
//   options.on_progress(500ms, [](const sluice::progress_snapshot& s) {
//     for (auto& st : s.stages) std::fprintf(stderr, "%s %.0f items/s\n", st.name.c_str(), st.rate);
//   });
//   auto report = sluice::run(rt, std::move(p), std::move(options));
//
// How it is taken: a sampler coroutine sleeps on the reactor's timer for the
// interval, then reads the counters the run report already keeps (relaxed
// loads, no lock) and hands the snapshot to the callback on the runtime's
// blocking pool. Nothing is added to the per-item path, and a run without
// on_progress starts no sampler at all.
//
// Consistency: one snapshot reads every stage once, at one point in time per
// stage. Within a stage the outcome counters (out, dropped, failed,
// cancelled) are read before items_in, so in_flight = in - outcomes is never
// negative; counters never go backwards from one snapshot to the next.
// Across stages the reads are a few nanoseconds apart: a chunk moving
// between two stages at that moment may show in both or neither.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"

namespace sluice {

/// One stage in a progress_snapshot. Counters are totals since the run
/// started (their meaning is as in report.hpp); rate and busy_share cover
/// the last interval only.
struct stage_progress {
  std::string name;
  std::string kind;
  std::uint64_t items_in = 0;
  std::uint64_t items_out = 0;
  std::uint64_t emitted = 0;
  std::uint64_t dropped = 0;
  std::uint64_t failed = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t retries = 0;
  std::uint64_t bytes = 0;
  /// Inputs fully handled (items_out) per second over the last interval.
  double rate = 0;
  /// Items waiting in the stage's input channel now, and its capacity (0 for sources).
  std::size_t queue_depth = 0;
  std::size_t queue_capacity = 0;
  /// Async stages (async_map, async for_each): calls of the function
  /// running now (each retry attempt is a call). Other stages: inputs
  /// received and not yet handled, in - (out + dropped + failed + cancelled),
  /// i.e. the rest of the chunk being worked on.
  std::uint64_t in_flight = 0;
  /// Fraction (0..1) of the last interval the stage spent busy; for
  /// concurrent stages, divided by the concurrency. Busy time is counted
  /// when a chunk (or an async call) finishes, so a stage working on one
  /// long chunk shows 0 until it ends and then catches up.
  double busy_share = 0;
};

/// A consistent picture of every stage (see the file comment).
struct progress_snapshot {
  std::vector<stage_progress> stages;
  /// Since the run started, and since the previous snapshot.
  std::chrono::nanoseconds elapsed{0};
  std::chrono::nanoseconds interval{0};
  /// 0, 1, 2, ... in the order delivered.
  std::uint64_t sequence = 0;
  /// True for the last snapshot, taken after every stage finished (its
  /// counters equal the report's).
  bool final = false;
};

/// Receives snapshots; see run_options::on_progress for where it runs.
using progress_callback = std::function<void(const progress_snapshot&)>;

/// Part of run_options: how often, and whom to tell.
struct progress_options {
  /// Time between snapshots; 0 (or no callback) turns progress off.
  std::chrono::milliseconds interval{0};
  progress_callback callback{};
};

}  // namespace sluice
