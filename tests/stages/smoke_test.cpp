#include <sluice/sluice.hpp>

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

TEST(Pipeline, SmokeMapsAllItems) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> in(1000);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> out;
  auto report = sluice::run(rt, sluice::from(in) | sluice::map([](int x) { return x * 2; }) | sluice::to_vector(out));
  EXPECT_EQ(out.size(), 1000u);
  EXPECT_TRUE(report.balanced());
}
