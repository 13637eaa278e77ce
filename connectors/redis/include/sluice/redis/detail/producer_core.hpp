// The untyped part of redis::to_stream: batched XADD with backpressure,
// reconnect retries and the end marker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/redis/connection.hpp"
#include "sluice/redis/stream_options.hpp"

namespace sluice::redis::detail {

/// One entry to add: item count and the packed payload (entry_format.hpp).
struct packed_entry {
  std::uint32_t items = 0;
  std::string payload;
};

class producer_core {
 public:
  producer_core(runtime& rt, endpoint ep, std::string stream, std::string format, to_stream_options options);

  /// Creates the configured groups; warns once on stderr if max_length is set.
  task<void> start();
  /// Waits for room (capacity), then appends `entries` with pipelined XADDs.
  /// A broken connection is retried with the whole batch (an entry may then
  /// be added twice: at-least-once). Returns false when `stopped()` turned
  /// true while waiting. Throws on a server error or after give_up_after.
  task<bool> add(std::vector<packed_entry>& entries, const std::function<bool()>& stopped);
  /// Appends the end marker and records this producer as finished.
  task<void> mark_end();

  [[nodiscard]] stream_stats& stats() noexcept { return *m_stats; }
  [[nodiscard]] const to_stream_options& options() const noexcept { return m_options; }

 private:
  task<bool> wait_for_room(std::size_t entries, const std::function<bool()>& stopped);
  task<std::int64_t> unacknowledged();
  task<void> transport_failed(const error& e);

  std::string m_stream;
  std::string m_format;
  to_stream_options m_options;
  std::shared_ptr<stream_stats> m_stats;
  connection m_conn;
  // Unknown until the first reading: the stream may hold entries already.
  std::int64_t m_known_unacked = std::numeric_limits<std::int32_t>::max();
  std::int64_t m_added_since_check = 0;
  std::optional<std::chrono::steady_clock::time_point> m_failing_since;
};

}  // namespace sluice::redis::detail
