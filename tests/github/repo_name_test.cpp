// repo_name: GitHub's naming rules, checked once, and request paths that no
// input can steer outside /repos/{owner}/{repo}/.
#include "sluice/github/repo_name.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gh = sluice::github;

TEST(RepoName, AcceptsWhatGitHubAccepts) {
  for (const char* ok : {"octocat/hello-world", "a/b", "A-1/x.y_z-9", "a/.github", "a/..x", "a/x..", "0/0", "o/_"}) {
    auto n = gh::repo_name::parse(ok);
    ASSERT_TRUE(n) << ok << ": " << n.error();
    EXPECT_EQ(n->full(), ok);
  }
  const std::string owner39(39, 'o'), repo100(100, 'r');
  EXPECT_TRUE(gh::repo_name::parse(owner39 + "/" + repo100));
}

TEST(RepoName, RefusesEverythingElseWithTheRuleBroken) {
  const std::string owner40(40, 'o'), repo101(101, 'r');
  struct bad {
    std::string name;
    const char* says;
  };
  for (const bad& b : std::initializer_list<bad>{{"noslash", "OWNER/REPO"},
                                                 {"/repo", "owner"},
                                                 {"owner/", "repository"},
                                                 {"a/b/c", "more than one"},
                                                 {"a/../b", "more than one"},
                                                 {"a/.", "cannot be"},
                                                 {"a/..", "cannot be"},
                                                 {"./b", "owner"},
                                                 {"o.wner/b", "owner"},
                                                 {"o_wner/b", "owner"},
                                                 {owner40 + "/b", "owner"},
                                                 {"a/" + repo101, "repository"},
                                                 {"a/b c", "repository"},
                                                 {"a/b%2F..", "repository"},
                                                 {"a/b?x=1", "repository"},
                                                 {"a/b#f", "repository"},
                                                 {"a/b\r\nX-Injected: 1", "repository"},
                                                 {"a/caf\xc3\xa9", "repository"},
                                                 {"a\x1b[31m/b", "owner"}}) {
    auto n = gh::repo_name::parse(b.name);
    ASSERT_FALSE(n) << b.name;
    EXPECT_NE(n.error().find(b.says), std::string::npos) << n.error();
    for (char c : n.error()) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << n.error();
  }
}

TEST(RepoName, ApiPathIsPercentEncodedPerSegment) {
  EXPECT_EQ(gh::repo_name::parse("octo-cat/hello.world_1")->api_path(), "/repos/octo-cat/hello.world_1");
  EXPECT_EQ(gh::percent_encode_path_segment(".."), "%2E%2E");
  EXPECT_EQ(gh::percent_encode_path_segment("."), "%2E");
  EXPECT_EQ(gh::percent_encode_path_segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
  EXPECT_EQ(gh::percent_encode_path_segment("\r\n\xff"), "%0D%0A%FF");
  EXPECT_EQ(gh::percent_encode_path_segment("x.y_z-~9"), "x.y_z-~9");
}

TEST(DisplayText, EscapeForDisplayLeavesNoControlCharacters) {
  EXPECT_EQ(gh::escape_for_display("a\x1b[2Jb\\c\td\x7f"), "a\\x1b[2Jb\\\\c\\x09d\\x7f");
  EXPECT_EQ(gh::escape_for_display("caf\xc3\xa9 \xe4\xb8\xad"), "caf\xc3\xa9 \xe4\xb8\xad");  // UTF-8 kept
  EXPECT_EQ(gh::escape_for_display("\xc2\x9b"), "\\u009b");                                   // C1 CSI
  EXPECT_EQ(gh::escape_for_display("x\xff"), "x\xef\xbf\xbd");                                // invalid -> U+FFFD
}
