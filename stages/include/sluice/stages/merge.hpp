// sluice::merge: fan-in. Several flows of the same item type become one.
//
//   auto all = sluice::merge(sluice::from(a) | sluice::map(parse),
//                            sluice::from(b) | sluice::map(parse));
//   sluice::run(rt, std::move(all) | sluice::to_vector(out));
//
//   sluice::merge({.name = "shards", .capacity = 256}, f0, f1, f2);   // with options
//   sluice::merge(std::move(vector_of_flows));                        // any number
//
// Every input runs concurrently; the merged flow carries each item once.
// Order: the items of one input keep their order (when that input is
// ordered); items of different inputs interleave as they arrive, so the
// stage after a merge does not reorder across inputs.
//
// How: each input sends into a bounded channel of its own (`.capacity`
// items); one join coroutine per input forwards its chunks into the next
// stage's channel through a sender handle of its own. A slow consumer
// therefore blocks every input (memory stays bounded: at most `.capacity`
// items per input wait at the join). The join appears in describe(), the
// dot graph and the report as one stage of kind "merge" (its items_in is
// the sum over the inputs); the stages of input i are labelled
// "<name> input i" (or "<name> input 'eu'" for sluice::named("eu", flow),
// named.hpp), and an error in one of them names that input.
//
// Cancellation, errors: one run, one stop token. An input that fails fails
// the run; the others stop. An input that ends early (its source ran dry)
// just stops contributing; the merged flow ends when all inputs ended.
//
// Thread-safety, lifetime: as for flows (pipeline.hpp). The inputs are
// consumed (moved from).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/detail/topology.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice {

/// Options of merge(); designated-initialiser friendly.
struct merge_options {
  /// Shown in describe() and reports; defaults to "merge".
  std::string name = {};
  /// Items each input may have waiting at the join; 0 = default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) all inputs together may have waiting at the
  /// join; 0 = no bound in bytes. A chunk larger than this passes, alone.
  std::size_t capacity_bytes = 0;
};

/// Merges `inputs` (at least one) into one flow; see the file comment.
template <typename T>
flow<T> merge(std::vector<flow<T>> inputs, merge_options options = {}) {
  using namespace detail;
  if (inputs.empty()) throw std::logic_error("sluice::merge: needs at least one input");
  const std::string name = options.name.empty() ? "merge" : options.name;
  std::size_t out_chunk = 1;
  for (const auto& in : inputs) out_chunk = std::max(out_chunk, in.chunk());

  struct input_plan {
    typename flow<T>::launcher launch;
    std::size_t offset;
    std::size_t chunks;  // its channel, in chunks
    bool ordered;
  };
  std::vector<stage_info> stages;
  std::vector<std::size_t> tails;
  std::vector<input_plan> plans;
  std::size_t capacity = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto& in = inputs[i];
    const std::size_t chunk_items = std::max<std::size_t>(1, in.chunk());
    const std::size_t chunks = channel_chunks(options.capacity ? options.capacity : default_capacity, chunk_items);
    capacity += chunks * chunk_items;
    const bool ordered = in.ordered();
    auto placed =
        place_subflow(stages, in.take_stages(), entry_input, branch_label(name, "input", i, in.branch_name()));
    tails.push_back(placed.tail);
    plans.push_back({in.take_launcher(), placed.offset, chunks, ordered});
  }
  const std::size_t join = stages.size();
  stages.push_back(join_info(options.name, "merge", std::move(tails), capacity));
  stages.back().capacity_bytes = options.capacity_bytes;
  stages.back().parameters +=
      ", per input capacity " + std::to_string(options.capacity ? options.capacity : default_capacity);

  auto shared_plans = std::make_shared<std::vector<input_plan>>(std::move(plans));
  auto launch = [shared_plans, join](pipeline_state& state, channel_sender<chunk<T>> out) {
    auto open = std::make_shared<std::atomic<std::size_t>>(shared_plans->size());
    for (auto& plan : *shared_plans) {
      auto [tx, rx] = channel<chunk<T>>(plan.chunks);
      state.close_on_cancel(rx);
      {
        index_scope scope(state, plan.offset);
        plan.launch(state, std::move(tx));
      }
      state.start(run_join_input<T>(open, stage_io<T, T>(state, join, std::move(rx), out, plan.ordered)));
    }
  };
  // Unordered across inputs: the next stage must not reorder by sequence
  // numbers, which the inputs number independently.
  return flow<T>(std::move(stages), std::move(launch), out_chunk, false);
}

/// merge() of two or more flows of the same item type.
template <typename T, typename... More>
flow<T> merge(flow<T> first, flow<More>... more) {
  return merge(merge_options{}, std::move(first), std::move(more)...);
}

/// merge() with options first: merge({.name = "all"}, f0, f1).
template <typename T, typename... More>
flow<T> merge(merge_options options, flow<T> first, flow<More>... more) {
  constexpr bool same = (std::is_same_v<T, More> && ...);
  static_assert(same, "sluice::merge: every input must produce the same item type");
  if constexpr (same) {
    std::vector<flow<T>> inputs;
    inputs.reserve(1 + sizeof...(More));
    inputs.push_back(std::move(first));
    (inputs.push_back(std::move(more)), ...);
    return merge(std::move(inputs), std::move(options));
  } else {
    return detail::poisoned_flow{};  // the static_assert above is the only error
  }
}

}  // namespace sluice
