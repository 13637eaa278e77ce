// tbb::parallel_for behind a plain function, so that the stage headers (and
// every program using the DSL) do not include TBB's headers: about 110k
// preprocessed lines. The body is called once per range, not per item, so
// the indirect call costs nothing measurable.
#pragma once

#include <cstddef>
#include <vector>

namespace sluice::detail {

/// A non-owning reference to a callable `void(std::size_t begin, std::size_t end)`.
class index_range_body {
 public:
  template <typename F>
  explicit index_range_body(F& body) noexcept
      : m_body(&body), m_call([](void* b, std::size_t begin, std::size_t end) { (*static_cast<F*>(b))(begin, end); }) {}
  void operator()(std::size_t begin, std::size_t end) const { m_call(m_body, begin, end); }

 private:
  void* m_body;
  void (*m_call)(void*, std::size_t, std::size_t);
};

/// Calls `body` over [0, n) split into ranges, in parallel on the calling
/// thread's TBB arena (a runtime's, inside a stage), and returns when all
/// are done. grain 0: TBB's auto partitioner; otherwise ranges of about
/// `grain` items (simple partitioner). An exception from `body` cancels the
/// rest and is rethrown here (tbb::parallel_for's behaviour).
void parallel_for_ranges(std::size_t n, std::size_t grain, index_range_body body);

/// std::sort of `indices`, compiled in the library so that the stage
/// headers need not include <algorithm> (parallel_map's failed items).
void sort_indices(std::vector<std::size_t>& indices);

}  // namespace sluice::detail
