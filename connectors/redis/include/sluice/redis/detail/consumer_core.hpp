// The untyped part of redis::from_stream: reading, claiming, keeping alive,
// acknowledging, dead-lettering and trimming one stream for one consumer of
// a group. from_stream.hpp adds the serializer and the pipeline stage.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
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

class consumer_core;

/// Entries read together (one XREADGROUP, XCLAIM or XAUTOCLAIM reply), held
/// by this consumer from the moment the reply is parsed until each entry is
/// settled. While held they are kept alive (consumer_core's keepalive timer),
/// whether still prefetched, waiting in the read loop, or downstream as
/// messages. The batch is the entry_ack of its messages: an entry is taken
/// when every item packed into it is acked, given back (redelivered later)
/// when one is not; once every entry of the batch is settled, the taken ones
/// are acknowledged with one XACK.
///
/// Lifetime: the core's held list owns a batch from the read until its last
/// entry is settled (messages point at it without owning it); the batch owns
/// the core, so the core outlives every message of its batches.
///
/// Thread-safety: entries() and deliver()/settle()/release() belong to the
/// read loop; resolve() runs on any thread; the rest is read under the
/// core's mutex.
class read_batch final : public entry_ack, public std::enable_shared_from_this<read_batch> {
 public:
  enum class state : std::uint8_t {
    held,        // read, not yet handed downstream
    delivered,   // downstream as messages
    taken,       // every item acked: acknowledged with the batch
    given_back,  // an item failed: redelivered later
    settled,     // dead-lettered or an end marker (acknowledged otherwise), or returned unprocessed
  };

  read_batch(std::shared_ptr<consumer_core> core, entry_list entries);

  [[nodiscard]] std::vector<raw_entry>& entries() noexcept { return m_list.entries(); }
  [[nodiscard]] std::size_t size() const noexcept { return m_list.size(); }
  /// Entry `i` goes downstream as `items` messages (items > 0).
  void deliver(std::size_t i, std::uint32_t items);
  /// Entry `i` was dealt with by the read loop (dead-lettered, end marker).
  void settle(std::size_t i);
  /// The read loop is done with the batch: entries it neither delivered nor
  /// settled (a stop, an error) are returned for redelivery. Call once.
  void release();

  void resolve(std::uint32_t slot, bool ok, std::string_view reason) noexcept override;
  [[nodiscard]] std::string_view entry_id(std::uint32_t slot) const noexcept override {
    return m_list.entries()[slot].id;
  }
  [[nodiscard]] std::uint64_t deliveries(std::uint32_t slot) const noexcept override {
    return m_list.entries()[slot].deliveries;
  }

  /// Current state of entry `i` (any thread).
  [[nodiscard]] state state_of(std::size_t i) const noexcept { return m_slots[i].st.load(std::memory_order_acquire); }
  /// Still this consumer's on the server and not yet acknowledged.
  [[nodiscard]] bool holds(std::size_t i) const noexcept {
    auto s = state_of(i);
    return s == state::held || s == state::delivered || s == state::taken;
  }

  // Guarded by the core's mutex: when the entries were read or last refreshed.
  std::chrono::steady_clock::time_point refreshed;

 private:
  struct entry_slot {
    std::atomic<std::uint32_t> remaining{0};
    std::atomic<state> st{state::held};
    std::atomic<bool> failed{false};
  };
  void finish(std::size_t i, state s);
  void done();

