// User-named branches (sluice::named, partition_options::lane_names) in
// errors, describe(), the dot graph and the report; and the partition key
// function under the stage error policy (fail fast, retry, dead letters),
// with counters that add up.
#include <gtest/gtest.h>

#include <algorithm>
#include <any>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "topology_support.hpp"

namespace {

using sluice_test::error_of;
using sluice_test::expect_consistent;
using sluice_test::index_of;
using sluice_test::iota;

auto throw_at(int bad, const char* what) {
  return [bad, what](int x) {
    if (x == bad) throw std::runtime_error(what);
    return x;
  };
}

// --------------------------------------------------------------- names --

TEST(NamedBranches, ABroadcastBranchNameAppearsInTheErrorDescribeDotAndReport) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> archive;
  auto make = [&] {
    return sluice::from(iota(5000)) |
           sluice::broadcast(sluice::named("archive", sluice::to_vector(archive)), sluice::named("store", [](auto f) {
                               return std::move(f) | sluice::map(throw_at(1234, "disk full"), {.name = "encode"}) |
                                      sluice::for_each([](int) {});
                             }));
  };
  const auto text = make().describe();
  EXPECT_NE(text.find("(broadcast branch 'archive')"), std::string::npos) << text;
  EXPECT_NE(text.find("map \"encode\" [capacity 1024] <- #1  (broadcast branch 'store')"), std::string::npos) << text;
  EXPECT_NE(make().to_dot().find("(broadcast branch 'store')"), std::string::npos) << make().to_dot();
  std::string what;
  try {
    sluice::run(rt, make());
    ADD_FAILURE() << "the run did not fail";
  } catch (const sluice::pipeline_error& e) {
    what = e.what();
    expect_consistent(e.report());
    EXPECT_EQ(e.report().stages[index_of(e.report(), "encode")].branch, "broadcast branch 'store'");
  }
  EXPECT_NE(what.find("stage 'encode' (#3) of broadcast branch 'store' on item 1234: disk full"), std::string::npos)
      << what;
}

TEST(NamedBranches, AMergeInputNameAppearsInTheError) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto what = error_of([&] {
    sluice::run(rt,
                sluice::merge({.name = "regions"}, sluice::named("eu", sluice::from(iota(100))),
                              sluice::named("us", sluice::from(iota(5000)) |
                                                      sluice::map(throw_at(4000, "bad record"), {.name = "parse"}))) |
                    sluice::to_vector(out));
  });
  EXPECT_NE(what.find("stage 'parse' (#2) of regions input 'us' on item 4000: bad record"), std::string::npos) << what;
}

TEST(NamedBranches, AMergeInputNameSurvivesATeeAndAPartitionAttachedAfterIt) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  std::atomic<int> audited{0};
  auto what = error_of([&] {
    auto us = sluice::named("us", sluice::from(iota(5000))) | sluice::tee(sluice::for_each([&](int) { ++audited; })) |
              sluice::map(throw_at(4000, "bad record"), {.name = "parse"});
    sluice::run(rt, sluice::merge({.name = "regions"}, sluice::named("eu", sluice::from(iota(100))), std::move(us)) |
                        sluice::to_vector(out));
  });
  EXPECT_NE(what.find("stage 'parse' (#4) of regions input 'us' on item 4000: bad record"), std::string::npos) << what;

  auto lanes = sluice::named("eu", sluice::from(iota(10))) |
               sluice::partition([](int x) { return x; }, 2, sluice::map([](int x) { return x; }));
  EXPECT_EQ(lanes.branch_name(), "eu");
  std::vector<int> merged;
  sluice::run(rt, sluice::merge(std::move(lanes), sluice::from(iota(5))) | sluice::to_vector(merged));
  EXPECT_EQ(merged.size(), 15u);
}

TEST(NamedBranches, TeeBranchesAndNestedLabelsUseTheNames) {
  std::vector<int> side, main, inner;
  auto p = sluice::from(iota(10)) |
           sluice::tee(sluice::named("audit",
                                     [&](auto f) {
                                       return std::move(f) |
                                              sluice::broadcast(sluice::named("copy", sluice::to_vector(side)),
                                                                sluice::to_vector(inner));
                                     })) |
           sluice::to_vector(main);
  const auto text = p.describe();
  EXPECT_NE(text.find("(tee branch 'audit' / broadcast branch 'copy')"), std::string::npos) << text;
  EXPECT_NE(text.find("(tee branch 'audit' / broadcast branch 1)"), std::string::npos) << "unnamed: the index\n"
                                                                                       << text;
  sluice::runtime rt({.threads = 2});
  auto report = sluice::run(rt, std::move(p));
  EXPECT_EQ(side, iota(10));
  EXPECT_EQ(main, iota(10));
  expect_consistent(report);
}

TEST(NamedBranches, AnEmptyNameKeepsTheIndex) {
  std::vector<int> a, b;
  auto p = sluice::from(iota(3)) | sluice::broadcast(sluice::named("", sluice::to_vector(a)), sluice::to_vector(b));
  EXPECT_NE(p.describe().find("(broadcast branch 0)"), std::string::npos) << p.describe();
}

