// End-to-end: sluice::github::fetcher against the in-process fake GitHub.
// Expected figures come from the generator's ground truth (see
// github_test_support.hpp), never from the connector's own code.
#include <gtest/gtest.h>

#include <httplib.h>

#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "github_test_support.hpp"
#include "sluice/testing/serve_in_background.hpp"

namespace gh = sluice::github;
namespace fg = sluice::fake_github;
using gh::testing::expected_stats;
using gh::testing::fetch;
using gh::testing::quick_options;

namespace {

std::vector<std::string> names_of(const std::vector<fg::repo_spec>& specs) {
  std::vector<std::string> names;
  for (const auto& s : specs)
    if (s.error_status == 0) names.push_back(s.full_name());
  return names;
}

void expect_exact(const fg::server& srv, const std::vector<gh::repo_report>& reports) {
  for (const auto& r : reports) {
    SCOPED_TRACE(r.repo);
    ASSERT_TRUE(r.ok()) << r.failure->status << " " << r.failure->message;
    const fg::generated_repo* truth = srv.repo(r.repo);
    ASSERT_NE(truth, nullptr);
    // A renamed repository reports its target's data.
    if (!truth->spec.renamed_to.empty()) truth = srv.repo(truth->spec.renamed_to);
    ASSERT_TRUE(r.stats);
    EXPECT_EQ(*r.stats, expected_stats(*truth));
  }
}

// Requests the server saw for one repository's list endpoint (`kind` is
// "issues" or "pulls"), under either URL form.
std::size_t list_requests(const fg::server& srv, const std::string& full_name, const std::string& kind) {
  const fg::generated_repo* repo = srv.repo(full_name);
  const std::string by_name = "/repos/" + full_name + "/" + kind;
  const std::string by_id = "/repositories/" + std::to_string(repo->id) + "/" + kind;
  std::size_t n = 0;
  for (const auto& rec : srv.request_log())
    if (rec.path == by_name || rec.path == by_id) ++n;
  return n;
}

std::filesystem::path temp_dir(const std::string& tag) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sluice-gh-" + tag + "-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  return dir;
}

std::vector<fg::repo_spec> boundary_repos() {
  return {
      {.owner = "edge", .name = "zero", .issues = 0, .pulls = 0, .seed = 1},
      {.owner = "edge", .name = "one", .issues = 1, .pulls = 0, .seed = 2},
      {.owner = "edge", .name = "hundred", .issues = 100, .pulls = 0, .seed = 3},
      {.owner = "edge", .name = "hundred-one", .issues = 101, .pulls = 0, .seed = 4},
      {.owner = "edge", .name = "pulls-hundred", .issues = 0, .pulls = 100, .seed = 5},
      {.owner = "edge", .name = "pulls-hundred-one", .issues = 0, .pulls = 101, .seed = 6},
      {.owner = "edge", .name = "mixed", .issues = 190, .pulls = 160, .seed = 7},
  };
}

}  // namespace

TEST(GithubFetcher, ReportsExactStatisticsAtPageBoundaries) {
  fg::server srv({.repos = boundary_repos()});
  auto run = fetch(quick_options(srv), names_of(boundary_repos()));
  ASSERT_EQ(run.reports.size(), 7u);
  expect_exact(srv, run.reports);
  // 0, 1 and 100 items fit one page; 101 items need exactly two.
  EXPECT_EQ(list_requests(srv, "edge/zero", "issues"), 1u);
  EXPECT_EQ(list_requests(srv, "edge/one", "issues"), 1u);
  EXPECT_EQ(list_requests(srv, "edge/hundred", "issues"), 1u);
  EXPECT_EQ(list_requests(srv, "edge/hundred-one", "issues"), 2u);
  EXPECT_EQ(list_requests(srv, "edge/pulls-hundred", "pulls"), 1u);
  EXPECT_EQ(list_requests(srv, "edge/pulls-hundred-one", "pulls"), 2u);
  EXPECT_EQ(list_requests(srv, "edge/mixed", "issues"), 4u);
  EXPECT_EQ(list_requests(srv, "edge/mixed", "pulls"), 2u);
}

TEST(GithubFetcher, SendsTheHeadersAndQueryGitHubExpects) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 3, .pulls = 2}}, .token = "tok-123"});
  auto options = quick_options(srv);
  options.token = gh::api_token("tok-123");
  auto run = fetch(options, {"a/b"});
  ASSERT_TRUE(run.reports[0].ok()) << run.reports[0].failure->message;
  const auto stats = srv.stats();
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : stats.last_headers) {
    std::string key = k;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[key] = v;
  }
  EXPECT_EQ(headers["accept"], "application/vnd.github+json");
  EXPECT_EQ(headers["x-github-api-version"], "2022-11-28");
  EXPECT_FALSE(headers["user-agent"].empty());
  EXPECT_EQ(headers["authorization"].rfind("Bearer", 0), 0u);
  for (const auto& rec : srv.request_log()) {
    EXPECT_NE(rec.query.find("per_page=100"), std::string::npos) << rec.query;
    EXPECT_NE(rec.query.find("state=all"), std::string::npos) << rec.query;
    EXPECT_TRUE(rec.had_authorization);
  }
}

