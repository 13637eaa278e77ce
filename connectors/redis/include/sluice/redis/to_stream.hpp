// sluice::redis::to_stream: a pipeline sink appending items to a Redis
// stream: the producer side of the distributed channel.
//
//   sluice::run(rt, sluice::from(lines)
//                 | redis::to_stream(ep, "lines", redis::string_serializer{},
//                                    {.pack = 16, .capacity = 10'000, .groups = {"parsers"}}));
//
// Items (T, or redis::message<T> coming from another stream, acked once
// their entry was added) are encoded by the serializer, `.pack` to an entry
// (entry_format.hpp), and appended with pipelined XADDs of up to `.batch`
// entries, one batch per received chunk at most, so an item never waits for
// later ones; up to `.depth` batches are in flight before the oldest one's
// replies are awaited (items are counted done, and messages acked, when
// their batch is answered), and every batch is answered before the sink
// waits for more input, so nothing is held while the input is idle.
// Backpressure: with `.capacity`, the sink waits (holding the
// pipeline back, as a full channel does) while the groups' lag + pending
// would exceed it. When the pipeline ends normally an end marker is
// appended (`.mark_end`); a cancelled run appends none.
//
// Errors: a server error reply fails the stage; a broken connection is
// retried (the batch may then be appended twice) up to `.give_up_after`; an
// item the serializer cannot encode fails the stage with the item's index.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/redis/detail/producer_core.hpp"
#include "sluice/redis/entry_format.hpp"
#include "sluice/redis/message.hpp"
#include "sluice/redis/serializer.hpp"
#include "sluice/redis/stream_options.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice::redis {
namespace detail {

template <serializer S>
class to_stream_sink {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = sluice::detail::none;
  using T = typename S::value_type;

  to_stream_sink(endpoint ep, std::string stream, S ser, to_stream_options options)
      : m_endpoint(std::move(ep)),
        m_stream(std::move(stream)),
        m_serializer(std::move(ser)),
        m_options(std::move(options)) {
    if (!m_options.stats) m_options.stats = std::make_shared<stream_stats>();
  }

  template <typename In>
  static constexpr void check() {
    static_assert(std::is_same_v<In, T> || std::is_same_v<In, message<T>>,
                  "sluice::redis::to_stream: the items reaching the sink must be the serializer's value_type "
                  "(or redis::message of it)");
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] sluice::detail::stage_info info() const {
    return {.name = m_options.name.empty() ? "to_stream(" + m_stream + ")" : m_options.name,
            .kind = "sink",
            .parameters = m_endpoint.to_string() + " stream " + m_stream + ", pack " + std::to_string(m_options.pack) +
                          ", format " + m_serializer.format() +
                          (m_options.capacity ? ", capacity " + std::to_string(m_options.capacity) : std::string()),
            .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return 0; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(sluice::detail::stage_io<In, sluice::detail::none>& io) {
    auto core = std::make_shared<producer_core>(io.rt(), m_endpoint, m_stream, m_serializer.format(), m_options);
    co_await core->start();
    const std::size_t pack = core->options().pack, batch = core->options().batch, depth = core->options().depth;
    std::function<bool()> stopped = [&io] { return io.stopped(); };
    std::vector<packed_entry> entries;
    std::deque<sent<In>> window;  // batches sent, oldest first
    for (;;) {
      auto in = io.try_recv();
      if (!in) {
        // Nothing waiting: finish the batches in flight before idling. Held
        // back, their messages would stay unacknowledged while the sink
        // waits, and an upstream from_stream waits for exactly those acks
        // before its stream counts as drained: neither would move again.
        while (!window.empty()) co_await complete_oldest(*core, window, io);
        in = co_await io.recv();
        if (!in) break;
      }
      auto& items = in->items;
      std::size_t sent_up_to = 0;  // items of this chunk inside sent batches
      std::size_t packed = 0;      // items of this chunk inside `entries` or sent
      packed_entry current;
      for (std::size_t i = 0; i < items.size(); ++i) {
        append_item(current.payload, [&](std::string& out) { m_serializer.encode(value_of(items[i]), out); });
        if (++current.items == pack || i + 1 == items.size()) {
          entries.push_back(std::exchange(current, {}));
          packed = i + 1;
        }
        if (!entries.empty() && (entries.size() == batch || i + 1 == items.size())) {
          while (window.size() >= depth) co_await complete_oldest(*core, window, io);
          auto batch_sent = co_await core->send(entries, stopped);
          if (!batch_sent) {
            // Stopped while waiting for room: what was sent may or may not
            // be in the stream; messages not acked are given back.
            for (auto& w : window) io.drop(w.count);
            io.drop(items.size() - sent_up_to);
            co_return;
          }
          sent<In> one{std::move(*batch_sent), packed - sent_up_to, {}};
          if constexpr (is_message<In>) {
            one.held.reserve(one.count);
            for (std::size_t k = sent_up_to; k < packed; ++k) one.held.push_back(std::move(items[k]));
          }
          sent_up_to = packed;
          window.push_back(std::move(one));
        }
      }
    }
    while (!window.empty()) co_await complete_oldest(*core, window, io);
    if (m_options.mark_end && !io.stopped()) co_await core->mark_end();
  }

 private:
  // A sent batch and what it carries: a count, plus the messages to ack
  // once it is answered when the items came from another stream.
  template <typename In>
  struct sent {
    batch_in_flight batch;
    std::size_t count = 0;
    std::vector<In> held;
  };

  template <typename In, typename IO>
  static task<void> complete_oldest(producer_core& core, std::deque<sent<In>>& window, IO& io) {
    auto& oldest = window.front();
    co_await core.complete(oldest.batch);
    io.completed(oldest.count);
    for (auto& m : oldest.held) acknowledge(m);
    window.pop_front();
  }

  static const T& value_of(const T& v) { return v; }
  static const T& value_of(const message<T>& m) { return m.value(); }
  static void acknowledge(T&) {}
  static void acknowledge(message<T>& m) { m.ack(); }

  endpoint m_endpoint;
  std::string m_stream;
  S m_serializer;
  to_stream_options m_options;
};

}  // namespace detail

/// A sink appending items to `stream` (see the file comment).
template <serializer S>
auto to_stream(endpoint ep, std::string stream, S ser, to_stream_options options = {}) {
  return detail::to_stream_sink<S>(std::move(ep), std::move(stream), std::move(ser), std::move(options));
}

}  // namespace sluice::redis