TEST(NamedBranches, PartitionLanesAreNamedByAnOption) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  auto make = [&] {
    return sluice::from(iota(10000)) |
           sluice::partition([](int x) { return x; }, 2, sluice::map(throw_at(4001, "bad state"), {.name = "update"}),
                             {.lane_names = {"even", "odd"}}) |
           sluice::to_vector(out);
  };
  const auto text = make().describe();
  EXPECT_NE(text.find("(partition lane 'even')"), std::string::npos) << text;
  EXPECT_NE(text.find("(partition lane 'odd')"), std::string::npos) << text;
  // std::hash<int> is the identity: 4001 goes to lane 1.
  auto what = error_of([&] { sluice::run(rt, make()); });
  EXPECT_NE(what.find("stage 'update' (#3) of partition lane 'odd' on item"), std::string::npos) << what;
  EXPECT_THROW((void)sluice::partition([](int x) { return x; }, 3, sluice::map([](int x) { return x; }),
                                       {.lane_names = {"a", "b"}}),
               std::logic_error);
}

// ------------------------------------------------- partition key errors --

auto key_throwing_on_multiples_of(int k) {
  return [k](int x) {
    if (x % k == 0) throw std::runtime_error("no key for " + std::to_string(x));
    return x;
  };
}

TEST(PartitionKeyErrors, FailFastByDefaultNamesTheNodeAndTheItemAndCountsAddUp) {
  sluice::runtime rt({.threads = 2});
  std::vector<int> out;
  try {
    sluice::run(rt, sluice::from(iota(10000)) |
                        sluice::partition(
                            [](int x) {
                              if (x == 600) throw std::runtime_error("no key");
                              return x;
                            },
                            2, sluice::map([](int x) { return x; }), {.name = "shard"}) |
                        sluice::to_vector(out));
    ADD_FAILURE() << "the run did not fail";
  } catch (const sluice::pipeline_error& e) {
    EXPECT_NE(std::string(e.what()).find("stage 'shard' (#1) on item 600: no key"), std::string::npos) << e.what();
    EXPECT_EQ(e.item_index(), 600u);
    const auto& node = e.report().stages[index_of(e.report(), "shard")];
    EXPECT_EQ(node.failed, 1u);
    expect_consistent(e.report());
  }
}

TEST(PartitionKeyErrors, SkipToDeadLettersRoutesTheRestAndCountsTheFailures) {
  sluice::runtime rt({.threads = 2});
  sluice::dead_letter_queue dead;
  std::mutex m;
  std::vector<int> out;
  const int n = 10000;
  auto report =
      sluice::run(rt, sluice::from(iota(n)) |
                          sluice::partition(key_throwing_on_multiples_of(7), 3, sluice::map([](int x) { return x; }),
                                            {.name = "shard", .on_error = sluice::skip_to(dead.sink())}) |
                          sluice::for_each([&](int x) {
                            std::lock_guard lock(m);
                            out.push_back(x);
                          }));
  const int failed = (n + 6) / 7;
  EXPECT_EQ(out.size(), static_cast<std::size_t>(n - failed));
  for (int x : out) EXPECT_NE(x % 7, 0);
  auto letters = dead.take();
  ASSERT_EQ(letters.size(), static_cast<std::size_t>(failed));
  for (const auto& letter : letters) {
    EXPECT_EQ(letter.stage, "shard");
    EXPECT_EQ(letter.item_index % 7, 0u);
    ASSERT_TRUE(letter.item.has_value());
    EXPECT_EQ(std::any_cast<int>(letter.item), static_cast<int>(letter.item_index));  // item i is i
  }
  const auto& node = report.stages[index_of(report, "shard")];
  EXPECT_EQ(node.failed, static_cast<std::uint64_t>(failed));
  EXPECT_EQ(node.items_out, static_cast<std::uint64_t>(n - failed));
  expect_consistent(report);
}

TEST(PartitionKeyErrors, RetriesCallTheKeyAgainWithoutCopyingOrMovingTheItem) {
  sluice::runtime rt({.threads = 2});
  std::map<std::string, int> attempts;  // the node calls the key from one coroutine at a time
  std::vector<std::string> out;
  std::vector<std::string> in;
  for (int i = 0; i < 1000; ++i) in.push_back("item " + std::to_string(i) + std::string(40, 'x'));
  // Items 5, 50-59 and 500-599 fail on their first attempt only.
  auto flaky = [&attempts](const std::string& s) {
    if (attempts[s]++ == 0 && s.rfind("item 5", 0) == 0) throw std::runtime_error("flaky");
    return s;
  };
  auto report =
      sluice::run(rt, sluice::from(in) |
                          sluice::partition(flaky, 2, sluice::map([](std::string s) { return s; }),
                                            {.name = "shard", .on_error = sluice::retry({.max_attempts = 2})}) |
                          sluice::to_vector(out));
  std::sort(out.begin(), out.end());
  std::sort(in.begin(), in.end());
  EXPECT_EQ(out, in) << "every item arrives whole after its retry";
  const auto& node = report.stages[index_of(report, "shard")];
  EXPECT_EQ(node.retries, 111u);
  EXPECT_EQ(node.failed, 0u);
  expect_consistent(report);
}

}  // namespace