TEST(GithubFetcher, FollowsNextWithoutLastCursorsAndRenames) {
  std::vector<fg::repo_spec> specs{
      {.owner = "p",
       .name = "no-last",
       .issues = 230,
       .pulls = 120,
       .seed = 11,
       .pagination = fg::pagination_mode::numbered_no_last},
      {.owner = "p",
       .name = "cursor",
       .issues = 250,
       .pulls = 150,
       .seed = 12,
       .pagination = fg::pagination_mode::cursor},
      {.owner = "p", .name = "old-name", .seed = 13, .renamed_to = "p/new-name"},
      {.owner = "p", .name = "new-name", .issues = 120, .pulls = 30, .seed = 13},
  };
  fg::server srv({.repos = specs});
  auto run = fetch(quick_options(srv), {"p/no-last", "p/cursor", "p/old-name"});
  expect_exact(srv, run.reports);
  EXPECT_GE(run.stats.redirects, 2u);
  // Never a 422 from building deep page= URLs by hand.
  EXPECT_EQ(srv.stats().count(422), 0u);
}

TEST(GithubFetcher, AMissingRepositoryFailsAloneAndIsNotRetried) {
  std::vector<fg::repo_spec> specs{
      {.owner = "ok", .name = "one", .issues = 40, .pulls = 20, .seed = 1},
      {.owner = "ok", .name = "two", .issues = 140, .pulls = 20, .seed = 2},
      {.owner = "bad", .name = "empty", .seed = 3, .error_status = 409},
      {.owner = "bad", .name = "gone", .issues = 5, .seed = 4, .error_status = 410},
      {.owner = "bad", .name = "blocked", .issues = 5, .seed = 5, .error_status = 451},
      {.owner = "bad", .name = "unprocessable", .issues = 5, .seed = 6, .error_status = 422},
  };
  fg::server srv({.repos = specs});
  auto run = fetch(quick_options(srv),
                   {"ok/one", "bad/missing", "bad/empty", "ok/two", "bad/gone", "bad/blocked", "bad/unprocessable"});
  std::map<std::string, long> failed;
  for (const auto& r : run.reports)
    if (!r.ok()) failed[r.repo] = r.failure->status;
  EXPECT_EQ(failed, (std::map<std::string, long>{{"bad/missing", 404},
                                                 {"bad/empty", 409},
                                                 {"bad/gone", 410},
                                                 {"bad/blocked", 451},
                                                 {"bad/unprocessable", 422}}));
  for (const auto& r : run.reports)
    if (!r.ok()) {
      EXPECT_NE(r.failure->message.find(r.repo), std::string::npos) << r.failure->message;  // names the URL
      EXPECT_EQ(r.requests, 2) << r.repo;  // /issues and /pulls once each: no retry
    }
  expect_exact(srv, {run.reports[0], run.reports[3]});
  EXPECT_EQ(run.stats.retries, 0u);
}

TEST(GithubFetcher, BadCredentialsStopTheWholeRun) {
  std::vector<fg::repo_spec> specs;
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) {
    specs.push_back(
        {.owner = "o", .name = "r" + std::to_string(i), .issues = 150, .pulls = 50, .seed = std::uint64_t(i + 1)});
    names.push_back(specs.back().full_name());
  }
  fg::server srv({.repos = specs, .token = "the-right-token"});
  auto options = quick_options(srv);
  options.token = gh::api_token("a-wrong-token");
  options.concurrency = 4;
  auto run = fetch(options, names);
  EXPECT_TRUE(run.unauthorized);
  for (const auto& r : run.reports) {
    ASSERT_FALSE(r.ok()) << r.repo;
    EXPECT_EQ(r.failure->status, 401) << r.repo;
    EXPECT_EQ(r.failure->message.find("a-wrong-token"), std::string::npos);
  }
  // Stopped: far fewer requests than the 80+ a full run needs, and no retries.
  EXPECT_LT(srv.stats().requests, 20u);
  EXPECT_EQ(run.stats.retries, 0u);
  for (const auto& n : run.notices) EXPECT_EQ(n.find("a-wrong-token"), std::string::npos) << n;
}

