// Options shared by the per-item stages (map, filter, inspect, flat_map, sinks).
#pragma once

#include <cstddef>
#include <string>

#include "sluice/stages/error_policy.hpp"

namespace sluice {

/// Tunables of a sequential stage; designated-initialiser friendly:
/// `sluice::map(f, {.name = "parse", .on_error = sluice::skip_to(dead.sink())})`.
struct stage_options {
  /// Shown in describe() and reports; defaults to the stage's kind.
  std::string name = {};
  /// Items the stage's input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds, 0 = no bound in
  /// bytes. A chunk larger than this still passes, alone, when the channel
  /// is empty. A stage with a byte bound keeps its channel (is not fused).
  std::size_t capacity_bytes = 0;
  /// What to do when the function throws (default: fail fast).
  error_policy on_error = {};
  /// map, filter, inspect, flat_map: run in the coroutine of the stage
  /// before them when that one sends from a single coroutine (a source or
  /// another such stage), with no channel between (see pipeline.hpp,
  /// "Fusion"). false gives the stage its own coroutine and input channel,
  /// e.g. so a slow function overlaps with the stage before it.
  bool fuse = true;
};

namespace detail {
inline std::string name_or(const std::string& name, const char* kind) { return name.empty() ? kind : name; }
}  // namespace detail

}  // namespace sluice
