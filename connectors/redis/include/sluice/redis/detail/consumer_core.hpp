// The untyped part of redis::from_stream: reading, claiming, keeping alive,
// acknowledging, dead-lettering and trimming one stream for one consumer of
// a group. from_stream.hpp adds the serializer and the pipeline stage.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/redis/connection.hpp"
#include "sluice/redis/entry_format.hpp"
#include "sluice/redis/message.hpp"
#include "sluice/redis/stream_options.hpp"

namespace sluice::redis::detail {

class consumer_core : public std::enable_shared_from_this<consumer_core> {
 public:
  using clock = std::chrono::steady_clock;

  consumer_core(runtime& rt, endpoint ep, std::string stream, std::string group, std::string consumer,
                from_stream_options options);
  ~consumer_core();

  /// Creates the group (at id 0, with the stream) unless it exists. Retries
  /// while the server is unreachable, up to give_up_after.
  task<void> start();

  /// The next entries to deliver: first this consumer's own pending entries
  /// (a restart), then entries given back for redelivery, claims of idle
  /// entries, and new entries (waiting up to `block`). Empty when nothing
  /// came. Each carries its delivery count. Throws after give_up_after of
  /// unreachable server.
  task<std::vector<raw_entry>> next();

  /// Moves `e` to the dead-letter stream with `reason`, atomically with its ack.
  task<void> dead_letter(const raw_entry& e, const std::string& reason);

  /// Acknowledges an end marker and counts it.
  void end_marker(const std::string& id);

  /// Starts tracking a delivered entry of `items` items; the returned ack is
  /// shared by its messages.
  std::shared_ptr<entry_ack> track(const raw_entry& e, std::uint32_t items);

  /// True when the stream is finished for this group: every expected end
  /// marker written, lag = pending = 0, nothing in flight here.
  task<bool> drained();

  /// Entries of a prefetched read not yet returned by next() (empty if
  /// none): a draining source delivers them like in-flight ones.
  task<std::vector<raw_entry>> take_prefetched();

  /// Waits (up to settle_timeout) for in-flight entries, flushes the acks,
  /// and hands whatever is left back to the group (claimable at once).
  task<void> settle();

  /// The last failure reason recorded for an entry ("" if none).
  [[nodiscard]] std::string failure_of(const std::string& id) const;

  [[nodiscard]] stream_stats& stats() noexcept { return *m_stats; }
  [[nodiscard]] const from_stream_options& options() const noexcept { return m_options; }
  [[nodiscard]] const std::string& stream() const noexcept { return m_stream; }

  // Called by entry_ack (any thread).
  void resolved(const std::string& id, bool ok, std::string reason);

 private:
  struct retry {
    std::string id;
    clock::time_point due;
  };
  // An XREADGROUP sent: its outcome, and the entries parsed from its reply
  // on the reactor thread (filled before the outcome is sent).
  struct pending_read {
    oneshot_receiver<result<reply>> outcome;
    std::shared_ptr<std::vector<raw_entry>> entries;
  };

  task<void> maintenance();
  task<std::vector<raw_entry>> read_own_pending();
  task<std::vector<raw_entry>> redeliver_due();
  task<std::vector<raw_entry>> autoclaim();
  task<std::vector<raw_entry>> read_new();
  task<void> keepalive();
  task<void> trim();
  task<void> refresh_group_info();
  task<void> fill_delivery_counts(std::vector<raw_entry>& entries);
  void flush_acks();
  // Sends one command of the group protocol and classifies its outcome (see
  // the .cpp): the reply, or nullopt after a transport failure or a
  // recreated group. Throws on other server errors and after give_up_after.
  task<std::optional<reply>> group_command(const connection& conn, const command_args& args, std::string_view verb,
                                           std::string_view tolerated = {});
  // The classification half of group_command, for a command already sent.
  task<std::optional<reply>> group_reply(oneshot_receiver<result<reply>> rx, std::string_view verb,
                                         std::string_view tolerated = {});
  // Sends XREADGROUP ... BLOCK ... > on the blocking connection.
  pending_read send_read() const;
  // Entries whose redelivery failed go back to the retry queue.
  void requeue(std::vector<std::string>& ids);
  // Transport error bookkeeping: throws after give_up_after.
  task<void> transport_failed(const error& e);
  void transport_ok() { m_failing_since.reset(); }
  bool is_in_flight(const std::string& id) const;

  runtime* m_rt;
  std::string m_stream;
  std::string m_group;
  std::string m_consumer;
  from_stream_options m_options;
  std::shared_ptr<stream_stats> m_stats;
  connection m_conn;        // pipelined commands: XACK, XCLAIM, XAUTOCLAIM, XINFO, scripts
  connection m_block_conn;  // XREADGROUP BLOCK only

  // Source coroutine only.
  bool m_recovering = true;
  std::string m_own_cursor = "0";
  std::string m_claim_cursor = "0-0";
  clock::time_point m_next_claim{};
  clock::time_point m_next_keepalive{};
  clock::time_point m_next_trim{};
  clock::time_point m_next_info{};
  std::optional<clock::time_point> m_failing_since;
  bool m_all_ended = false;
  std::optional<pending_read> m_prefetch;  // next XREADGROUP, sent early

  // Shared with resolving threads and the reactor (XACK replies).
  mutable std::mutex m_mutex;
  std::unordered_map<std::string, clock::time_point> m_in_flight;  // id -> delivered or refreshed at
  std::vector<std::string> m_ack_queue;                            // delivered entries taken by the sink
  std::vector<std::string> m_marker_queue;                         // end markers (acked, not counted in acked)
  bool m_ack_in_flight = false;
  std::deque<retry> m_retries;
  std::map<std::string, std::string> m_failures;  // id -> last reason (bounded)
};

}  // namespace sluice::redis::detail
