#include "sluice/github/page_parser.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace gh = sluice::github;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(SLUICE_GITHUB_FIXTURE_DIR) / name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

gh::timestamp at(const char* iso) { return *gh::parse_timestamp(iso); }

}  // namespace

TEST(PageParser, ParsesARecordedIssuesPageFromGitHub) {
  std::string body = fixture("paginate_issues_page1.json");
  auto page = gh::parse_issue_page(body);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 3u);
  const gh::issue_record& first = page->front();
  EXPECT_EQ(first.number, 13);
  EXPECT_EQ(first.state, gh::item_state::open);
  EXPECT_EQ(first.author, "octokit-fixture-user-a");
  EXPECT_TRUE(first.labels.empty());
  EXPECT_EQ(first.comments, 0);
  EXPECT_EQ(first.created_at, at("2022-07-19T04:39:16Z"));
  EXPECT_FALSE(first.closed_at);
  EXPECT_FALSE(first.is_pull_request);
}

TEST(PageParser, ParsesEveryPageOfARecordedPaginationWalk) {
  int total = 0;
  for (int p = 1; p <= 5; ++p) {
    auto page = gh::parse_issue_page(fixture("paginate_issues_page" + std::to_string(p) + ".json"));
    ASSERT_TRUE(page) << p << ": " << page.error().message;
    total += static_cast<int>(page->size());
  }
  EXPECT_EQ(total, 13);
}

TEST(PageParser, ParsesModernClosedIssuesWithLabelsNullBodiesAndReactions) {
  auto page = gh::parse_issue_page(fixture("issues_modern_closed.json"));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 5u);
  const gh::issue_record& i = (*page)[0];
  EXPECT_EQ(i.number, 3364);
  EXPECT_EQ(i.state, gh::item_state::closed);
  EXPECT_EQ(i.author, "arash77");
  EXPECT_EQ(i.labels, std::vector<std::string>{"bug"});
  EXPECT_EQ(i.comments, 8);
  EXPECT_EQ(i.closed_at, at("2025-09-02T17:30:49Z"));
  EXPECT_EQ((*page)[4].labels, (std::vector<std::string>{"bug", "question"}));
}

TEST(PageParser, AnIssuesItemWithAPullRequestKeyIsAPullRequest) {
  auto page = gh::parse_issue_page(fixture("issue_as_pull_request.json"));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 1u);
  EXPECT_TRUE(page->front().is_pull_request);
  EXPECT_EQ(page->front().author, "tmshn");
}

TEST(PageParser, ParsesRecordedPullRequestsWithHeadBaseAndMergedAt) {
  auto page = gh::parse_pull_page(fixture("pulls_list.json"));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->size(), 7u);
  const gh::pull_record& p = page->front();
  EXPECT_EQ(p.number, 31);
  EXPECT_EQ(p.state, gh::item_state::closed);
  EXPECT_EQ(p.author, "jacquev6");
  EXPECT_EQ(p.merged_at, at("2012-05-27T10:29:07Z"));
  EXPECT_FALSE(p.draft);
  EXPECT_FALSE((*page)[1].merged_at);  // closed without merging
  EXPECT_EQ((*page)[3].state, gh::item_state::open);
}

TEST(PageParser, ItemsWithOnlySomeFieldsAreAccepted) {
  // PyGithub's 2012 replay keeps only the ids of each item.
  auto page = gh::parse_issue_page(fixture("issues_2012_page1.json"));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->size(), 25u);
  EXPECT_EQ(page->front().state, gh::item_state::unknown);
}

TEST(PageParser, EmptyArrayIsAnEmptyPage) {
  auto page = gh::parse_issue_page(std::string_view("[]"));
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->empty());
}

TEST(PageParser, EveryTruncationOfARealPageIsAnErrorNotACrash) {
  const std::string body = fixture("issues_modern_closed.json");
  for (std::size_t len = 0; len + 1 < body.size(); len += 7) {
    auto page = gh::parse_issue_page(std::string_view(body).substr(0, len));
    EXPECT_FALSE(page) << "prefix of length " << len << " parsed";
    if (!page) {
      EXPECT_EQ(page.error().status, 0);
    }
  }
  const std::string pulls = fixture("pulls_list.json");
  for (std::size_t len = 0; len + 1 < pulls.size(); len += 331) {
    EXPECT_FALSE(gh::parse_pull_page(std::string_view(pulls).substr(0, len))) << len;
  }
}

TEST(PageParser, MalformedBodiesAreErrorsWithAMessage) {
  for (const char* bad :
       {"", "{", "{\"message\":\"Not Found\"}", "[1,2]", "[{\"number\":\"seven\"}]", "[{\"number\":1}] trailing",
        "[{\"created_at\":\"yesterday\"}]", "[{\"labels\":[{\"name\":1}]}]", "<html>502 Bad Gateway</html>",
        "[{\"user\":{\"login\":\"x\"}},", "[{\"state\":\"open\"}}]"}) {
    auto page = gh::parse_issue_page(std::string_view(bad));
    ASSERT_FALSE(page) << bad;
    EXPECT_EQ(page.error().status, 0);
    EXPECT_NE(page.error().message.find("malformed JSON"), std::string::npos) << page.error().message;
  }
}

TEST(PageParser, InPlaceOverloadLeavesTheBodyUnchanged) {
  std::string body = fixture("paginate_issues_page5.json");
  const std::string copy = body;
  ASSERT_TRUE(gh::parse_issue_page(body));
  EXPECT_EQ(body, copy);
}

TEST(PageParser, ErrorMessageReadsGitHubErrorBodies) {
  EXPECT_EQ(
      gh::error_message("{\"message\":\"Bad credentials\",\"documentation_url\":\"https://docs.github.com/rest\"}"),
      "Bad credentials");
  EXPECT_FALSE(gh::error_message("<html>"));
  EXPECT_FALSE(gh::error_message("[]"));
}

TEST(PageParser, TimestampsParseAsUtc) {
  EXPECT_EQ(gh::parse_timestamp("1970-01-01T00:00:00Z")->time_since_epoch().count(), 0);
  EXPECT_EQ(gh::parse_timestamp("2017-10-10T16:00:00Z")->time_since_epoch().count(), 1507651200);
  EXPECT_EQ(gh::parse_timestamp("2017-10-10T18:00:00+02:00")->time_since_epoch().count(), 1507651200);
  EXPECT_EQ(gh::parse_timestamp("2017-10-10T16:00:00.123Z")->time_since_epoch().count(), 1507651200);
  EXPECT_FALSE(gh::parse_timestamp("2017-13-10T16:00:00Z"));
  EXPECT_FALSE(gh::parse_timestamp("2017-02-30T16:00:00Z"));
  EXPECT_FALSE(gh::parse_timestamp("2017-10-10T24:00:00Z"));
  EXPECT_FALSE(gh::parse_timestamp("2024-01-01T00:00:00+99:99"));
  EXPECT_FALSE(gh::parse_timestamp("2024-01-01T00:00:00+18:01"));
  EXPECT_FALSE(gh::parse_timestamp("2024-01-01T00:00:00-12:60"));
  EXPECT_TRUE(gh::parse_timestamp("2024-01-01T00:00:00-18:00"));
  EXPECT_FALSE(gh::parse_timestamp("2017-10-10 16:00"));
  EXPECT_FALSE(gh::parse_timestamp(""));
}
