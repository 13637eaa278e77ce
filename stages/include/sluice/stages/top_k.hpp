// sluice::top_k(out, n, key): keeps the n items with the largest key(item).
//
//   std::vector<std::pair<std::string, std::size_t>> top;
//   sluice::run(rt, sluice::from(counts) | sluice::top_k(top, 10, [](const auto& kv) { return kv.second; }));
//
// Built on the parallel fold (fold.hpp): each worker keeps a bounded heap of
// its n best items (moved out of the input), the heaps are
// merged at the end and `out` receives the n best, largest key first.
// Items with equal keys are ordered arbitrarily (the split between workers
// depends on scheduling); make the key unique (a pair) when that matters.
// Pass std::greater<>-style ordering by negating the key for the smallest n.
//
// Thread-safety: key is called from several workers at once. `out` must
// outlive run() and is replaced at the end. Memory: n items per worker.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/detail/std_parts.hpp"
#include "sluice/stages/fold.hpp"

namespace sluice {
namespace detail {

template <typename T, typename Key>
class top_k_aggregator {
 public:
  using key_t = std::remove_cvref_t<std::invoke_result_t<const Key&, const T&>>;
  using entry = std::pair<key_t, T>;
  using local = std::vector<entry>;  // a min-heap on the key: the front is the weakest kept item

  top_k_aggregator(std::vector<T>& out, std::size_t n, Key key) : m_out(&out), m_n(n), m_key(std::move(key)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::is_constructible_v<T, In&&>,
                  "sluice::top_k: `out` must be a std::vector of a type constructible from the item type");
    static_assert(std::invocable<const Key&, const In&>,
                  "sluice::top_k: key must be callable with the item type reaching the sink");
    static_assert(std::totally_ordered<key_t>, "sluice::top_k: the key must be comparable with <");
  }
  [[nodiscard]] local make_local() const {
    local heap;
    heap.reserve(m_n);
    return heap;
  }

  template <typename In>
  void add(local& heap, In& item) const {
    if (m_n == 0) return;
    key_t k = m_key(std::as_const(item));
    if (heap.size() < m_n) {
      heap.emplace_back(std::move(k), T(std::move(item)));
      std::push_heap(heap.begin(), heap.end(), weaker);
      return;
    }
    if (!(heap.front().first < k)) return;  // not better than the weakest kept
    std::pop_heap(heap.begin(), heap.end(), weaker);
    heap.back().first = std::move(k);
    heap.back().second = T(std::move(item));
    std::push_heap(heap.begin(), heap.end(), weaker);
  }

  void finish(std::vector<local>&& locals) const {
    local all;
    for (auto& heap : locals)
      all.insert(all.end(), std::make_move_iterator(heap.begin()), std::make_move_iterator(heap.end()));
    const std::size_t keep = std::min(m_n, all.size());
    // The best `keep`, best first: a heap with the largest key at the front,
    // popped `keep` times (the heap functions are in detail/std_parts.hpp;
    // std::partial_sort would need all of <algorithm>).
    const auto smaller = [](const entry& a, const entry& b) { return a.first < b.first; };
    std::make_heap(all.begin(), all.end(), smaller);
    m_out->clear();
    m_out->reserve(keep);
    for (auto end = all.end(); m_out->size() < keep; --end) {
      std::pop_heap(all.begin(), end, smaller);
      m_out->push_back(std::move((end - 1)->second));
    }
  }
  [[nodiscard]] const char* kind() const noexcept { return "top_k"; }
  [[nodiscard]] std::string parameters() const { return "n " + std::to_string(m_n); }

 private:
  // Heap order: the entry with the smallest key at the front.
  static bool weaker(const entry& a, const entry& b) { return b.first < a.first; }

  std::vector<T>* m_out;
  std::size_t m_n;
  Key m_key;
};

}  // namespace detail

/// Keeps the `n` items with the largest key(item) in `out`, largest first.
template <typename T, typename Key>
auto top_k(std::vector<T>& out, std::size_t n, Key key, aggregate_options options = {}) {
  using a = detail::top_k_aggregator<T, Key>;
  return detail::aggregate_stage<a>(a(out, n, std::move(key)), std::move(options));
}

}  // namespace sluice
