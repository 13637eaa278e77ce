// repo-fetcher --trace FILE: a strict-JSON trace whose spans nest per
// thread, with the pipeline's stage, one HTTP span per request (URL
// without secrets) and never the token.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

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

TEST(RepoFetcherTrace, ARateLimitPauseIsTracedAndSigquitPrintsThePipeline) {
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 30, .pulls = 3, .seed = 1}}});
  // The fetcher pauses until the reset: 3-4 s ahead, so that a slow start (a
  // sanitizer build on a loaded machine) still sees it in the future.
  srv.exhaust_rate_limit(std::chrono::seconds(3));
  const auto file =
      (std::filesystem::temp_directory_path() / ("repo-fetcher-pause-" + std::to_string(::getpid()) + ".json"))
          .string();
  std::ostringstream out, err;
  std::atomic<bool> done{false};
  // Ignored outside rf::run (whose handler restores this), so a late raise is harmless.
  std::signal(SIGQUIT, SIG_IGN);
  // SIGQUIT once the first request was answered: a dump, and the run goes on.
  std::thread quitter([&] {
    while (!done.load() && srv.stats().requests == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!done.load()) ::raise(SIGQUIT);
  });
  const int status = rf::run({"--api-url", srv.base_url(), "--trace", file, "a/one"}, out, err, false);
  done = true;
  quitter.join();
  std::signal(SIGQUIT, SIG_DFL);
  EXPECT_EQ(status, rf::exit_ok) << err.str();
  EXPECT_NE(err.str().find("sluice pipeline dump"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("#1 \"fetch repository\""), std::string::npos) << err.str();

  auto t = sluice_test::load_trace(file);
  std::filesystem::remove(file);
  sluice_test::expect_spans_nest(t);
  bool paused = false;
  for (const auto& s : t.async) paused = paused || (s.category == "rate_limit" && s.end_ns > s.start_ns);
  EXPECT_TRUE(paused);
}

TEST(RepoFetcherTrace, AnUnwritableTraceIsAUsageErrorBeforeAnyRequest) {
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--trace", "/nonexistent-dir/t.json", "a/b"}, out, err, false), rf::exit_usage);
  EXPECT_NE(err.str().find("--trace"), std::string::npos) << err.str();
}

}  // namespace