TEST(GithubFetcher, WaitsForAnExhaustedRateLimitToResetThenCompletes) {
  std::vector<fg::repo_spec> specs{{.owner = "rl", .name = "a", .issues = 150, .pulls = 60, .seed = 1},
                                   {.owner = "rl", .name = "b", .issues = 30, .pulls = 10, .seed = 2}};
  fg::server srv({.repos = specs});
  srv.exhaust_rate_limit(std::chrono::seconds(2));
  auto run = fetch(quick_options(srv), {"rl/a", "rl/b"});
  expect_exact(srv, run.reports);
  EXPECT_GE(run.stats.primary_waits, 1u);
  EXPECT_GE(srv.stats().count(403), 1u);
  bool said_so = false;
  for (const auto& n : run.notices) said_so |= n.find("rate limit exhausted; waiting") != std::string::npos;
  EXPECT_TRUE(said_so);
  // After the wait, every request succeeded: the limit was not hit again at the reset second.
  std::size_t limited_after_first = 0, seen_ok = 0;
  for (const auto& rec : srv.request_log()) {
    if (rec.status == 200) ++seen_ok;
    if (rec.status == 403 && seen_ok > 0) ++limited_after_first;
  }
  EXPECT_EQ(limited_after_first, 0u);
}

TEST(GithubFetcher, SecondaryLimitsPauseLowerConcurrencyAndComplete) {
  std::vector<fg::repo_spec> specs;
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    specs.push_back(
        {.owner = "sl", .name = "r" + std::to_string(i), .issues = 120, .pulls = 90, .seed = std::uint64_t(i + 7)});
    names.push_back(specs.back().full_name());
  }
  fg::server srv(
      {.repos = specs,
       .faults = {.secondary_limit_count = 6, .secondary_retry_after_s = 1, .secondary_omit_retry_after_rate = 0.5}});
  auto options = quick_options(srv);
  options.concurrency = 16;
  auto run = fetch(options, names);
  expect_exact(srv, run.reports);
  EXPECT_GE(run.stats.secondary_limits, 6u);
  EXPECT_LT(run.stats.concurrency_limit, 16u);
  EXPECT_GE(srv.stats().count(403) + srv.stats().count(429), 6u);
  bool said_so = false;
  for (const auto& n : run.notices) said_so |= n.find("secondary rate limit") != std::string::npos;
  EXPECT_TRUE(said_so);
}

TEST(GithubFetcher, ConcurrencySecondaryLimitIsRespectedAdaptively) {
  std::vector<fg::repo_spec> specs;
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) {
    specs.push_back(
        {.owner = "cc", .name = "r" + std::to_string(i), .issues = 210, .pulls = 110, .seed = std::uint64_t(i + 3)});
    names.push_back(specs.back().full_name());
  }
  fg::server srv(
      {.repos = specs,
       .faults = {
           .latency = std::chrono::milliseconds(5), .secondary_limit_concurrency = 4, .secondary_retry_after_s = 0}});
  auto options = quick_options(srv);
  options.concurrency = 32;
  auto run = fetch(options, names);
  expect_exact(srv, run.reports);
  EXPECT_GE(run.stats.secondary_limits, 1u);
  EXPECT_LE(run.stats.concurrency_limit, 16u);
}

TEST(GithubFetcher, Storms502AreRetriedIncludingMidPagination) {
  std::vector<fg::repo_spec> specs{{.owner = "st", .name = "a", .issues = 300, .pulls = 200, .seed = 1},
                                   {.owner = "st",
                                    .name = "b",
                                    .issues = 250,
                                    .pulls = 50,
                                    .seed = 2,
                                    .pagination = fg::pagination_mode::numbered_no_last}};
  fg::server srv({.repos = specs, .faults = {.error_502_rate = 0.35, .error_502_count = 6}});
  auto options = quick_options(srv);
  options.max_attempts = 12;
  auto run = fetch(options, {"st/a", "st/b"});
  expect_exact(srv, run.reports);
  EXPECT_GE(srv.stats().count(502), 6u);
  EXPECT_GE(run.stats.retries, 6u);
}

TEST(GithubFetcher, PersistentServerErrorsBecomeAReportedErrorAfterBoundedAttempts) {
  std::vector<fg::repo_spec> specs{{.owner = "ok", .name = "fine", .issues = 10, .seed = 1},
                                   {.owner = "st", .name = "down", .issues = 10, .seed = 2, .error_status = 502}};
  fg::server srv({.repos = specs});
  auto options = quick_options(srv);
  options.max_attempts = 3;
  auto run = fetch(options, {"ok/fine", "st/down"});
  EXPECT_TRUE(run.reports[0].ok());
  ASSERT_FALSE(run.reports[1].ok());
  EXPECT_EQ(run.reports[1].failure->status, 502);
  EXPECT_EQ(run.reports[1].requests, 6);  // 3 attempts for each endpoint
}

