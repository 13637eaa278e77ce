// Options of redis::from_stream and redis::to_stream (designated-initialiser
// friendly). See docs/distributed.md for the semantics they tune.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "sluice/redis/connection.hpp"
#include "sluice/redis/stream_stats.hpp"

namespace sluice::redis {

struct from_stream_options {
  /// Shown in describe(); default "from_stream(<stream>)".
  std::string name = {};
  /// Entries per XREADGROUP / XAUTOCLAIM (COUNT).
  std::size_t batch = 64;
  /// After a full batch, send the next XREADGROUP at once (before this batch
  /// is processed) so the round trip overlaps with the work. Prefetched
  /// entries are kept alive like delivered ones and handed back if the
  /// source ends before taking them (see docs/distributed.md, Pipelining).
  bool prefetch = true;
  /// Items per chunk sent downstream.
  std::size_t chunk = 128;
  /// One blocking read waits at most this long; stop and drain requests and
  /// maintenance (claims, trimming) are looked at in between.
  std::chrono::milliseconds block{100};
  /// Entries of any consumer idle longer than this are claimed (XAUTOCLAIM):
  /// how long a dead worker's entries wait before someone else takes them.
  std::chrono::milliseconds claim_idle{30'000};
  /// How often XAUTOCLAIM runs.
  std::chrono::milliseconds claim_interval{1'000};
  /// Entries this consumer holds (prefetched, waiting for a slow stage,
  /// downstream, or taken and waiting for their batch's XACK) are refreshed
  /// (XCLAIM ... JUSTID) once this old, so no other worker claims them. A
  /// reactor timer does it every keepalive / 2, also while the source is
  /// blocked in a send. 0: claim_idle / 3.
  std::chrono::milliseconds keepalive{0};
  /// An entry whose item failed (or was dropped) is read again after this.
  std::chrono::milliseconds redeliver_after{200};
  /// Deliveries after which an entry goes to the dead-letter stream instead.
  std::uint32_t max_deliveries = 5;
  /// Dead-letter stream; default "<stream>:dead".
  std::string dead_letter_stream = {};
  /// End-of-stream markers (one per producer) to see before the source ends
  /// with the stream drained (lag = pending = 0).
  std::size_t producers = 1;
  /// false: run until stopped or drained by `drain`, ignoring end markers.
  bool wait_for_end = true;
  /// Trim acknowledged history (XTRIM MINID below every group's oldest pending entry).
  bool trim = true;
  std::chrono::milliseconds trim_interval{500};
  /// Graceful stop (SIGTERM): stop reading, let in-flight items finish and be
  /// acknowledged, hand leftovers back, end the source. The run's own stop
  /// token is the hard stop: in-flight items are dropped and handed back.
  std::stop_token drain = {};
  /// How long to wait for in-flight items when the source ends.
  std::chrono::milliseconds settle_timeout{10'000};
  /// Give up (fail the stage) after the server has been unreachable this long.
  std::chrono::milliseconds give_up_after{60'000};
  /// Counters; pass one to read them (see stream_stats.hpp).
  std::shared_ptr<stream_stats> stats = {};
  connection_options connection = {};
};

struct to_stream_options {
  std::string name = {};
  /// Items packed into one entry (1: an entry per item).
  std::size_t pack = 1;
  /// Entries per pipelined XADD batch.
  std::size_t batch = 64;
  /// XADD batches sent before the oldest one's replies are awaited: hides
  /// the round trip (and the reactor/arena hand-offs) behind the next batch.
  /// Every batch in flight is answered before the sink waits for more input
  /// (nothing is held while the input is idle). 1: one batch at a time.
  std::size_t depth = 4;
  /// Backpressure: the producer waits while the largest (lag + pending) over
  /// the stream's groups (the stream length while it has none) plus the next
  /// batch would exceed this many entries. 0: no limit.
  std::size_t capacity = 0;
  /// Groups to create (at id 0) before the first entry, so none is missed.
  std::vector<std::string> groups = {};
  /// Opt-in safety cap: XADD MAXLEN ~ n. It trims unacknowledged entries
  /// (they are lost); a warning is printed when set. 0: off.
  std::size_t max_length = 0;
  /// Producer id for the end marker; default "<hostname>:<pid>".
  std::string producer = {};
  /// Append an end marker when the pipeline ends normally.
  bool mark_end = true;
  /// Give up after the server has been unreachable this long.
  std::chrono::milliseconds give_up_after{60'000};
  std::shared_ptr<stream_stats> stats = {};
  connection_options connection = {};
};

}  // namespace sluice::redis
