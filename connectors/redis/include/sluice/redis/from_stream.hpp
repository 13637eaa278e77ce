// sluice::redis::from_stream: a pipeline source reading a Redis stream as one
// consumer of a consumer group: the worker side of the distributed channel.
//
//   auto stats = std::make_shared<redis::stream_stats>();
//   sluice::run(rt, redis::from_stream(ep, "lines", "parsers", "worker-1", redis::string_serializer{},
//                                      {.claim_idle = 5s, .stats = stats})
//                 | sluice::parallel_map([](redis::message<std::string> m) { return std::move(m).map(parse); })
//                 | redis::commit([&](redis::message<record>& m) { store(m.id(), m.value()); }));
//
// Items are redis::message<T> (message.hpp): acknowledged when the sink took
// them, given back when dropped. Semantics (docs/distributed.md):
//  * at-least-once: an entry is XACKed only after every item packed in it
//    was acked by the sink, together with the other entries of its read
//    batch (one XACK per batch); a crash before that redelivers it;
//  * recovery: this consumer first re-reads its own pending entries (a
//    restart under the same name), claims entries idle longer than
//    `.claim_idle` from any consumer (XAUTOCLAIM), and refreshes every entry
//    it holds, from the read (prefetched ones too) to the ack, so none is
//    claimed from it (XCLAIM ... JUSTID, off a reactor timer);
//  * poison: an entry delivered more than `.max_deliveries` times, or one that
//    cannot be decoded (unknown format version, other serializer format,
//    malformed payload, decode exception), goes to the dead-letter stream
//    with a reason, atomically with its ack (a Lua script);
//  * end: the source ends when every producer's end marker was written and
//    the group's lag and pending are 0 (see `.producers`), or on `.drain`
//    (graceful) or the run's stop token (hard); leftovers are handed back.
//
// Errors: a server error reply (WRONGTYPE, NOSCRIPT, ...) fails the stage; an
// unreachable server is retried until `.give_up_after`, then fails it.
// Lifetime: the runtime must outlive the run; `.stats` may outlive both.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/redis/detail/consumer_core.hpp"
#include "sluice/redis/message.hpp"
#include "sluice/redis/serializer.hpp"
#include "sluice/redis/stream_options.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/source.hpp"

namespace sluice::redis {
namespace detail {

template <serializer S>
class from_stream_source {
 public:
  using T = typename S::value_type;

  from_stream_source(endpoint ep, std::string stream, std::string group, std::string consumer, S ser,
                     from_stream_options options)
      : m_endpoint(std::move(ep)),
        m_stream(std::move(stream)),
        m_group(std::move(group)),
        m_consumer(std::move(consumer)),
        m_serializer(std::move(ser)),
        m_options(std::move(options)) {
    if (!m_options.stats) m_options.stats = std::make_shared<stream_stats>();
    if (m_options.chunk == 0) m_options.chunk = 1;
  }

  [[nodiscard]] sluice::detail::stage_info info() const {
    return {.name = m_options.name.empty() ? "from_stream(" + m_stream + ")" : m_options.name,
            .kind = "source",
            .parameters = m_endpoint.to_string() + " stream " + m_stream + ", group " + m_group + ", consumer " +
                          m_consumer + ", format " + m_serializer.format(),
            .capacity = 0};
  }

  template <typename>
  task<void> run(sluice::detail::stage_io<sluice::detail::none, message<T>>& io) {
    auto core = std::make_shared<consumer_core>(io.rt(), m_endpoint, m_stream, m_group, m_consumer, m_options);
    std::exception_ptr error;
    try {
      co_await core->start();
      co_await read_loop(io, *core);
    } catch (...) {
      error = std::current_exception();
    }
    io.close_output();  // downstream finishes what it has; acks still reach the core
    co_await core->settle();
    if (error) std::rethrow_exception(error);
  }

 private:
  // Hands a batch back when the read loop leaves it (normally or not):
  // entries it neither delivered nor settled are returned for redelivery.
  struct release_guard {
    std::shared_ptr<read_batch> batch;
    ~release_guard() {
      if (batch) batch->release();
    }
  };

