#include "sluice/github/link_header.hpp"

#include <gtest/gtest.h>

#include "../fuzz/regression_input.hpp"

namespace gh = sluice::github;

TEST(LinkHeader, ParsesAllFourRelationsFromARecordedGitHubPage) {
  // paginate-issues page 2, recorded from api.github.com (octokit/fixtures).
  const auto links = gh::parse_link_header(
      "<https://api.github.com/repositories/515435940/issues?per_page=3&page=1>; rel=\"prev\", "
      "<https://api.github.com/repositories/515435940/issues?per_page=3&page=3>; rel=\"next\", "
      "<https://api.github.com/repositories/515435940/issues?per_page=3&page=5>; rel=\"last\", "
      "<https://api.github.com/repositories/515435940/issues?per_page=3&page=1>; rel=\"first\"");
  EXPECT_EQ(links.prev, "https://api.github.com/repositories/515435940/issues?per_page=3&page=1");
  EXPECT_EQ(links.next, "https://api.github.com/repositories/515435940/issues?per_page=3&page=3");
  EXPECT_EQ(links.last, "https://api.github.com/repositories/515435940/issues?per_page=3&page=5");
  EXPECT_EQ(links.first, "https://api.github.com/repositories/515435940/issues?per_page=3&page=1");
}

TEST(LinkHeader, LastPageHasNoNextAndNoLast) {
  const auto links = gh::parse_link_header(
      "<https://api.github.com/repositories/515435940/issues?per_page=3&page=4>; rel=\"prev\", "
      "<https://api.github.com/repositories/515435940/issues?per_page=3&page=1>; rel=\"first\"");
  EXPECT_FALSE(links.next);
  EXPECT_FALSE(links.last);
  EXPECT_TRUE(links.prev);
}

TEST(LinkHeader, EmptyAndGarbageValuesYieldNoRelations) {
  for (const char* value : {"", "   ", "garbage", "<unterminated; rel=\"next\"", "<http://x>; rel", ";;,,"}) {
    const auto links = gh::parse_link_header(value);
    EXPECT_FALSE(links.next) << value;
    EXPECT_FALSE(links.last) << value;
  }
}

TEST(LinkHeader, CursorLinksAreKeptExactlyAsGiven) {
  const auto links = gh::parse_link_header(
      "<https://api.github.com/repositories/1/issues?per_page=100&after=Y3Vyc29yOnYyOpLPAAABjA%3D%3D&state=all>; "
      "rel=\"next\"");
  EXPECT_EQ(links.next,
            "https://api.github.com/repositories/1/issues?per_page=100&after=Y3Vyc29yOnYyOpLPAAABjA%3D%3D&state=all");
  EXPECT_FALSE(gh::page_number(*links.next));
}

TEST(LinkHeader, ToleratesUnquotedMultipleAndCaseVariedRelations) {
  const auto links =
      gh::parse_link_header("<http://h/a?page=2>;rel=next,<http://h/a?page=9>; REL=\"last prev\"; title=\"x\"");
  EXPECT_EQ(links.next, "http://h/a?page=2");
  EXPECT_EQ(links.last, "http://h/a?page=9");
  EXPECT_EQ(links.prev, "http://h/a?page=9");
}

TEST(LinkHeader, UnknownRelationsAreIgnored) {
  const auto links = gh::parse_link_header("<http://h/a?page=2>; rel=\"alternate\", <http://h/a?page=3>; rel=\"next\"");
  EXPECT_EQ(links.next, "http://h/a?page=3");
}

TEST(LinkHeader, PageNumberReadsOnlyThePageParameter) {
  EXPECT_EQ(gh::page_number("https://h/r/issues?per_page=100&page=7"), 7);
  EXPECT_EQ(gh::page_number("https://h/r/issues?page=12&per_page=100"), 12);
  EXPECT_FALSE(gh::page_number("https://h/r/issues?per_page=100"));
  EXPECT_FALSE(gh::page_number("https://h/r/issues?page=abc"));
  EXPECT_FALSE(gh::page_number("https://h/r/issues?page=0"));
  EXPECT_FALSE(gh::page_number("https://h/r/issues"));
}

TEST(LinkHeader, WithPageNumberReplacesOnlyThePageValue) {
  EXPECT_EQ(gh::with_page_number("https://h/repositories/1/issues?per_page=100&page=5&state=all", 3),
            "https://h/repositories/1/issues?per_page=100&page=3&state=all");
  EXPECT_EQ(gh::with_page_number("https://h/x?page=14", 2), "https://h/x?page=2");
}

TEST(LinkHeader, AMalformedEntryDoesNotSwallowTheNextLink) {
  auto links = gh::parse_link_header("<broken, <https://x.test/r?page=5>; rel=\"last\"");
  EXPECT_EQ(links.last, "https://x.test/r?page=5");
  links = gh::parse_link_header("<a<https://x.test/r?page=2>; rel=\"next\"");
  EXPECT_EQ(links.next, "https://x.test/r?page=2");
}

// Found by tests/fuzz/fuzz_link_header: a damaged first entry ran into the
// second, so rel="last" came back as "<garbage>, <https://...page=5".
TEST(LinkHeader, FuzzRegressionMalformedEntrySwallowsTheNextLink) {
  const std::string value =
      sluice::testing::fuzz_regression_input("link_header", "malformed-entry-swallows-the-next-link");
  const auto open = value.rfind('<'), close = value.rfind('>');
  ASSERT_LT(open, close);
  const auto links = gh::parse_link_header(value);
  EXPECT_EQ(links.last, value.substr(open + 1, close - open - 1));
  EXPECT_EQ(gh::page_number(*links.last), 5);
  EXPECT_FALSE(links.next);  // its rel is damaged: "n-----ext"
}
