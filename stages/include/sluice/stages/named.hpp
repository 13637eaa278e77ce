// sluice::named(name, branch): a user's name for a branch of a topology.
//
//   sluice::merge(sluice::named("eu", from(eu_events)), sluice::named("us", from(us_events)))
//   from(events) | sluice::broadcast(sluice::named("archive", sluice::to_vector(all)),
//                                    sluice::named("alerts", [&](auto f) { return std::move(f) | ... ; }))
//   from(events) | sluice::tee(sluice::named("audit", sluice::for_each(audit))) | ...
//   ... | sluice::partition(key, 2, lane, {.lane_names = {"hot", "cold"}})   // lanes: an option
//
// A named branch is labelled "<node> branch 'archive'" (merge: "input",
// partition: "lane") instead of "<node> branch 1" wherever the label
// appears: in errors ("sluice pipeline failed in stage 'store' (#4) of
// broadcast branch 'archive' on item 17: ..."), describe(), the Graphviz
// output and the report (stage_report::branch). An empty name keeps the index.
//
// named(name, flow) returns the flow itself (for merge inputs); named(name,
// b) for anything else wraps b (a sink, a stage, a custom stage struct or a
// branch function) for broadcast and tee. Partition lanes share one lane
// specification, so they are named by partition_options::lane_names.
// Thread-safety, lifetime: values, like flows; compose on one thread.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "sluice/stages/pipeline.hpp"

namespace sluice {
namespace detail {

/// A broadcast/tee branch with a name (see the file comment).
template <typename B>
struct named_branch {
  std::string name;
  B branch;
};

template <typename X>
inline constexpr bool is_named_branch = is_specialization_of<X, named_branch>;
template <typename X>
inline constexpr bool is_flow = is_specialization_of<X, flow>;

/// The label of branch `i` of a node called `node`: "<node> <what> i", or
/// "<node> <what> 'name'" when the user named it.
inline std::string branch_label(const std::string& node, const char* what, std::size_t i, const std::string& name) {
  return node + " " + what + " " + (name.empty() ? std::to_string(i) : "'" + name + "'");
}

}  // namespace detail

/// A merge input with a name: the flow itself, labelled (see the file comment).
template <typename T>
flow<T> named(std::string name, flow<T> input) {
  input.set_branch_name(std::move(name));
  return input;
}

/// A broadcast or tee branch with a name (see the file comment).
template <typename B>
requires(!detail::is_flow<std::remove_cvref_t<B>>) auto named(std::string name, B&& branch) {
  return detail::named_branch<std::decay_t<B>>{std::move(name), std::forward<B>(branch)};
}

}  // namespace sluice