  template <typename IO>
  task<void> read_loop(IO& io, consumer_core& core) {
    const std::string format = m_serializer.format();
    std::vector<message<T>> out;
    while (!io.stopped()) {
      std::shared_ptr<read_batch> batch;
      if (m_options.drain.stop_requested()) {
        // Draining: no new reads, but a prefetched batch is already ours.
        batch = co_await core.take_prefetched();
        if (!batch) break;
      } else {
        batch = co_await core.next();
      }
      if (!batch) {
        if (co_await core.drained()) break;
        continue;
      }
      release_guard guard{batch};
      out.clear();
      m_delivered_entries = 0;
      auto& entries = batch->entries();
      for (std::size_t i = 0; i < entries.size(); ++i) {
        auto reason = deliver(core, *batch, i, format, out);
        if (!reason.empty()) {
          co_await core.dead_letter(entries[i], reason);
          batch->settle(i);
        }
      }
      if (out.empty()) continue;
      const std::size_t n = out.size();
      core.count_delivered(m_delivered_entries, n);
      m_delivered_entries = 0;
      sluice::detail::stage_stats::bump(io.stats().items_in, n);
      if (!co_await io.send(out, n)) break;  // downstream stopped: the messages went back
    }
  }

  // Decodes entry `i` of `batch` into messages appended to `out`; returns a
  // dead-letter reason instead when it cannot.
  std::string deliver(consumer_core& core, read_batch& batch, std::size_t i, const std::string& format,
                      std::vector<message<T>>& out) {
    const raw_entry& e = batch.entries()[i];
    auto& decoded = m_decoded;  // reused: one coroutine reads, so one buffer serves every entry
    if (auto reason = decode_entry(e, format, decoded); !reason.empty()) return reason;
    if (decoded.end_marker) {
      core.end_marker(e.id);
      batch.settle(i);
      return std::string();
    }
    if (e.deliveries > m_options.max_deliveries) {
      auto last = core.failure_of(e.id);
      return "delivered " + std::to_string(e.deliveries) + " times (max_deliveries " +
             std::to_string(m_options.max_deliveries) + ") without being acknowledged" +
             (last.empty() ? std::string() : "; last error: " + last);
    }
    auto& values = m_values;
    values.clear();
    for (std::size_t k = 0; k < decoded.items.size(); ++k) {
      try {
        values.push_back(m_serializer.decode(decoded.items[k]));
      } catch (const std::exception& ex) {
        return "cannot decode item " + std::to_string(k) + " as " + format + ": " + printable(ex.what(), 300);
      }
    }
    // Counted before the messages exist: none can resolve the entry before.
    batch.deliver(i, static_cast<std::uint32_t>(values.size()));
    ++m_delivered_entries;
    // Not owning: the core's held list owns the batch until every entry is
    // settled, which takes every message's resolve first. An aliasing
    // shared_ptr without a control block costs no atomic reference count per
    // message (one shared count across a batch's messages bounced between
    // the source's and the sink's threads).
    const std::shared_ptr<entry_ack> ack(std::shared_ptr<entry_ack>(), &batch);
    const auto slot = static_cast<std::uint32_t>(i);
    for (std::size_t k = 0; k < values.size(); ++k)
      out.emplace_back(std::move(values[k]), ack, slot, static_cast<std::uint32_t>(k));
    return std::string();
  }

  endpoint m_endpoint;
  std::string m_stream;
  std::string m_group;
  std::string m_consumer;
  S m_serializer;
  from_stream_options m_options;
  // Scratch for deliver(), reused across entries (only the read loop uses them).
  decoded_entry m_decoded;
  std::vector<T> m_values;
  std::size_t m_delivered_entries = 0;  // of the batch being read, counted once per batch
};

}  // namespace detail

/// A source of redis::message<S::value_type> from `stream` as `consumer` of
/// `group` (created at id 0 if missing). See the file comment.
template <serializer S>
auto from_stream(endpoint ep, std::string stream, std::string group, std::string consumer, S ser,
                 from_stream_options options = {}) {
  using T = typename S::value_type;
  auto chunk = options.chunk ? options.chunk : std::size_t{1};
  return sluice::detail::make_source<message<T>>(
      detail::from_stream_source<S>(std::move(ep), std::move(stream), std::move(group), std::move(consumer),
                                    std::move(ser), std::move(options)),
      chunk);
}

}  // namespace sluice::redis
