// repo-fetcher's command line: parsing, exit statuses, and (running the real
// binary as a subprocess) that the token never appears in its output or logs.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <thread>

#include "github_test_support.hpp"
#include "sluice/fake_github/demo.hpp"
#include "sluice/repo_fetcher/cli.hpp"
#include "subprocess.hpp"

namespace rf = sluice::repo_fetcher;
namespace fg = sluice::fake_github;
namespace gh = sluice::github;

namespace {

struct process_result {
  int status = -1;
  std::string output;  // stdout and stderr together
};

process_result run_binary(const std::string& env, const std::string& args) {
  const std::string command = env + " '" SLUICE_REPO_FETCHER_BINARY "' " + args + " 2>&1";
  process_result out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.output.append(buf, n);
  const int raw = ::pclose(pipe);
  out.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

std::string usage_error_of(const std::vector<std::string>& args) {
  auto parsed = rf::parse_command_line(args);
  auto* e = std::get_if<rf::usage_error>(&parsed);
  return e ? e->message : std::string();
}

using sluice::testing::temp_path;

}  // namespace

TEST(RepoFetcherCli, ParsesEveryOption) {
  const auto file = temp_path("repos");
  std::ofstream(file) << "# comment\n\n  a/b  \nc/d # trailing comment\na/b\n";
  auto parsed = rf::parse_command_line({"x/y", "--repos-file", file.string(), "--api-url=http://127.0.0.1:1/api/v3",
                                        "--concurrency", "7", "--format", "csv", "--out", "o.csv", "--cache-dir", "cd",
                                        "--no-progress"});
  std::filesystem::remove(file);
  ASSERT_TRUE(std::holds_alternative<rf::cli_options>(parsed)) << std::get<rf::usage_error>(parsed).message;
  const auto& o = std::get<rf::cli_options>(parsed);
  EXPECT_EQ(o.repos, (std::vector<std::string>{"x/y", "a/b", "c/d"}));
  EXPECT_EQ(o.api_url, "http://127.0.0.1:1/api/v3");
  EXPECT_EQ(o.concurrency, 7u);
  EXPECT_EQ(o.format, gh::output_format::csv);
  EXPECT_EQ(o.out, "o.csv");
  EXPECT_EQ(o.cache_dir, "cd");
  EXPECT_EQ(o.progress, false);
}

TEST(RepoFetcherCli, UsageErrorsSayWhatIsWrong) {
  EXPECT_NE(usage_error_of({}).find("no repositories"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--format", "xml"}).find("jsonl, csv or table"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--concurrency", "0"}).find("--concurrency"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--concurrency", "ten"}).find("--concurrency"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--concurrency"}).find("needs a value"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--frobnicate"}).find("unknown option --frobnicate"), std::string::npos);
  EXPECT_NE(usage_error_of({"not-a-repo"}).find("OWNER/REPO"), std::string::npos);
  EXPECT_NE(usage_error_of({"a/b", "--api-url", "ftp://x"}).find("http"), std::string::npos);
  EXPECT_NE(usage_error_of({"--repos-file", "/nonexistent/file"}).find("cannot read"), std::string::npos);
}

TEST(RepoFetcherCli, UsageErrorExitsWithTwoAndAHint) {
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--format", "yaml", "a/b"}, out, err, false), rf::exit_usage);
  EXPECT_NE(err.str().find("--help"), std::string::npos);
  EXPECT_TRUE(out.str().empty());
}

TEST(RepoFetcherCli, HelpListsTheOptions) {
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--help"}, out, err, false), rf::exit_ok);
  for (const char* option : {"--repos-file", "--api-url", "--concurrency", "--format", "--out", "--cache-dir",
                             "--progress", "--no-progress", "--timeout", "--max-wait", "--max-body", "--max-pages"})
    EXPECT_NE(out.str().find(option), std::string::npos) << option;
}

TEST(RepoFetcherCli, JsonlSortedByNameWithFailuresAndExitOne) {
  fg::server srv({.repos = {{.owner = "b", .name = "two", .issues = 20, .pulls = 5, .seed = 2},
                            {.owner = "a", .name = "one", .issues = 150, .pulls = 30, .seed = 1}}});
  std::ostringstream out, err;
  const int status = rf::run({"--api-url", srv.base_url(), "b/two", "zz/missing", "a/one"}, out, err, false);
  EXPECT_EQ(status, rf::exit_some_failed);
  std::istringstream lines(out.str());
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].rfind("{\"repo\": \"a/one\", \"issues\": {", 0), 0u) << rows[0];
  EXPECT_EQ(rows[1].rfind("{\"repo\": \"b/two\", ", 0), 0u) << rows[1];
  EXPECT_NE(rows[2].find("\"error\": {\"status\": 404"), std::string::npos) << rows[2];
  std::ostringstream expected;
  gh::write_jsonl(expected, {.repo = "a/one", .stats = gh::testing::expected_stats(*srv.repo("a/one")), .failure = {}});
  EXPECT_EQ(rows[0] + "\n", expected.str());
}

