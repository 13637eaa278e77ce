// sluice::partition: items with the same key go, in order, to the same one
// of n lanes, each running its own copy of a stage.
//
//   // per-user sessions, no locks: each lane's map keeps the state of its users only
//   from(events)
//     | sluice::partition([](const event& e) { return e.user; }, 4,
//                         sluice::map([sessions = session_table{}](event e) mutable { return sessions.update(e); }))
//     | sluice::to_vector(updates);
//
//   // a lane as a chain (and its number, if the function takes one), ending in a sink or not
//   ... | sluice::partition(key, 8, [&](auto lane, std::size_t i) {
//           return std::move(lane) | sluice::map(parse) | sluice::for_each(shard_writer(i)); });
//
// The lane of an item is std::hash of key(item) modulo n. The lane argument
// is a stage (copied once per lane, so a map's function object, and the
// state it holds, is per lane; sluice::stage(s) shares one struct, so pass a
// custom stage struct itself or a function instead), a custom stage struct,
// or a function taking the lane's flow<T> (and optionally the lane number)
// and returning a flow or a pipeline. Lanes that end in sinks make
// partition the end of the pipeline; otherwise their outputs are joined
// into one flow (a "join" stage), in no order across lanes.
//
// Order: within a lane, items arrive in the upstream order, so all items of
// one key are seen in order by one lane (a lane stage that reorders, such as
// an unordered async_map, gives that up). Keep per-key state in the lane
// stage without locks: one lane runs one stage copy, sequentially for
// sequential stages.
//
// Pace and memory: the node routes each received chunk, takes what is
// already waiting (about a chunk per lane), then sends each lane its share,
// waiting while that lane's channel is full. A slow lane (say, one hot key)
// therefore blocks the producer instead of growing a queue: memory stays at
// the lanes' capacities plus about one chunk per lane at the node.
//
// Accounting: the node ("partition") counts an item as items_out when its
// lane took it; `emitted` equals the sum of the lanes' first stages'
// items_in. A lane that stops reading early gets nothing more (its items
// are dropped); the node stops when no lane reads. A failing lane stage
// fails the run with the lane named ("partition lane 3", or "partition
// lane 'eu'" with `.lane_names`).
//
// A key function that throws is handled by `.on_error`, as a stage's
// function would be: by default the run fails, naming the node and the
// item ("stage 'partition' (#1) on item 600: ..."); with retries it is
// called again at once; with skip_to(sink) the item goes to the dead
// letters, counted as `failed` by the node, and the rest is routed. So the
// node's items_in = items_out + dropped + failed + cancelled, always.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/channel.hpp"
#include "sluice/core/detail/std_parts.hpp"
#include "sluice/core/task.hpp"
#include "sluice/stages/detail/topology.hpp"
#include "sluice/stages/error_policy.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice {

/// Options of partition(); designated-initialiser friendly.
struct partition_options {
  /// Shown in describe() and reports, and in lane labels; defaults to "partition".
  std::string name = {};
  /// Items the node's input channel holds; 0 = default_capacity. Each
  /// lane's first stage has its own capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the node's input channel holds; 0 = no bound
  /// in bytes. Each lane's first stage has its own `.capacity_bytes`.
  std::size_t capacity_bytes = 0;
  /// Names of the lanes (one per lane, or none): lane i is labelled
  /// "<name> lane 'lane_names[i]'" instead of "<name> lane i" in errors,
  /// describe(), the dot graph and the report.
  std::vector<std::string> lane_names = {};
  /// What to do when the key function throws (default: fail fast, naming
  /// the node and the item). Retries call it again at once; skip_to(sink)
  /// sends the item to the dead letters (counted as failed by the node)
  /// and routes the rest.
  error_policy on_error = {};
};

namespace detail {

/// Routes items into per-lane buffers and sends them; see the file comment.
template <typename T, typename K>
class partition_router {
 public:
  partition_router(stage_io<T, none>& io, std::vector<node_output<T>>& lanes, K& key, std::size_t chunk_items,
                   const error_policy& on_error)
      : m_io(io), m_lanes(lanes), m_key(key), m_chunk(chunk_items), m_on_error(on_error), m_pending(lanes.size()) {}

