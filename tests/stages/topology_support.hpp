// Shared by the topology tests: counters that add up across a graph, and
// the message of a failed run.
#pragma once

#include <gtest/gtest.h>

#include <sluice/sluice.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sluice_test {

// Every stage balanced, and what producers emitted is what their consumers
// received: on a line and at a join (the sum of the inputs), and after a
// fan-out (the sum over the branches).
inline void expect_consistent(const sluice::pipeline_report& r) {
  const std::size_t n = r.stages.size();
  std::vector<std::vector<std::size_t>> consumers(n);
  for (std::size_t c = 0; c < n; ++c) {
    for (auto p : r.stages[c].inputs) {
      ASSERT_LT(p, n) << "stage " << c << " has an unresolved input";
      consumers[p].push_back(c);
    }
  }
  for (std::size_t c = 0; c < n; ++c) {
    const auto& s = r.stages[c];
    EXPECT_TRUE(s.balanced()) << "#" << c << " " << s.name << ": in " << s.items_in << " out " << s.items_out
                              << " dropped " << s.dropped << " failed " << s.failed << " cancelled " << s.cancelled;
    if (s.inputs.empty()) continue;
    bool simple = true;
    std::uint64_t sent = 0;
    for (auto p : s.inputs) {
      simple = simple && consumers[p].size() == 1;
      sent += r.stages[p].emitted;
    }
    if (simple) {
      EXPECT_EQ(s.items_in, sent) << "#" << c << " " << s.name << " received other than its inputs sent";
    }
  }
  for (std::size_t p = 0; p < n; ++p) {
    if (consumers[p].size() < 2) continue;
    // A consumer that also joins other inputs received their items too.
    std::uint64_t received = 0;
    for (auto c : consumers[p]) {
      received += r.stages[c].items_in;
      for (auto q : r.stages[c].inputs)
        if (q != p) received -= r.stages[q].emitted;
    }
    EXPECT_EQ(received, r.stages[p].emitted) << "#" << p << " " << r.stages[p].name << ": branches received "
                                             << received << ", node emitted " << r.stages[p].emitted;
  }
}

inline std::size_t index_of(const sluice::pipeline_report& r, const std::string& name) {
  for (std::size_t i = 0; i < r.stages.size(); ++i)
    if (r.stages[i].name == name) return i;
  ADD_FAILURE() << "no stage named " << name;
  return 0;
}

inline std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const sluice::pipeline_error& e) {
    expect_consistent(e.report());
    return e.what();
  }
  ADD_FAILURE() << "the run did not fail";
  return {};
}

}  // namespace sluice_test
