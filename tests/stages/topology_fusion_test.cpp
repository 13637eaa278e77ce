// Fusion inside topologies: light stages fused inside broadcast branches,
// partition lanes, merge inputs and after a merge give the same items and
// counts as with `.fuse = false`, errors name the fused stage and its
// branch, and a cancelled run leaves nothing uncounted.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "topology_support.hpp"

namespace {

using sluice_test::error_of;
using sluice_test::expect_consistent;
using sluice_test::index_of;
using sluice_test::iota;
using sluice_test::scale;

sluice::generator<int> forever() {
  for (int i = 0;; ++i) co_yield i;
}

// A light chain for a branch: map | filter | inspect (the filter and the
// inspect fuse with the map when `fuse`).
template <typename Flow>
auto light(Flow f, const std::string& tag, bool fuse, std::atomic<long>& seen) {
  return std::move(f) | sluice::map([](int x) { return 3 * x; }, {.name = tag + "-triple", .fuse = fuse}) |
         sluice::filter([](int x) { return x % 2 == 0; }, {.name = tag + "-even", .fuse = fuse}) |
         sluice::inspect([&seen](const int&) { seen.fetch_add(1); }, {.name = tag + "-look", .fuse = fuse});
}

// Same stages, same counters, fused or not (capacity and the fused mark aside).
void expect_same_counts(const sluice::pipeline_report& fused, const sluice::pipeline_report& separate) {
  ASSERT_EQ(fused.stages.size(), separate.stages.size());
  for (std::size_t i = 0; i < fused.stages.size(); ++i) {
    const auto& a = fused.stages[i];
    const auto& b = separate.stages[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.branch, b.branch) << a.name;
    EXPECT_EQ(a.items_in, b.items_in) << a.name;
    EXPECT_EQ(a.items_out, b.items_out) << a.name;
    EXPECT_EQ(a.emitted, b.emitted) << a.name;
    EXPECT_EQ(a.dropped, b.dropped) << a.name;
  }
}

std::size_t fused_count(const std::string& describe) {
  std::size_t n = 0;
  for (auto at = describe.find("fused"); at != std::string::npos; at = describe.find("fused", at + 1)) ++n;
  return n;
}

TEST(TopologyFusion, BroadcastBranchesGiveTheSameResultsFusedOrNot) {
  const auto n = static_cast<std::size_t>(20000 / scale);
  std::vector<int> a[2], b[2];
  sluice::pipeline_report reports[2];
  for (int fuse = 0; fuse < 2; ++fuse) {
    sluice::runtime rt({.threads = 2});
    std::atomic<long> seen_a{0}, seen_b{0};
    auto p = sluice::from(iota(n), {.chunk = 64}) |
             sluice::broadcast(
                 [&](auto f) { return light(std::move(f), "a", fuse == 1, seen_a) | sluice::to_vector(a[fuse]); },
                 [&](auto f) { return light(std::move(f), "b", fuse == 1, seen_b) | sluice::to_vector(b[fuse]); });
    // The first stage of a branch has the node's channel; the next two fuse.
    EXPECT_EQ(fused_count(p.describe()), fuse == 1 ? 4u : 0u) << p.describe();
    reports[fuse] = sluice::run(rt, std::move(p));
    EXPECT_EQ(seen_a.load(), static_cast<long>(n / 2));
    expect_consistent(reports[fuse]);
  }
  EXPECT_EQ(a[1], a[0]);
  EXPECT_EQ(b[1], b[0]);
  ASSERT_EQ(a[1].size(), n / 2);
  for (std::size_t i = 0; i < a[1].size(); ++i) ASSERT_EQ(a[1][i], static_cast<int>(6 * i));
  expect_same_counts(reports[1], reports[0]);
}

TEST(TopologyFusion, PartitionLanesGiveTheSameResultsFusedOrNot) {
  const auto n = static_cast<std::size_t>(20000 / scale);
  std::vector<int> out[2];
  sluice::pipeline_report reports[2];
  for (int fuse = 0; fuse < 2; ++fuse) {
    sluice::runtime rt({.threads = 2});
    std::atomic<long> seen{0};
    std::mutex m;
    auto p = sluice::from(iota(n), {.chunk = 50}) |
             sluice::partition([](int x) { return x % 13; }, 3,
                               [&](auto lane) {
                                 return light(std::move(lane), "lane", fuse == 1, seen) |
                                        sluice::map([](int x) { return x + 1; }, {.name = "plus", .fuse = fuse == 1});
                               }) |
             sluice::for_each([&](int x) {
               std::lock_guard lock(m);
               out[fuse].push_back(x);
             });
    EXPECT_EQ(fused_count(p.describe()), fuse == 1 ? 9u : 0u) << p.describe();
    reports[fuse] = sluice::run(rt, std::move(p));
    EXPECT_EQ(seen.load(), static_cast<long>(n / 2));
    expect_consistent(reports[fuse]);
  }
  for (auto& o : out) std::sort(o.begin(), o.end());
  EXPECT_EQ(out[1], out[0]);
  ASSERT_EQ(out[1].size(), n / 2);
  expect_same_counts(reports[1], reports[0]);
}

TEST(TopologyFusion, MergeInputsAndTheStagesAfterAMergeGiveTheSameResultsFusedOrNot) {
  const auto n = static_cast<std::size_t>(20000 / scale);
  std::vector<int> out[2];
  sluice::pipeline_report reports[2];
  for (int fuse = 0; fuse < 2; ++fuse) {
    sluice::runtime rt({.threads = 2});
    std::atomic<long> seen_a{0}, seen_b{0}, seen_after{0};
    // Each input: source | map | filter | inspect (all fused after the
    // source); after the merge: map (its own channel) | filter | inspect.
    auto p = light(sluice::merge(light(sluice::from(iota(n), {.chunk = 64}), "x", fuse == 1, seen_a),
                                 light(sluice::from(iota(n), {.chunk = 100}), "y", fuse == 1, seen_b)),
                   "after", fuse == 1, seen_after) |
             sluice::to_vector(out[fuse]);
    EXPECT_EQ(fused_count(p.describe()), fuse == 1 ? 8u : 0u) << p.describe();
    reports[fuse] = sluice::run(rt, std::move(p));
    EXPECT_EQ(seen_after.load(), static_cast<long>(n));  // 3x is even for every even x: n/2 + n/2
    expect_consistent(reports[fuse]);
  }
  for (auto& o : out) std::sort(o.begin(), o.end());
  EXPECT_EQ(out[1], out[0]);
  ASSERT_EQ(out[1].size(), n);
  expect_same_counts(reports[1], reports[0]);
}

TEST(TopologyFusion, AnErrorInAFusedStageNamesItAndItsBranch) {
  for (bool fuse : {true, false}) {
    sluice::runtime rt({.threads = 2});
    std::vector<int> a, b;
    auto what = error_of([&] {
      sluice::run(rt, sluice::from(iota(10000)) |
                          sluice::broadcast(sluice::to_vector(a), sluice::named("checked", [&](auto f) {
                                              return std::move(f) | sluice::map([](int x) { return x; }) |
                                                     sluice::filter(
                                                         [](int x) {
                                                           if (x == 4321) throw std::runtime_error("bad value");
                                                           return true;
                                                         },
                                                         {.name = "check", .fuse = fuse}) |
                                                     sluice::to_vector(b);
                                            })));
    });
    EXPECT_NE(what.find("stage 'check' (#4) of broadcast branch 'checked' on item 4321: bad value"), std::string::npos)
        << "fuse " << fuse << ": " << what;
  }
  for (bool fuse : {true, false}) {
    sluice::runtime rt({.threads = 2});
    std::vector<int> out;
    auto what = error_of([&] {
      sluice::run(
          rt, sluice::merge(sluice::from(iota(100)),
                            sluice::named("late", sluice::from(iota(5000)) | sluice::map(
                                                                                 [](int x) {
                                                                                   if (x == 3000)
                                                                                     throw std::runtime_error("late");
                                                                                   return x;
                                                                                 },
                                                                                 {.name = "stamp", .fuse = fuse}))) |
                  sluice::to_vector(out));
    });
    EXPECT_NE(what.find("stage 'stamp' (#2) of merge input 'late' on item 3000"), std::string::npos)
        << "fuse " << fuse << ": " << what;
  }
}

TEST(TopologyFusion, CancellingLosesNothingUncountedInFusedBranchesAndLanes) {
  for (bool fuse : {true, false}) {
    sluice::runtime rt({.threads = 2});
    std::stop_source stop;
    std::atomic<long> seen{0}, lane_seen{0}, consumed{0};
    std::vector<int> kept;
    auto p =
        sluice::merge(light(sluice::from(forever(), {.chunk = 32}), "x", fuse, seen), sluice::from(forever())) |
        sluice::tee([&](auto f) { return light(std::move(f), "side", fuse, seen) | sluice::for_each([](int) {}); }) |
        sluice::partition([](int x) { return x % 5; }, 2,
                          [&](auto lane) { return light(std::move(lane), "lane", fuse, lane_seen); }) |
        sluice::for_each([&](int x) {
          kept.push_back(x);
          if (consumed.fetch_add(1) == 3000) stop.request_stop();
        });
    auto report = sluice::run(rt, std::move(p), {.stop = stop.get_token()});
    EXPECT_TRUE(report.cancelled);
    EXPECT_EQ(report.stages.back().items_out, kept.size());
    EXPECT_GE(kept.size(), 3000u);
    expect_consistent(report);
  }
}

}  // namespace
