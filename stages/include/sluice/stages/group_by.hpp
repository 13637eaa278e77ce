// sluice::group_by(out, key, aggregate) and sluice::count_by(out, key):
// per-key aggregation sinks, in parallel, without copying accumulators.
//
//   sluice::key_map<std::string, std::size_t> by_status;          // heterogeneous lookup: no string per item
//   | sluice::count_by(by_status, [](const entry& e) { return e.status; })
//
//   sluice::key_map<std::string, double> bytes_by_path;
//   | sluice::group_by(bytes_by_path, [](const entry& e) { return e.path; },
//                      sluice::sum([](const entry& e) { return double(e.bytes); }))
//
// Built on the parallel fold (fold.hpp): each worker keeps its own map,
// the maps are merged into `out` when the input ends (entries already in
// `out` are combined with the new ones). `key(item)` may return a view
// (std::string_view into a sluice::files::line): with a key_map it is looked
// up without allocating and copied into a key only when the key is new.
//
// An aggregate says how one key's value (the map's mapped type, Value) is
// built: `op(Value&, const In&)` in place, and `combine(Value&, Value&&)`
// merging two workers' values for the same key; a new key starts at Value{}
// or at `init`. Ready-made: count(), sum(value), collect() (the items
// themselves, in no particular order). Make your own with
// sluice::aggregate(op, combine) or sluice::aggregate(init, op, combine).
//
// Thread-safety: key, op are called from several workers at once (each with
// its own map); combine at the end on one thread. `out` must outlive run()
// and is written only at the end. Errors: `.on_error` per item.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/fold.hpp"

namespace sluice {

/// Transparent string hash: lets a key_map<std::string, V> be searched with a
/// std::string_view or const char* without building a std::string.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

namespace detail {
template <typename K>
struct key_map_hash {
  using type = std::hash<K>;
};
template <>
struct key_map_hash<std::string> {
  using type = string_hash;
};
}  // namespace detail

/// The map type to give group_by/count_by: std::unordered_map, with
/// allocation-free lookup by string_view when K is std::string.
template <typename K, typename V>
using key_map = std::unordered_map<K, V, typename detail::key_map_hash<K>::type, std::equal_to<>>;

/// A per-key aggregation: in-place op(Value&, const In&) and
/// combine(Value&, Value&&), where Value is the map's mapped type. A new
/// key's value starts as `init` (a value-initialised Value{} by default).
template <typename Op, typename Combine, typename Init = void>
struct aggregate_fn {
  Op op;
  Combine combine;
  std::conditional_t<std::is_void_v<Init>, std::nullptr_t, Init> init = {};
};

/// Builds a custom aggregate for group_by; new keys start at Value{}.
template <typename Op, typename Combine>
aggregate_fn<Op, Combine> aggregate(Op op, Combine combine) {
  return {std::move(op), std::move(combine)};
}

/// Builds a custom aggregate for group_by; new keys start at `init`.
template <typename Init, typename Op, typename Combine>
aggregate_fn<Op, Combine, Init> aggregate(Init init, Op op, Combine combine) {
  return {std::move(op), std::move(combine), std::move(init)};
}

namespace detail {
struct add_into {
  template <typename V>
  void operator()(V& acc, V&& other) const {
    acc += std::move(other);
  }
};
}  // namespace detail

/// The number of items per key (the mapped type is an integer).
inline auto count() {
  return aggregate([](auto& n, const auto&) { ++n; }, detail::add_into{});
}

/// The sum of value(item) per key (the mapped type must support +=).
template <typename F>
auto sum(F value) {
  return aggregate([value = std::move(value)](auto& acc, const auto& item) { acc += value(item); }, detail::add_into{});
}

/// The items themselves per key (copied into a std::vector, in no particular order).
inline auto collect() {
  return aggregate([](auto& v, const auto& item) { v.push_back(item); },
                   [](auto& v, auto&& other) {
                     v.insert(v.end(), std::make_move_iterator(other.begin()), std::make_move_iterator(other.end()));
                   });
}

namespace detail {

template <typename Map, typename Key, typename Agg>
class group_by_aggregator {
 public:
  using local = Map;
  using value_t = typename Map::mapped_type;
  group_by_aggregator(Map& out, Key key, Agg agg, const char* kind)
      : m_out(&out), m_key(std::move(key)), m_agg(std::move(agg)), m_kind(kind) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::invocable<const Key&, const In&>,
                  "sluice::group_by/count_by: key must be callable with the item type reaching the sink");
    static_assert(std::invocable<const decltype(Agg::op)&, value_t&, const In&>,
                  "sluice::group_by: the aggregate's op must be callable as op(Value&, const In&), where Value is "
                  "the map's mapped type");
    static_assert(std::invocable<const decltype(Agg::combine)&, value_t&, value_t&&>,
                  "sluice::group_by: the aggregate's combine must be callable as combine(Value&, Value&&)");
  }
  [[nodiscard]] Map make_local() const { return Map{}; }

  template <typename In>
  void add(Map& map, const In& item) const {
    decltype(auto) k = m_key(item);
    auto it = find(map, k);
    if (it == map.end()) it = map.emplace(typename Map::key_type(k), new_value()).first;
    m_agg.op(it->second, item);
  }

  void finish(std::vector<Map>&& locals) const {
    for (auto& map : locals) {
      for (auto& [k, v] : map) {
        auto it = m_out->find(k);
        if (it == m_out->end()) {
          m_out->emplace(k, std::move(v));
        } else {
          m_agg.combine(it->second, std::move(v));
        }
      }
    }
  }
  [[nodiscard]] const char* kind() const noexcept { return m_kind; }
  [[nodiscard]] std::string parameters() const { return {}; }

 private:
  template <typename K>
  static auto find(Map& map, const K& k) {
    if constexpr (requires { map.find(k); }) {
      return map.find(k);
    } else {
      return map.find(typename Map::key_type(k));
    }
  }
  [[nodiscard]] value_t new_value() const {
    if constexpr (std::is_same_v<decltype(m_agg.init), std::nullptr_t>) {
      return value_t{};
    } else {
      return value_t(m_agg.init);
    }
  }

  Map* m_out;
  Key m_key;
  Agg m_agg;
  const char* m_kind;
};

}  // namespace detail

/// Aggregates items per key(item) into `out` (a map from key to the
/// aggregate's value type; key_map for string keys). See the file comment.
template <typename Map, typename Key, typename Agg>
auto group_by(Map& out, Key key, Agg aggregate, aggregate_options options = {}) {
  using a = detail::group_by_aggregator<Map, Key, Agg>;
  return detail::aggregate_stage<a>(a(out, std::move(key), std::move(aggregate), "group_by"), std::move(options));
}

/// Counts items per key(item) into `out` (mapped type: an integer).
template <typename Map, typename Key>
auto count_by(Map& out, Key key, aggregate_options options = {}) {
  using a = detail::group_by_aggregator<Map, Key, decltype(count())>;
  return detail::aggregate_stage<a>(a(out, std::move(key), count(), "count_by"), std::move(options));
}

}  // namespace sluice