TEST(RepoFetcherCli, AllGoodExitsZero) {
  fg::server srv({.repos = {{.owner = "a", .name = "one", .issues = 3, .pulls = 1, .seed = 1}}});
  std::ostringstream out, err;
  EXPECT_EQ(rf::run({"--api-url", srv.base_url(), "--format", "table", "a/one"}, out, err, false), rf::exit_ok);
  EXPECT_NE(out.str().find("a/one"), std::string::npos);
}

TEST(RepoFetcherCli, TheDemoRunsTheFakeServerAndTheFetcherAsSeparateProcesses) {
  // What scripts/demo.sh does: the server prints its URL on its first line;
  // repo-fetcher fetches the demo set from it with --api-url.
  sluice::testing::child_process server({SLUICE_FAKE_GITHUB_SERVER_BINARY, "--demo"}, {});
  ASSERT_TRUE(server.started());
  std::string url;
  for (int i = 0; i < 12000 && url.empty(); ++i) {
    const std::string text = server.stdout_text();
    if (text.find('\n') != std::string::npos) url = text.substr(0, text.find('\n'));
    if (url.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(url.empty()) << server.stderr_text();
  std::vector<std::string> args{SLUICE_REPO_FETCHER_BINARY, "--api-url", url, "--format", "table"};
  for (const auto& name : fg::demo_repo_names()) args.push_back(name);
  sluice::testing::child_process fetcher(args, {});
  ASSERT_TRUE(fetcher.started());
  EXPECT_EQ(fetcher.wait(std::chrono::seconds(300)), rf::exit_ok) << fetcher.stderr_text();
  for (const auto& name : fg::demo_repo_names()) EXPECT_NE(fetcher.stdout_text().find(name), std::string::npos) << name;
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(std::chrono::seconds(60)), 0);
}

TEST(RepoFetcherCli, TheTokenNeverAppearsInOutputOrLogs) {
  const std::string token = "ghp_SluiceTestToken0123456789abcdef";
  fg::server srv({.repos = {{.owner = "t", .name = "ok", .issues = 140, .pulls = 20, .seed = 1},
                            {.owner = "t", .name = "gone", .issues = 1, .seed = 2, .error_status = 410}},
                  .token = token,
                  .faults = {.error_502_count = 2, .malformed_count = 1, .secondary_limit_count = 1}});
  const auto cache = temp_path("cache");
  // Correct token: failures, retries, secondary limits and the cache all exercised.
  auto good = run_binary("GITHUB_TOKEN=" + token, "--progress --api-url " + srv.base_url() + " --cache-dir " +
                                                      cache.string() + " t/ok t/gone t/nope");
  EXPECT_EQ(good.status, 1) << good.output;
  EXPECT_NE(good.output.find("\"repo\": \"t/ok\""), std::string::npos) << good.output;
  EXPECT_EQ(good.output.find(token), std::string::npos) << good.output;
  // GH_TOKEN is the fallback; a wrong one gives 401 everywhere, still unprinted.
  auto bad = run_binary("GITHUB_TOKEN= GH_TOKEN=" + token + "-wrong", "--api-url " + srv.base_url() + " t/ok t/gone");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("\"status\": 401"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find(token), std::string::npos) << bad.output;
  // Nor in the cache.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cache)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    EXPECT_EQ(s.str().find(token), std::string::npos) << entry.path();
  }
  std::filesystem::remove_all(cache);
}

TEST(RepoFetcherCli, BinaryExitsTwoOnUsageErrors) {
  auto r = run_binary("", "--concurrency nope a/b");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--concurrency"), std::string::npos);
}
