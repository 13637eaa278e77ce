// The memory bounds of one run (pipeline.hpp, "Memory bounds"): per stage,
// the byte bound of its input channel (`.capacity_bytes`), and the
// pipeline-wide limits on items and bytes in flight (run_options). Owned by
// the pipeline_state; stage_io counts chunks in and out of them.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "sluice/stages/detail/byte_gate.hpp"

namespace sluice::detail {

struct memory_bounds {
  /// Per stage: the gate in front of its input channel, or null.
  std::vector<std::unique_ptr<byte_gate>> inputs;
  /// Items / bytes waiting in the run's channels; the source waits on them.
  std::unique_ptr<byte_gate> flight_items;
  std::unique_ptr<byte_gate> flight_bytes;

  [[nodiscard]] bool active() const noexcept {
    if (flight_items || flight_bytes) return true;
    for (const auto& gate : inputs)
      if (gate) return true;
    return false;
  }
  /// The run stopped: nobody waits any more.
  void close() {
    for (const auto& gate : inputs)
      if (gate) gate->close();
    if (flight_items) flight_items->close();
    if (flight_bytes) flight_bytes->close();
  }
};

}  // namespace sluice::detail
