// The send of a chunk through a run's memory bounds (pipeline.hpp, "Memory
// bounds"): shared by stage_io and the fan-out nodes of topologies.
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
#include "sluice/stages/detail/chunk.hpp"
#include "sluice/stages/detail/memory_bounds.hpp"
#include "sluice/stages/item_bytes.hpp"

namespace sluice::detail {

/// Sends `c` through the memory bounds of a run: waits for room in the
/// receiving stage's byte bound (`gate`, may be null), and, when
/// `holds_back` (the source's coroutine only), in the limits in flight; the
/// stages after the source count into those without waiting. Whatever was
/// taken is given back if the chunk does not go. The receiver gives it back
/// when the chunk leaves its channel (stage_io's left_channel). `c.bytes`
/// is already counted (send_through_bounds<T>).
///
/// One coroutine for every item type, where it was one per type
/// (docs/architecture.md, "Header cost"). A template only so that it is
/// compiled where it is used: g++ emits an inline coroutine that is not a
/// template in every translation unit that includes it. In the headers,
/// since a coroutine's code depends on the task protocol a program is
/// compiled with (core/task.hpp): not to be used in the library's .cpp files.
template <typename Lazy = void>
task<bool> send_counted_through_bounds(memory_bounds& bounds, byte_gate* gate, bool holds_back,
                                       channel_sender<chunk_record>& tx, chunk_record c) {
  struct claim {
    byte_gate* gate;
    std::size_t size;
    bool wait;
  };
  const std::array<claim, 3> claims{{{gate, c.bytes, true},
                                     {bounds.flight_items.get(), c.item_count(), holds_back},
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

/// Adds the sluice::item_bytes of `c`'s items (of type T) to `c.bytes`.
template <typename T>
void count_item_bytes(chunk_record& c) {
  for (const auto& item : c.template items<T>()) c.bytes += item_bytes(item);
}

/// Counts the bytes of `c`'s items (of type T) when a bound in bytes needs
/// them, then sends it as send_counted_through_bounds does.
template <typename T>
task<bool> send_through_bounds(memory_bounds& bounds, byte_gate* gate, bool holds_back, channel_sender<chunk<T>>& tx,
                               chunk<T> c) {
  if (gate || bounds.flight_bytes) count_item_bytes<T>(c);
  return send_counted_through_bounds(bounds, gate, holds_back, tx, std::move(c));
}

}  // namespace sluice::detail