  std::shared_ptr<consumer_core> m_core;
  entry_list m_list;  // ids immutable once published
  std::unique_ptr<entry_slot[]> m_slots;
  std::atomic<std::size_t> m_open;  // entries not settled, + 1 until release()
};

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
  /// Null when nothing came. The batch is held (kept alive) until settled.
  task<std::shared_ptr<read_batch>> next();

  /// Moves `e` to the dead-letter stream with `reason`, atomically with its ack.
  task<void> dead_letter(const raw_entry& e, const std::string& reason);

  /// Acknowledges an end marker and counts it.
  void end_marker(std::string_view id);

  /// True when the stream is finished for this group: every expected end
  /// marker written, lag = pending = 0, nothing in flight here.
  task<bool> drained();

  /// The entries of the oldest prefetched read not yet returned by next()
  /// (null when none is left): a draining source delivers them like
  /// in-flight ones, until null.
  task<std::shared_ptr<read_batch>> take_prefetched();

  /// Waits (up to settle_timeout) for in-flight entries, flushes the acks,
  /// and hands whatever is left back to the group (claimable at once).
  task<void> settle();

  /// The last failure reason recorded for an entry ("" if none).
  [[nodiscard]] std::string failure_of(std::string_view id) const;

  [[nodiscard]] stream_stats& stats() noexcept { return *m_stats; }
  [[nodiscard]] const from_stream_options& options() const noexcept { return m_options; }
  [[nodiscard]] const std::string& stream() const noexcept { return m_stream; }

  /// Counts what the read loop handed downstream (once per batch).
  void count_delivered(std::size_t entries, std::size_t items);

  // Called by read_batch (any thread).
  void note_failure(std::string_view id, std::string_view reason);
  void give_back(std::string_view id, bool count_nack);
  void batch_done(std::shared_ptr<read_batch> batch);

 private:
  struct retry {
    std::string id;
    clock::time_point due;
  };
  // An XREADGROUP sent: its outcome, and the entries parsed from its reply
  // on the reactor thread (filled before the outcome is sent).
  struct pending_read {
    oneshot_receiver<result<reply>> outcome;
    std::shared_ptr<std::shared_ptr<read_batch>> batch;
  };
  // The keepalive timer's view of the core: nulled (under its mutex) when
  // the core stops refreshing, so a timer that fires late does nothing.
  struct keepalive_link {
    std::mutex mutex;
    consumer_core* core = nullptr;
  };

  task<void> maintenance();
  task<entry_list> read_own_pending();
  task<entry_list> redeliver_due();
  task<entry_list> autoclaim();
  task<std::shared_ptr<read_batch>> read_new();
  void start_keepalive();
  void stop_keepalive();
  // On the reactor thread: refreshes held entries idle for `keepalive`, re-arms.
  static void keepalive_tick(const std::shared_ptr<keepalive_link>& link);
  std::shared_ptr<read_batch> hold(entry_list entries);
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
  pending_read send_read();
  static pending_read take_front(std::deque<pending_read>& reads);
  // XREADGROUPs queued at the server after a full batch (see read_new()).
  // 2 was measured (bench --profile-consume, alternated) no faster than 1 on
  // the 2-core machine: the consumer is bound by CPU shared with the server,
  // not by the read chain; 1 also holds fewer entries.
  static constexpr std::size_t reads_ahead = 1;
  // Entries whose redelivery failed go back to the retry queue.
  void requeue(std::vector<std::string>& ids);
  // Transport error bookkeeping: throws after give_up_after.
  task<void> transport_failed(const error& e);
  void transport_ok() { m_failing_since.reset(); }
  bool is_in_flight(std::string_view id) const;

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
  clock::time_point m_next_trim{};
  clock::time_point m_next_info{};
  std::optional<clock::time_point> m_failing_since;
  bool m_all_ended = false;
  std::deque<pending_read> m_prefetch;  // next XREADGROUPs, sent early (up to reads_ahead)

  // Shared with resolving threads and the reactor (XACK replies).
  mutable std::mutex m_mutex;
  std::vector<std::shared_ptr<read_batch>> m_held;         // read and not yet settled
  std::vector<std::shared_ptr<read_batch>> m_ack_queue;    // settled batches with taken entries
  std::vector<std::string> m_marker_queue;                 // end markers (acked, not counted in acked)
  std::shared_ptr<const formatted_commands> m_ack_resend;  // an XACK whose connection broke
  bool m_ack_resend_counts = false;                        // its first command is the data XACK
  bool m_ack_in_flight = false;
  std::shared_ptr<keepalive_link> m_keepalive;  // null until start()
  std::deque<retry> m_retries;
  std::map<std::string, std::string, std::less<>> m_failures;  // id -> last reason (bounded)
};

}  // namespace sluice::redis::detail
