// Shared by the test areas that check labelled waits (wait_note.hpp): the
// waits current_waits() lists, polled until enough of them match, since a
// coroutine notes its wait on its own thread just before it suspends.
#pragma once

#include <sluice/core/wait_note.hpp>

#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

namespace sluice::testing {

/// The waits matching `pred` once there are at least `count` of them, or
/// those found at the last look after about 10 s (a bound on a hang, not a
/// timing assertion).
template <typename Pred>
std::vector<wait_entry> waits_matching(Pred pred, std::size_t count) {
  std::vector<wait_entry> found;
  for (int i = 0; i < 10000; ++i) {
    found.clear();
    for (auto& w : current_waits())
      if (pred(w)) found.push_back(std::move(w));
    if (found.size() >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return found;
}

}  // namespace sluice::testing