  /// Puts the items of `in` into their lanes' buffers. An item whose key
  /// function throws is handled by the policy: skipped (a dead letter,
  /// counted as failed), or, failing fast, the run fails, the rest of the
  /// chunk is dropped and route returns false.
  bool route(input_chunk<T>& in) {
    const auto started = std::chrono::steady_clock::now();
    bool ok = true;
    const std::size_t n = m_lanes.size();
    // h % n, without a division per item when n is a power of two.
    const bool power_of_two = (n & (n - 1)) == 0;
    auto lane_of = [this, n, power_of_two](const T& item) {
      const std::size_t h = std::hash<key_t>{}(detail::invoke(m_key, item));
      return power_of_two ? h & (n - 1) : h % n;
    };
    if (!m_on_error.keeps_items()) {
      ok = route_fail_fast(in, lane_of);
      m_io.stats().busy(std::chrono::steady_clock::now() - started);
      return ok;
    }
    for (std::size_t i = 0; i < in.items.size(); ++i) {
      auto lane = m_io.call_in_place(m_on_error, lane_of, in.items[i], in.first_index + i);
      if (!lane) {
        if (!m_io.stopped()) continue;  // skipped, as the policy says
        m_io.drop(in.items.size() - i - 1);
        ok = false;
        break;
      }
      m_pending[*lane].push_back(std::move(in.items[i]));
      ++m_held;
    }
    m_io.stats().busy(std::chrono::steady_clock::now() - started);
    return ok;
  }

  /// route() without retries or dead letters: one loop over the chunk with
  /// no per-item error bookkeeping (a throwing key fails the run at that
  /// item, as call_in_place would).
  template <typename LaneOf>
  bool route_fail_fast(input_chunk<T>& in, LaneOf& lane_of) {
    auto& items = in.items;
    std::size_t i = 0;
    std::exception_ptr error;
    try {
      for (; i < items.size(); ++i) m_pending[lane_of(std::as_const(items[i]))].push_back(std::move(items[i]));
    } catch (...) {
      error = std::current_exception();
    }
    m_held += i;
    if (!error) return true;
    m_io.template item_failed<T>(m_on_error, in.first_index + i, &items[i], std::move(error));
    m_io.drop(items.size() - i - 1);
    return false;
  }

  /// True while the buffers hold less than about a chunk per lane.
  [[nodiscard]] bool room() const noexcept { return m_held < m_chunk * m_lanes.size(); }

  /// Sends every non-empty buffer to its lane.
  task<void> flush() {
    for (std::size_t l = 0; l < m_lanes.size(); ++l) {
      if (m_pending[l].empty()) continue;
      const std::size_t k = m_pending[l].size();
      m_held -= k;
      if (!m_lanes[l].open || m_io.stopped()) {
        m_pending[l].clear();
        m_io.drop(k);
        continue;
      }
      auto items = std::exchange(m_pending[l], {});
      m_pending[l].reserve(m_chunk);
      auto sending = send_to(m_io, m_lanes[l], std::move(items));
      if (co_await std::move(sending)) {
        m_io.completed(k);
      } else {
        m_io.drop(k);
      }
    }
  }

  /// Drops whatever the buffers still hold (after an exception).
  void drop_pending() {
    for (auto& p : m_pending) {
      m_io.drop(p.size());
      p.clear();
    }
    m_held = 0;
  }

  [[nodiscard]] bool any_open() const noexcept {
    for (const auto& lane : m_lanes)
      if (lane.open) return true;
    return false;
  }

 private:
  using key_t = std::decay_t<std::invoke_result_t<K&, const T&>>;
  stage_io<T, none>& m_io;
  std::vector<node_output<T>>& m_lanes;
  K& m_key;
  std::size_t m_chunk;
  const error_policy& m_on_error;
  std::vector<std::vector<T>> m_pending;
  std::size_t m_held = 0;
};

template <typename T, typename K>
task<void> run_partition(stage_io<T, none> io, std::vector<node_output<T>> lanes, std::shared_ptr<K> key,
                         std::size_t chunk_items, std::shared_ptr<const error_policy> on_error) {
  partition_router<T, K> router(io, lanes, *key, chunk_items, *on_error);
  try {
    while (auto in = co_await io.recv()) {
      if (io.stopped() || !router.any_open()) {
        io.drop(in->items.size());
        if (!router.any_open()) break;  // no lane reads any more: the drain drops the rest
        continue;
      }
      if (router.route(*in)) {
        while (router.room()) {
          auto more = io.try_recv();
          if (!more || !router.route(*more)) break;
        }
      }
      co_await router.flush();  // after a failed key, the run is stopped: this drops what was routed
    }
  } catch (...) {
    router.drop_pending();
    io.fail_unindexed(std::current_exception());
  }
  co_await finish_node(io, lanes);
}

/// What partition() returns; attached with operator|.
template <typename K, typename L>
class partition_node {
 public:
  partition_node(K key_fn, std::size_t lane_count, L lane_stage, partition_options opts)
      : m_key(std::move(key_fn)), m_lanes(lane_count), m_lane(std::move(lane_stage)), m_options(std::move(opts)) {}

