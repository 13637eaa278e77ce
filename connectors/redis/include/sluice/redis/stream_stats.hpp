// sluice::redis::stream_stats: what a distributed channel endpoint has seen.
//
// The pipeline report has per-stage item counters only, so a from_stream /
// to_stream stage publishes its stream counters here: create one with
// std::make_shared, pass it as `.stats`, and read it during or after the run
// (describe() for a line, write_json() for the run's JSON report).
//
// Thread-safety: counters are atomics, updated by the stage while the run
// goes on; reading them any time is safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "sluice/core/json.hpp"

namespace sluice::redis {

struct stream_stats {
  /// Set by the stage when it starts.
  std::string stream = {};
  std::string group = {};
  std::string consumer = {};

  // Consumer side (from_stream).
  std::atomic<std::uint64_t> entries_delivered{0};  ///< entries handed downstream (incl. redeliveries)
  std::atomic<std::uint64_t> items_delivered{0};
  std::atomic<std::uint64_t> redelivered{0};    ///< entries delivered with a delivery count > 1
  std::atomic<std::uint64_t> claimed{0};        ///< entries taken over from idle consumers (XAUTOCLAIM)
  std::atomic<std::uint64_t> acked{0};          ///< entries acknowledged (XACK)
  std::atomic<std::uint64_t> nacked{0};         ///< entries given back for redelivery (an item failed or was dropped)
  std::atomic<std::uint64_t> dead_lettered{0};  ///< entries moved to the dead-letter stream
  std::atomic<std::uint64_t> keepalives{0};     ///< held entries refreshed (XCLAIM JUSTID), prefetched ones too
  std::atomic<std::uint64_t> end_markers{0};    ///< end-of-stream markers read
  std::atomic<std::int64_t> lag{-1};            ///< group lag at the last look (-1: unknown)
  std::atomic<std::int64_t> pending{-1};        ///< group pending entries at the last look

  // Producer side (to_stream).
  std::atomic<std::uint64_t> entries_added{0};
  std::atomic<std::uint64_t> items_added{0};
  std::atomic<std::uint64_t> backpressure_waits{0};  ///< times the producer paused on a full stream
  std::atomic<std::uint64_t> trimmed{0};             ///< acknowledged entries removed (XTRIM MINID)

  // Both.
  std::atomic<std::uint64_t> transport_errors{0};  ///< commands that failed on a broken or slow connection

  /// One line: "stream s, group g (consumer c): lag 0, pending 0, delivered ..."
  [[nodiscard]] std::string describe() const;
  /// The counters as one JSON object (through the project's json_writer).
  void write_json(json_writer& w) const;
};

}  // namespace sluice::redis
