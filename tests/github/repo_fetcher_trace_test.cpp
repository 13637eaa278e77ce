// repo-fetcher --trace FILE: a strict-JSON trace whose spans nest per
// thread, with the pipeline's stage, one HTTP span per request (URL
// without secrets) and never the token.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "../stages/trace_check.hpp"
#include "sluice/fake_github/server.hpp"
#include "sluice/repo_fetcher/cli.hpp"

namespace {

namespace rf = sluice::repo_fetcher;
namespace fg = sluice::fake_github;

TEST(RepoFetcherTrace, TraceHasTheStageAndEveryRequestButNeverTheToken) {
  const std::string token = "ghp_SluiceTraceToken0123456789abcdef";
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 150, .pulls = 30, .seed = 1},
                            {.owner = "b", .name = "two", .issues = 5, .pulls = 2, .seed = 2}},
                  .token = token});
  const auto file =
      (std::filesystem::temp_directory_path() / ("repo-fetcher-trace-" + std::to_string(::getpid()) + ".json"))
          .string();
  ::setenv("GITHUB_TOKEN", token.c_str(), 1);
  std::ostringstream out, err;
  const int status = rf::run({"--api-url", srv.base_url(), "--trace", file, "a/one", "b/two"}, out, err, false);
  ::unsetenv("GITHUB_TOKEN");
  ASSERT_EQ(status, rf::exit_ok) << err.str();

  auto t = sluice_test::load_trace(file);
  std::filesystem::remove(file);
  EXPECT_EQ(t.text.find(token), std::string::npos);
  EXPECT_EQ(t.dropped, 0);
  sluice_test::expect_spans_nest(t);
  std::size_t requests = 0, items = 0;
  for (const auto& s : t.async) {
    if (s.category == "http") {
      ++requests;
      EXPECT_EQ(s.args.at("status"), "200") << s.args.at("url");
      EXPECT_TRUE(s.args.at("url").starts_with(srv.base_url())) << s.args.at("url");
    }
    if (s.category == "item" && s.name == "fetch repository") ++items;
  }
  EXPECT_GE(requests, 4u);  // issues and pulls of two repositories, at least a page each
  EXPECT_EQ(items, 2u);
}

TEST(RepoFetcherTrace, AnUnwritableTraceIsAUsageErrorBeforeAnyRequest) {
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--trace", "/nonexistent-dir/t.json", "a/b"}, out, err, false), rf::exit_usage);
  EXPECT_NE(err.str().find("--trace"), std::string::npos) << err.str();
}

}  // namespace