  // For operator|.
  [[nodiscard]] K& key() noexcept { return m_key; }
  [[nodiscard]] std::size_t lanes() const noexcept { return m_lanes; }
  [[nodiscard]] L& lane() noexcept { return m_lane; }
  [[nodiscard]] const partition_options& options() const noexcept { return m_options; }

 private:
  K m_key;
  std::size_t m_lanes;
  L m_lane;
  partition_options m_options;
};

template <typename T, typename K>
constexpr bool check_partition_key() {
  constexpr bool callable = std::invocable<K&, const T&>;
  static_assert(callable, "sluice::partition: the key function cannot be called with a const reference to the item");
  if constexpr (callable) {
    using key_t = std::decay_t<std::invoke_result_t<K&, const T&>>;
    constexpr bool hashable = std::is_default_constructible_v<std::hash<key_t>>;
    static_assert(hashable, "sluice::partition: the key type has no std::hash specialisation");
    return hashable;
  }
  return false;
}

template <typename T, typename K, typename L>
constexpr bool check_partition() {
  constexpr bool unnamed = !is_named_branch<L>;
  static_assert(unnamed, "sluice::partition: the lanes share one specification; name them with .lane_names");
  if constexpr (!unnamed) {
    return false;
  } else if constexpr (!check_partition_key<T, K>()) {
    return false;
  } else {
    using lane_t = decltype(make_branch(std::declval<L&>(), std::declval<flow<T>>(), std::size_t{}));
    constexpr bool ok = std::is_same_v<lane_t, pipeline> || is_flow<lane_t>;
    static_assert(ok,
                  "sluice::partition: a lane must be a stage, a custom stage struct, or a function taking the lane's "
                  "flow<T> (and optionally its number) and returning a flow or a pipeline");
    return ok;
  }
}

}  // namespace detail

/// Routes items by key(item) to `lanes` lanes running `lane`; see the file comment.
template <typename K, typename L>
auto partition(K key, std::size_t lanes, L lane, partition_options options = {}) {
  if (lanes == 0) throw std::logic_error("sluice::partition: needs at least one lane");
  if (!options.lane_names.empty() && options.lane_names.size() != lanes)
    throw std::logic_error("sluice::partition: " + std::to_string(options.lane_names.size()) + " lane names for " +
                           std::to_string(lanes) + " lanes");
  return detail::partition_node<K, L>(std::move(key), lanes, std::move(lane), std::move(options));
}

