// The umbrella header stays light: TBB (about 110k preprocessed lines with
// the intrinsics it pulls in), <random> and <regex> are compiled into the
// libraries, not included by the headers a pipeline program needs
// (docs/architecture.md, "Header cost"). Nor, with libstdc++, whole
// <chrono> (which brings <sstream>), <functional> (<unordered_map> and
// <bits/stl_algo.h>) or <algorithm>: core/detail/std_parts.hpp includes the
// parts the headers use.
#include <sluice/sluice.hpp>

// Checked before gtest, which includes these itself.
#if defined(__GLIBCXX__) && (defined(_GLIBCXX_SSTREAM) || defined(_GLIBCXX_FUNCTIONAL) || defined(_GLIBCXX_ALGORITHM))
#error "sluice.hpp includes <sstream>, <functional> or <algorithm>; use sluice/core/detail/std_parts.hpp"
#endif

#include <gtest/gtest.h>

#if defined(__TBB_task_arena_H) || defined(__TBB_global_control_H) || defined(__TBB_parallel_for_H) || \
    defined(__TBB_detail__machine_H)
#error "sluice.hpp includes TBB's headers; keep them in core/src or stages/src"
#endif
#if defined(_GLIBCXX_RANDOM) || defined(_GLIBCXX_REGEX)
#error "sluice.hpp includes <random> or <regex>; keep them in a .cpp"
#endif

TEST(HeaderCost, TheUmbrellaHeaderIncludesNeitherTbbNorRandomNorRegex) {
  // The checks above run at compile time; this runs the pipeline the header
  // promises, so the test cannot pass by compiling an empty file.
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(std::vector<int>{1, 2, 3}) |
                                    sluice::parallel_map([](int n) { return n * 10; }, {.batch = 2, .ordered = true}) |
                                    sluice::to_vector(out));
  EXPECT_EQ(out, (std::vector<int>{10, 20, 30}));
  EXPECT_TRUE(report.balanced());
}
