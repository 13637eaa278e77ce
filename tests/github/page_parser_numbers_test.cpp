// JSON integers of any magnitude in list pages (issue 9, class 3): values
// beyond 64 bits and negative counts are a malformed page, never a wrapped
// number.
#include <gtest/gtest.h>

#include <string>

#include "sluice/github/page_parser.hpp"

namespace gh = sluice::github;

TEST(PageParserNumbers, LargestCommentCountIsKeptExactly) {
  auto r = gh::parse_issue_page(std::string_view(R"([{"number":1,"comments":9223372036854775807}])"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].comments, 9223372036854775807LL);
}

TEST(PageParserNumbers, CommentCountBeyond64BitsIsAMalformedPage) {
  for (std::string body :
       {R"([{"number":1,"comments":9223372036854775808}])",
        R"([{"number":1,"comments":99999999999999999999999999999}])", R"([{"number":1,"comments":1e400}])"}) {
    auto r = gh::parse_issue_page(std::string_view(body));
    ASSERT_FALSE(r) << body;
    EXPECT_NE(r.error().message.find("comments"), std::string::npos) << r.error().message;
  }
}

TEST(PageParserNumbers, NegativeCommentCountIsAMalformedPage) {
  auto r = gh::parse_issue_page(std::string_view(R"([{"number":1,"comments":-5}])"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("comments"), std::string::npos) << r.error().message;
}

TEST(PageParserNumbers, IssueNumberBeyond64BitsIsAMalformedPage) {
  auto r = gh::parse_pull_page(std::string_view(R"([{"number":18446744073709551616}])"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("number"), std::string::npos) << r.error().message;
}