/// Attaches a partition: a flow of the lanes' joined output, or a pipeline
/// when the lanes end in sinks.
template <typename T, typename K, typename L>
auto operator|(flow<T> upstream, detail::partition_node<K, L> node) {
  using namespace detail;
  if constexpr (!check_partition<T, K, L>()) {
    return poisoned_flow{};  // its static_assert is the only error
  } else {
    using lane_t = decltype(make_branch(node.lane(), std::declval<flow<T>>(), std::size_t{}));
    constexpr bool sink_lanes = std::is_same_v<lane_t, pipeline>;
    const std::string name = node.options().name.empty() ? "partition" : node.options().name;
    const std::size_t n = node.lanes();
    const std::size_t chunk_items = std::max<std::size_t>(1, upstream.chunk());
    const bool ordered = upstream.ordered();
    const std::string branch_name = upstream.branch_name();  // sluice::named(name, flow) | partition keeps the name
    const std::size_t chunks =
        channel_chunks(node.options().capacity ? node.options().capacity : default_capacity, chunk_items);
    auto stages = upstream.take_stages();
    const std::size_t at = stages.size();
    stages.push_back({.name = name,
                      .kind = "partition",
                      .parameters = std::to_string(n) + " lanes by key",
                      .capacity = chunks * chunk_items,
                      .inputs = std::nullopt,
                      .branch = {}});
    stages.back().capacity_bytes = node.options().capacity_bytes;

    std::vector<entry_slot<T>> slots;
    std::vector<lane_t> lane_flows;
    std::vector<std::size_t> offsets, consumers, tails;
    for (std::size_t i = 0; i < n; ++i) {
      slots.push_back(std::make_shared<channel_sender<chunk<T>>>());
      lane_flows.push_back(make_branch(node.lane(), branch_entry<T>(slots.back(), chunk_items, ordered), i));
      std::vector<stage_info> lane_stages = lane_flows.back().stages();
      const bool empty = lane_stages.empty();
      const std::string label = branch_label(
          name, "lane", i, node.options().lane_names.empty() ? std::string() : node.options().lane_names[i]);
      auto placed = place_subflow(stages, std::move(lane_stages), at, label);
      if (!empty) require_fed(placed, "partition", label);
      offsets.push_back(placed.offset);
      consumers.push_back(placed.consumer);  // entry_input for an empty lane: the join, set below
      tails.push_back(placed.tail);
    }
    auto key = std::make_shared<K>(std::move(node.key()));
    auto on_error = std::make_shared<const error_policy>(node.options().on_error);

    if constexpr (sink_lanes) {
      std::vector<std::function<void(pipeline_state&)>> launchers;
      for (auto& p : lane_flows)
        launchers.push_back(
            [shared = std::make_shared<pipeline>(std::move(p))](pipeline_state& s) { shared->launch(s); });
      auto launch = [previous = upstream.take_launcher(), slots, launchers, offsets, consumers, at, chunks, ordered,
                     key, chunk_items, on_error](pipeline_state& state) {
        auto [tx, rx] = channel<chunk<T>>(chunks);
        state.close_on_cancel(rx);
        previous(state, std::move(tx));
        std::vector<node_output<T>> outs;
        for (std::size_t i = 0; i < launchers.size(); ++i) {
          {
            index_scope scope(state, offsets[i]);
            launchers[i](state);
          }
          outs.push_back(make_output<T>(state, slots[i], consumers[i]));
        }
        state.start(run_partition<T, K>(stage_io<T, none>(state, at, std::move(rx), {}, ordered), std::move(outs), key,
                                        chunk_items, on_error));
      };
      return pipeline(std::move(stages), std::move(launch));
    } else {
      using out_t = typename lane_t::value_type;
      struct lane_plan {
        typename lane_t::launcher launch;
        std::size_t join_chunks;
        bool ordered;
      };
      std::vector<lane_plan> plans;
      std::size_t join_capacity = 0, out_chunk = 1;
      for (auto& f : lane_flows) {
        const std::size_t c = std::max<std::size_t>(1, f.chunk());
        const std::size_t jc = channel_chunks(default_capacity, c);
        join_capacity += jc * c;
        out_chunk = std::max(out_chunk, c);
        const bool lane_ordered = f.ordered();
        plans.push_back({f.take_launcher(), jc, lane_ordered});
      }
      const std::size_t join = stages.size();
      for (auto& c : consumers)
        if (c == entry_input) c = join;  // an empty lane feeds the join directly
      stages.push_back(join_info(name + " join", "join", tails, join_capacity));

      auto shared_plans = std::make_shared<std::vector<lane_plan>>(std::move(plans));
      auto launch = [previous = upstream.take_launcher(), slots, shared_plans, offsets, consumers, at, join, chunks,
                     ordered, key, chunk_items, on_error](pipeline_state& state, channel_sender<chunk<out_t>> out) {
        auto [tx, rx] = channel<chunk<T>>(chunks);
        state.close_on_cancel(rx);
        previous(state, std::move(tx));
        auto open = std::make_shared<std::atomic<std::size_t>>(shared_plans->size());
        std::vector<node_output<T>> outs;
        for (std::size_t i = 0; i < shared_plans->size(); ++i) {
          auto& plan = (*shared_plans)[i];
          auto [jtx, jrx] = channel<chunk<out_t>>(plan.join_chunks);
          state.close_on_cancel(jrx);
          {
            index_scope scope(state, offsets[i]);
            plan.launch(state, std::move(jtx));
          }
          state.start(
              run_join_input<out_t>(open, stage_io<out_t, out_t>(state, join, std::move(jrx), out, plan.ordered)));
          outs.push_back(make_output<T>(state, slots[i], consumers[i]));
        }
        state.start(run_partition<T, K>(stage_io<T, none>(state, at, std::move(rx), {}, ordered), std::move(outs), key,
                                        chunk_items, on_error));
      };
      flow<out_t> joined(std::move(stages), std::move(launch), out_chunk, false);
      joined.set_branch_name(branch_name);
      return joined;
    }
  }
}

}  // namespace sluice
