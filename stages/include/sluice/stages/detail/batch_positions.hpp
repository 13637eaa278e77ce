// Where each item of a batch stood in its stage's input.
//
// A stage that tops a batch up with whatever chunks are already waiting
// (parallel_map) joins chunks whose input positions need not follow one
// another: with several drivers, another driver may receive the chunk in
// between. Positions are contiguous only within a chunk, so the batch keeps
// one run per chunk that does not continue the previous one; the position
// of item i is then its run's first position plus its offset in the run.
#pragma once

#include <cstddef>
#include <vector>

namespace sluice::detail {

class batch_positions {
 public:
  /// Starts a batch whose first item has input position `first_index`.
  void start(std::size_t first_index) { m_runs.assign(1, run{0, first_index}); }

  /// Items from batch offset `at` on have input positions `first_index`, ...
  /// (a run that would hold no item, `at` equal to its start, is replaced).
  void append(std::size_t at, std::size_t first_index) {
    run& last = m_runs.back();
    if (last.at == at) {
      last.first_index = first_index;
    } else if (last.first_index + (at - last.at) != first_index) {
      m_runs.push_back(run{at, first_index});
    }
  }

  /// The input position of the batch's item `i`.
  [[nodiscard]] std::size_t operator[](std::size_t i) const noexcept {
    std::size_t r = m_runs.size() - 1;  // runs are few (one per interleaved chunk): scan from the back
    while (m_runs[r].at > i) --r;
    return m_runs[r].first_index + (i - m_runs[r].at);
  }

 private:
  struct run {
    std::size_t at;           // offset in the batch
    std::size_t first_index;  // input position of the item at that offset
  };
  std::vector<run> m_runs;
};

}  // namespace sluice::detail