TEST(GithubFetcher, MalformedBodiesAreRetriedThenParsed) {
  std::vector<fg::repo_spec> specs{{.owner = "mf", .name = "a", .issues = 320, .pulls = 150, .seed = 1},
                                   {.owner = "mf", .name = "b", .issues = 90, .pulls = 10, .seed = 2}};
  fg::server srv({.repos = specs, .faults = {.malformed_rate = 0.3, .malformed_count = 4}});
  auto options = quick_options(srv);
  options.max_attempts = 12;
  auto run = fetch(options, {"mf/a", "mf/b"});
  expect_exact(srv, run.reports);
  EXPECT_GE(run.stats.malformed_pages, 4u);
}

TEST(GithubFetcher, PersistentlyMalformedJsonIsAnErrorForThatRepositoryOnly) {
  std::vector<fg::repo_spec> specs{{.owner = "mf", .name = "good", .issues = 30, .pulls = 5, .seed = 1},
                                   {.owner = "mf", .name = "bad", .issues = 30, .pulls = 5, .seed = 2}};
  fg::server srv({.repos = specs});
  srv.set_repo_faults("mf/bad", {.malformed_rate = 1.0});
  auto options = quick_options(srv);
  options.max_attempts = 3;
  auto run = fetch(options, {"mf/good", "mf/bad"});
  expect_exact(srv, {run.reports[0]});
  ASSERT_FALSE(run.reports[1].ok());
  EXPECT_EQ(run.reports[1].failure->status, 0);
  EXPECT_NE(run.reports[1].failure->message.find("malformed JSON"), std::string::npos);
}

TEST(GithubFetcher, EtagCacheMakesTheSecondRunAllNotModified) {
  const auto dir = temp_dir("cache");
  std::vector<fg::repo_spec> specs{
      {.owner = "c", .name = "a", .issues = 230, .pulls = 120, .seed = 1},
      {.owner = "c", .name = "b", .issues = 10, .pulls = 0, .seed = 2},
      {.owner = "c", .name = "cur", .issues = 150, .pulls = 101, .seed = 3, .pagination = fg::pagination_mode::cursor}};
  fg::server srv({.repos = specs});
  auto options = quick_options(srv);
  options.cache_dir = dir;
  auto first = fetch(options, {"c/a", "c/b", "c/cur"});
  expect_exact(srv, first.reports);
  const auto first_requests = srv.stats().requests;
  EXPECT_EQ(srv.stats().not_modified, 0u);
  srv.reset_stats();

  auto second = fetch(options, {"c/a", "c/b", "c/cur"});
  expect_exact(srv, second.reports);
  const auto stats = srv.stats();
  EXPECT_EQ(stats.requests, first_requests);
  EXPECT_EQ(stats.not_modified, stats.requests);  // all 304s
  EXPECT_EQ(second.stats.not_modified, stats.requests);
  for (const auto& rec : srv.request_log()) EXPECT_TRUE(rec.had_if_none_match);
  std::filesystem::remove_all(dir);
}

TEST(GithubFetcher, TheTokenIsNeverSentToAnotherHostOnRedirect) {
  // The "other host": a second fake GitHub on another port (another origin).
  fg::server other({.repos = {{.owner = "moved", .name = "elsewhere", .issues = 12, .pulls = 3, .seed = 5}}});
  // The API host answers every request with a 301 to the other host.
  httplib::Server api;
  const std::string target = other.base_url();
  std::atomic<int> api_auth{0};
  api.Get(".*", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Authorization")) ++api_auth;
    std::string path = req.path;
    const std::string from = "/repos/moved/here";
    if (path.rfind(from, 0) == 0) path = "/repos/moved/elsewhere" + path.substr(from.size());
    std::string query;
    for (const auto& [k, v] : req.params) query += (query.empty() ? "?" : "&") + k + "=" + v;
    res.status = 301;
    res.set_header("Location", target + path + query);
  });
  const int port = api.bind_to_any_port("127.0.0.1");
  std::thread serve = sluice::testing::serve_in_background(api);

  gh::fetch_options options;
  options.api_url = "http://127.0.0.1:" + std::to_string(port);
  options.token = gh::api_token("secret-not-for-other-hosts");
  options.backoff_base = std::chrono::milliseconds(5);
  auto run = fetch(options, {"moved/here"});
  api.stop();
  serve.join();
  ASSERT_TRUE(run.reports[0].ok()) << run.reports[0].failure->message;
  EXPECT_EQ(*run.reports[0].stats, expected_stats(*other.repo("moved/elsewhere")));
  EXPECT_GE(api_auth.load(), 1);                    // the API host got the token
  EXPECT_EQ(other.stats().with_authorization, 0u);  // the other host never did
}
