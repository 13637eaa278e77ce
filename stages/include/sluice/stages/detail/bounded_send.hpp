// What the channels between stages carry (chunks of items), and the send
// through a run's memory bounds (pipeline.hpp, "Memory bounds"): shared by
// stage_io and the fan-out nodes of topologies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/byte_gate.hpp"
#include "sluice/stages/detail/memory_bounds.hpp"
#include "sluice/stages/item_bytes.hpp"

namespace sluice::detail {

/// The "type" flowing out of a sink and into a source.
struct none {};

/// What the channels between stages carry: a chunk of items and its
/// position in the sending stage's output. Sequence numbers are needed
/// because a channel keeps order per sending *thread*, and a stage coroutine
/// moves between threads, so consecutive chunks may overtake each other.
template <typename T>
struct chunk {
  // Stage channels are always bounded (channel_chunks): no unbounded
  // channel code per item type (core/detail/channel_state.hpp).
  using bounded_channel_only = void;
  std::uint64_t seq = 0;
  std::vector<T> items;
  std::size_t bytes = 0;  // sluice::item_bytes of the items, when the run has a bound in bytes
};

/// Sends `c` through the memory bounds of a run: waits for room in the
/// receiving stage's byte bound (`gate`, may be null), and, when
/// `holds_back` (the source's coroutine only), in the limits in flight; the
/// stages after the source count into those without waiting. Whatever was
/// taken is given back if the chunk does not go. The receiver gives it back
/// when the chunk leaves its channel (stage_io's left_channel).
template <typename T>
task<bool> send_through_bounds(memory_bounds& bounds, byte_gate* gate, bool holds_back, channel_sender<chunk<T>>& tx,
                               chunk<T> c) {
  if (gate || bounds.flight_bytes)
    for (const auto& item : c.items) c.bytes += item_bytes(item);
  struct claim {
    byte_gate* gate;
    std::size_t size;
    bool wait;
  };
  const std::array<claim, 3> claims{{{gate, c.bytes, true},
                                     {bounds.flight_items.get(), c.items.size(), holds_back},
                                     {bounds.flight_bytes.get(), c.bytes, holds_back}}};
  std::size_t taken = 0;
  for (; taken < claims.size(); ++taken) {
    const claim& next = claims[taken];
    if (!next.gate) continue;
    if (!next.wait) {
      next.gate->add(next.size);
      continue;
    }
    auto admit = next.gate->acquire(next.size);
    if (!co_await admit) break;  // the run stopped
  }
  bool ok = false;
  if (taken == claims.size()) {
    auto sending = tx.send(c);
    ok = co_await sending;
  }
  if (!ok) {
    for (std::size_t i = 0; i < taken; ++i)
      if (claims[i].gate) claims[i].gate->release(claims[i].size);
  }
  co_return ok;
}

}  // namespace sluice::detail

// The channel code for chunks of the most common item types is compiled once,
// in the library (stages/src/chunk_channels.cpp), instead of in every program
// that runs a pipeline over them: about a tenth of a small pipeline's object
// code (docs/architecture.md, "Header cost"). Channels hold no coroutine, so
// the library's copy is the same code whatever the program's optimisation
// level. SLUICE_DETAIL_CHANNEL_INSTANCES(X, T) spells the instantiations of
// the channel of T; X is `extern` here and empty in the library.
#define SLUICE_DETAIL_CHANNEL_INSTANCES(X, T)                \
  X template class sluice::detail::channel_state<T>;         \
  X template class sluice::detail::channel_ring<T>;          \
  X template class sluice::detail::channel_handle<T, true>;  \
  X template class sluice::detail::channel_handle<T, false>; \
  X template class sluice::channel_sender<T>;                \
  X template class sluice::channel_receiver<T>;              \
  X template std::pair<sluice::channel_sender<T>, sluice::channel_receiver<T>> sluice::channel<T>(std::size_t);
// The item types whose stage channels the library compiles.
#define SLUICE_DETAIL_COMMON_ITEM_TYPES(M, X) \
  M(X, int)                                   \
  M(X, unsigned)                              \
  M(X, long)                                  \
  M(X, unsigned long)                         \
  M(X, double)                                \
  M(X, std::string)
#define SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES(X, T) SLUICE_DETAIL_CHANNEL_INSTANCES(X, sluice::detail::chunk<T>)
SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES(extern, sluice::detail::none)
SLUICE_DETAIL_COMMON_ITEM_TYPES(SLUICE_DETAIL_CHUNK_CHANNEL_INSTANCES, extern)
