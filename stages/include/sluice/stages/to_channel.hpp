// sluice::to_channel(tx): sends every item into a channel the user reads.
//
// Backpressure carries on into that channel: a full channel pauses the
// pipeline. The channel is closed when the pipeline ends (`.close = false`
// keeps it open, e.g. when several pipelines feed it) and always when the
// run is cancelled, so a cancelled run never waits on a reader that left.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "sluice/core/channel.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {

struct to_channel_options {
  std::string name = {};
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the input channel holds; 0 = no bound in
  /// bytes. A chunk larger than this still passes, alone.
  std::size_t capacity_bytes = 0;
  /// Close `tx` when the pipeline ends.
  bool close = true;
};

namespace detail {

template <typename T>
class to_channel_stage : public stage_base<to_channel_stage<T>, to_channel_options> {
 public:
  template <typename In>
  using output = none;

  to_channel_stage(channel_sender<T> tx, to_channel_options options)
      : stage_base<to_channel_stage<T>, to_channel_options>(std::move(options), "to_channel"), m_tx(std::move(tx)) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool same = std::is_same_v<In, T>;
    static_assert(same, "sluice::to_channel: the channel's item type must equal the pipeline's");
    return same;
  }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    io.state().on_cancel([tx = m_tx]() { tx.close(); });
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      std::size_t sent = 0;  // counted once per chunk (see for_each)
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped() || !co_await m_tx.send(items[i])) {
          io.drop(items.size() - i);
          if (!io.stopped()) io.input().close();  // the reader left: stop upstream
          break;
        }
        ++sent;
      }
      io.completed(sent);
    }
    if (this->m_options.close) m_tx.close();
  }

 private:
  channel_sender<T> m_tx;
};

}  // namespace detail

/// Sends every item into `tx`; closes it at the end unless `.close = false`.
template <typename T>
auto to_channel(channel_sender<T> tx, to_channel_options options = {}) {
  return detail::to_channel_stage<T>(std::move(tx), std::move(options));
}

}  // namespace sluice
