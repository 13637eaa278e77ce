// sluice::to_vector(out): appends every item to `out`.
//
// `out` must outlive run() and must not be touched while the pipeline runs.
// Items are appended in arrival order (input order when every stage is ordered).
#pragma once

#include <iterator>
#include <type_traits>
#include <vector>

#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {
namespace detail {

template <typename T>
class to_vector_stage : public stage_base<to_vector_stage<T>> {
 public:
  template <typename In>
  using output = none;

  to_vector_stage(std::vector<T>& out, stage_options options)
      : stage_base<to_vector_stage<T>>(std::move(options), "to_vector"), m_out(&out) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool ok = std::is_constructible_v<T, In&&>;
    static_assert(ok, "sluice::to_vector: the vector's element type cannot be constructed from the items reaching it");
    return ok;
  }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    while (auto in = co_await io.recv()) {
      if (io.stopped()) {
        io.drop(in->items.size());
        continue;
      }
      if constexpr (std::is_same_v<In, T>) {
        if (m_out->empty()) {
          *m_out = std::move(in->items);  // the common first chunk: no copy at all
          io.completed(m_out->size());
          continue;
        }
      }
      m_out->insert(m_out->end(), std::make_move_iterator(in->items.begin()), std::make_move_iterator(in->items.end()));
      io.completed(in->items.size());
    }
  }

 private:
  std::vector<T>* m_out;
};

}  // namespace detail

/// Appends every item to `out` (which must outlive run()).
template <typename T>
auto to_vector(std::vector<T>& out, stage_options options = {}) {
  return detail::to_vector_stage<T>(out, std::move(options));
}

}  // namespace sluice
