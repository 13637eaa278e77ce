// The item type of an ordered async_map's result-slot channel, and its
// channel, compiled once in the library (stages/src/chunk_channels.cpp).
//
// Neither of async_map's internal channels depends on the stage's types: the
// unordered feeder hands its workers single-item chunks over a channel of
// chunk<In>, the family the stage's own input channel already instantiates,
// and the ordered dispatcher queues type-erased result slots. A per-type
// channel family costs a program about 0.1 s of compile time even when the
// library compiled it, because declaring it `extern` instantiates the class
// and its members' declarations (docs/architecture.md, "Header cost").
#pragma once

#include <utility>

#include "sluice/core/channel.hpp"
#include "sluice/core/oneshot.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/stages/detail/bounded_send.hpp"
#include "sluice/stages/detail/maybe.hpp"

namespace sluice::detail {

// A running item's result in an ordered async_map: the join handle of the
// item's task, its output type erased. take<Out>() gives the handle back;
// Out must be the type the slot was made from. Dropping a slot detaches
// the task, as dropping its join handle does.
class async_map_slot {
 public:
  // Its channels always have at least one slot (concurrency >= 1): no
  // unbounded channel code (core/detail/channel_state.hpp).
  using bounded_channel_only = void;

  async_map_slot() = default;
  template <typename Out>
  explicit async_map_slot(join_handle<maybe<Out>>&& handle) noexcept
      : m_result(join_handle_access::receiver(std::move(handle))) {}

  /// True once the item's task has finished (awaiting it would not suspend).
  [[nodiscard]] bool done() const noexcept { return m_result.ready(); }

  template <typename Out>
  [[nodiscard]] join_handle<maybe<Out>> take() && noexcept {
    return join_handle<maybe<Out>>{std::move(m_result).template take<maybe<Out>>()};
  }

 private:
  erased_oneshot m_result;
};

}  // namespace sluice::detail

// See SLUICE_DETAIL_CHANNEL_INSTANCES (detail/chunk.hpp).
SLUICE_DETAIL_CHANNEL_INSTANCES(extern, sluice::detail::async_map_slot)
