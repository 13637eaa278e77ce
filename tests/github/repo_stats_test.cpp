#include "sluice/github/repo_stats.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/github/page_parser.hpp"

namespace gh = sluice::github;

namespace {

gh::timestamp t(std::int64_t seconds) { return gh::timestamp{std::chrono::seconds{seconds}}; }

gh::issue_record issue(gh::item_state state, std::string author, std::vector<std::string> labels, int comments,
                       std::int64_t created, std::optional<std::int64_t> closed = std::nullopt) {
  gh::issue_record r;
  r.state = state;
  r.author = std::move(author);
  r.labels = std::move(labels);
  r.comments = comments;
  r.created_at = t(created);
  if (closed) r.closed_at = t(*closed);
  return r;
}

std::string fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(SLUICE_GITHUB_FIXTURE_DIR) / name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(RepoStats, MedianOfOddCountIsTheMiddleValue) {
  std::vector<std::int64_t> s{3600 * 5, 3600, 3600 * 2};
  EXPECT_EQ(gh::median_hours(s), 2.0);
}

TEST(RepoStats, MedianOfEvenCountIsTheMeanOfTheTwoMiddleValues) {
  std::vector<std::int64_t> s{3600 * 10, 3600 * 12, 3600 * 13, 3600 * 100};
  EXPECT_EQ(gh::median_hours(s), 12.5);
}

TEST(RepoStats, MedianIsRoundedHalfAwayFromZeroToTwoDecimals) {
  std::vector<std::int64_t> a{45};  // 0.0125 h -> 0.01
  EXPECT_EQ(gh::median_hours(a), 0.01);
  std::vector<std::int64_t> b{54};  // 0.015 h exactly -> 0.02 (a double would say 0.01499...)
  EXPECT_EQ(gh::median_hours(b), 0.02);
  std::vector<std::int64_t> c{11700};  // 3.25 h
  EXPECT_EQ(gh::median_hours(c), 3.25);
  std::vector<std::int64_t> d{-54};  // negative durations round away from zero too
  EXPECT_EQ(gh::median_hours(d), -0.02);
  std::vector<std::int64_t> none;
  EXPECT_FALSE(gh::median_hours(none));
}

TEST(RepoStats, TopNamesOrderByCountDescThenNameAscAndKeepFive) {
  auto top = gh::top_names({{"b", 2}, {"a", 2}, {"z", 9}, {"c", 1}, {"d", 1}, {"e", 1}, {"B", 2}});
  ASSERT_EQ(top.size(), 5u);
  EXPECT_EQ(top[0], (gh::name_count{"z", 9}));
  EXPECT_EQ(top[1], (gh::name_count{"B", 2}));  // bytewise: uppercase first
  EXPECT_EQ(top[2], (gh::name_count{"a", 2}));
  EXPECT_EQ(top[3], (gh::name_count{"b", 2}));
  EXPECT_EQ(top[4], (gh::name_count{"c", 1}));
}

TEST(RepoStats, PullRequestsInIssuesCountOnlyForAuthors) {
  using enum gh::item_state;
  std::vector<gh::issue_record> items{
      issue(open, "ann", {"bug"}, 3, 0),
      issue(closed, "bob", {"bug", "docs"}, 4, 0, 7200),
      issue(closed, "ann", {}, 5, 3600, 3600 + 1800),
  };
  gh::issue_record pr = issue(closed, "cat", {"bug"}, 100, 0, 10);
  pr.is_pull_request = true;
  items.push_back(pr);
  items.push_back(pr);
  const auto s = gh::compute_repo_stats(items, {});
  EXPECT_EQ(s.issues, (gh::issue_counts{3, 1, 2}));
  EXPECT_EQ(s.comments_total, 12);
  EXPECT_EQ(s.issue_close_hours_median, 1.25);  // median of 2 h and 0.5 h
  EXPECT_EQ(s.top_labels, (std::vector<gh::name_count>{{"bug", 2}, {"docs", 1}}));
  EXPECT_EQ(s.top_authors, (std::vector<gh::name_count>{{"ann", 2}, {"cat", 2}, {"bob", 1}}));
  EXPECT_EQ(s.pulls, gh::pull_counts{});
  EXPECT_FALSE(s.pull_merge_hours_median);
}

TEST(RepoStats, PullCountsComeFromPulls) {
  std::vector<gh::pull_record> pulls(4);
  pulls[0].state = gh::item_state::open;
  pulls[0].draft = true;
  pulls[1].state = gh::item_state::closed;
  pulls[2].state = gh::item_state::closed;
  pulls[2].created_at = t(0);
  pulls[2].merged_at = t(3600);
  pulls[3].state = gh::item_state::closed;
  pulls[3].created_at = t(0);
  pulls[3].merged_at = t(7200 + 36);
  const auto s = gh::compute_repo_stats({}, pulls);
  EXPECT_EQ(s.pulls, (gh::pull_counts{4, 1, 3, 2, 1}));
  EXPECT_EQ(s.pull_merge_hours_median, 1.51);  // (1 h + 2.01 h) / 2 = 1.505 -> 1.51
  EXPECT_EQ(s.issues, gh::issue_counts{});
}

TEST(RepoStats, RecordedGitHubPagesGiveTheFiguresComputedByHand) {
  auto issues = gh::parse_issue_page(fixture("issues_modern_closed.json"));
  auto pulls = gh::parse_pull_page(fixture("pulls_list.json"));
  ASSERT_TRUE(issues && pulls);
  const auto s = gh::compute_repo_stats(*issues, *pulls);
  EXPECT_EQ(s.issues, (gh::issue_counts{5, 0, 5}));
  // close times 0.79, 0.79, 0.80, 5.36, 172.35 h -> median 0.801 h
  EXPECT_EQ(s.issue_close_hours_median, 0.8);
  EXPECT_EQ(s.top_labels, (std::vector<gh::name_count>{{"bug", 2}, {"question", 1}}));
  EXPECT_EQ(s.top_authors, (std::vector<gh::name_count>{{"EnricoMi", 3}, {"arash77", 1}, {"jacquev6", 1}}));
  EXPECT_EQ(s.comments_total, 11);
  EXPECT_EQ(s.pulls, (gh::pull_counts{7, 3, 4, 3, 0}));
  // merge times 1.0586, 0.0128, 0.0478 h -> median 0.0478 -> 0.05
  EXPECT_EQ(s.pull_merge_hours_median, 0.05);
}

TEST(RepoStats, IntervalsThatEndBeforeTheyStartAreLeftOutOfTheMedians) {
  using enum gh::item_state;
  // closed 10 h *before* it was created: bad data, not a -10 h duration.
  std::vector<gh::issue_record> items{issue(closed, "a", {}, 0, 36000, 0), issue(closed, "b", {}, 0, 0, 7200),
                                      issue(closed, "c", {}, 0, 0, 3600)};
  gh::pull_record backwards;
  backwards.state = closed;
  backwards.created_at = t(7200);
  backwards.merged_at = t(0);
  gh::pull_record fine = backwards;
  fine.created_at = t(0);
  fine.merged_at = t(1800);
  const std::vector<gh::pull_record> pulls{backwards, fine};
  const auto s = gh::compute_repo_stats(items, pulls);
  EXPECT_EQ(s.issues.closed, 3);               // still counted as closed
  EXPECT_EQ(s.issue_close_hours_median, 1.5);  // median of 2 h and 1 h only
  EXPECT_EQ(s.pulls.merged, 2);                // still counted as merged
  EXPECT_EQ(s.pull_merge_hours_median, 0.5);   // the 30 min one only
}
