#include "sluice/github/link_header.hpp"

#include <gtest/gtest.h>

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
