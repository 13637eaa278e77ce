// The untyped part of redis::to_stream: batched XADD with backpressure,
// reconnect retries and the end marker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
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

/// One XADD batch sent and not yet answered.
struct batch_in_flight {
  std::shared_ptr<const formatted_commands> commands;  // kept to resend after a broken connection
  oneshot_receiver<result<std::vector<reply>>> replies;
  std::size_t entries = 0;
  std::uint64_t items = 0;
};

class producer_core {
 public:
  producer_core(runtime& rt, endpoint ep, std::string stream, std::string format, to_stream_options options);

  /// Creates the configured groups; warns once on stderr if max_length is set.
  task<void> start();
  /// Waits for room (capacity), then sends `entries` as one pipelined XADD
  /// batch without waiting for the replies (up to `.depth` batches are in
  /// flight: the caller awaits them in order with complete()). nullopt when
  /// `stopped()` turned true while waiting for room. `entries` is emptied.
  task<std::optional<batch_in_flight>> send(std::vector<packed_entry>& entries, const std::function<bool()>& stopped);
  /// Waits for a sent batch's replies. A broken connection resends the whole
  /// batch (an entry may then be added twice, or after a later batch:
  /// at-least-once). Throws on a server error or after give_up_after.
  task<void> complete(batch_in_flight& batch);
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
  std::string m_max_length;  // MAXLEN's argument, formatted once ("" when off)
};

}  // namespace sluice::redis::detail
