// sluice::pipeline_report: what run() tells you about a finished pipeline.
//
// Accounting, per stage, in units of the stage's *input* items:
//
//     items_in == items_out + dropped + failed + cancelled     (always, after run)
//
//   items_in   items the stage received (a source: items it pulled from its range);
//   items_out  inputs fully handled: their results were delivered downstream
//              (for a sink: consumed);
//   dropped    inputs handled without a result downstream and without an
//              error while the run went on: rejected by filter, or discarded
//              because downstream stopped early (a for_each returned false,
//              a to_channel reader left);
//   failed     inputs whose function threw (after retries), whether the
//              pipeline then failed fast or the item went to a dead-letter sink;
//   cancelled  inputs abandoned because the run was stopped (its stop token
//              fired, or a fail-fast error tore it down): not started, cut
//              short while waiting (e.g. a retry backoff, a body honouring the
//              token), or whose result could no longer be sent.
//   retries    extra calls of the stage's function made by a retry policy
//              (not an item count: it is outside the balance).
//   emitted    elements actually sent downstream. Equal to items_out for 1:1
//              stages; differs for flat_map, batch, unbatch and batch stages.
//              The next stage's items_in equals this stage's emitted.
//
// busy_time is the time spent in the stage's own work (user functions; for
// async stages the sum of per-call latencies; for a range source the time
// spent pulling items from its range, for a generator source the time spent
// awaiting the generator; a channel source only forwards: 0). peak_queue_depth is the largest
// number of items seen waiting in the stage's input channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/latency_histogram.hpp"

namespace sluice {

/// Counters of one stage; see the file comment for their exact meaning.
struct stage_report {
  std::string name = {};
  std::string kind;
  /// The branch, lane or merge input the stage belongs to ("" on the main line).
  std::string branch = {};
  /// The stages it receives from (indices into pipeline_report::stages).
  std::vector<std::size_t> inputs = {};
  std::uint64_t items_in = 0;
  std::uint64_t items_out = 0;
  std::uint64_t emitted = 0;
  std::uint64_t dropped = 0;
  std::uint64_t failed = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t retries = 0;
  std::chrono::nanoseconds busy_time{0};
  /// Input channel: capacity and peak depth in items (0 for sources).
  std::size_t queue_capacity = 0;
  std::size_t peak_queue_depth = 0;
  /// Fractions of this stage's receives that found its input channel full / empty.
  double input_full_ratio = 0;
  double input_empty_ratio = 0;
  /// Bytes the stage read or wrote, where it knows them (write_jsonl; a
  /// custom stage through stage_context::count_bytes), else 0.
  std::uint64_t bytes = 0;
  /// Async stages (async_map, async for_each): latency of each call of the
  /// stage's function, retried attempts included; count == 0 for the others.
  latency_summary latency{};
  /// Async stages: latency of each item end to end, from its first attempt
  /// to its outcome (a result, a failure after the last attempt, or
  /// cancellation), retries and backoff sleeps included. count is the
  /// number of items the stage's calls finished; count == 0 for the others.
  latency_summary item_latency{};

  /// items_in == items_out + dropped + failed + cancelled.
  [[nodiscard]] bool balanced() const noexcept { return items_in == items_out + dropped + failed + cancelled; }
};

/// The result of sluice::run.
struct pipeline_report {
  std::vector<stage_report> stages;
  std::chrono::nanoseconds elapsed{0};
  /// True when the run was stopped through its std::stop_token.
  bool cancelled = false;
  /// Set when an on_progress callback threw (see run_options.hpp): its
  /// message. The run itself went on; progress callbacks stopped.
  std::string progress_error{};

  /// Index of the stage that limited throughput: the one with the highest
  /// score, where a stage scores the larger of its utilisation (busy_time /
  /// elapsed) and its queue pattern (fraction of its receives that found its
  /// input full, times the fraction of the next stage's receives that found
  /// its own input empty; a source counts as always full, a sink's output as
  /// always empty). Empty report: 0.
  [[nodiscard]] std::size_t bottleneck() const noexcept;
  [[nodiscard]] const std::string& bottleneck_name() const;
  /// Every stage balanced (see stage_report::balanced).
  [[nodiscard]] bool balanced() const noexcept;
  /// A table of the counters, one line per stage, naming the bottleneck.
  [[nodiscard]] std::string describe() const;
  /// Graphviz dot of the stages with their counters; the bottleneck in red.
  [[nodiscard]] std::string to_dot() const;
  /// The counters in Prometheus text exposition format (version 0.0.4), one
  /// sample per stage labelled {stage="name",index="i",kind="..."}; metric
  /// names start with `prefix` (sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*), label
  /// values are escaped (backslash, quote, newline). See prometheus.cpp.
  [[nodiscard]] std::string to_prometheus(std::string_view prefix = "sluice") const;
};

}  // namespace sluice
