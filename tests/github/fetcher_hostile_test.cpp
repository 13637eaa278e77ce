// The fetcher against a hostile fake GitHub (issue 9): absurd numbers, lying
// pagination, huge pages, silence, and cancellation. Each test names the
// class it covers. Expected figures come from the generator's ground truth.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <regex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "github_test_support.hpp"

namespace gh = sluice::github;
namespace fg = sluice::fake_github;
using gh::testing::expected_stats;
using gh::testing::fetch;
using gh::testing::quick_options;
using namespace std::chrono_literals;

namespace {

bool any_notice_matches(const std::vector<std::string>& notices, const std::regex& pattern) {
  for (const auto& n : notices)
    if (std::regex_search(n, pattern)) return true;
  return false;
}

std::string joined(const std::vector<std::string>& notices) {
  std::string out;
  for (const auto& n : notices) out += n + "\n";
  return out;
}

const std::regex k_utc_datetime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");

// Stops `source` once the server has seen `requests` requests (from a helper thread).
std::jthread stop_after_requests(const fg::server& srv, std::stop_source source, std::uint64_t requests,
                                 std::chrono::milliseconds extra = 200ms) {
  return std::jthread([&srv, source, requests, extra]() mutable {
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (srv.stats().requests < requests && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(extra);
    source.request_stop();
  });
}

}  // namespace

// ---- Class 1: URLs the server chose never carry control characters onto the wire.

TEST(GithubHostile, LinkWithControlCharacterFailsTheRepositoryWithAnEscapedMessage) {
  fg::server srv({.repos = {{.owner = "bad", .name = "link", .issues = 150, .pulls = 0, .seed = 3},
                            {.owner = "good", .name = "repo", .issues = 150, .pulls = 0, .seed = 4}},
                  .token = "s3cret-token"});
  srv.set_repo_faults("bad/link", {.link_suffix = "\x01"});
  auto options = quick_options(srv);
  options.token = gh::api_token("s3cret-token");
  auto run = fetch(options, {"bad/link", "good/repo"});
  ASSERT_EQ(run.reports.size(), 2u);
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_NE(run.reports[0].failure->message.find("\\x01"), std::string::npos) << run.reports[0].failure->message;
  EXPECT_EQ(run.reports[0].failure->message.find('\x01'), std::string::npos);
  EXPECT_EQ(run.reports[0].failure->message.find("s3cret-token"), std::string::npos);
  ASSERT_TRUE(run.reports[1].ok()) << run.reports[1].failure->message;
  EXPECT_EQ(*run.reports[1].stats, expected_stats(*srv.repo("good/repo")));
  // Only the first page of bad/link was requested: the poisoned next URL never was.
  const std::string bad_by_id = "/repositories/" + std::to_string(srv.repo("bad/link")->id) + "/";
  std::size_t bad_requests = 0;
  for (const auto& rec : srv.request_log())
    if (rec.path.find("/repos/bad/link/") != std::string::npos || rec.path.starts_with(bad_by_id)) ++bad_requests;
  EXPECT_EQ(bad_requests, 2u);  // issues page 1 and pulls page 1
}

// ---- Class 3: numbers of any magnitude.

TEST(GithubHostile, AbsurdRateLimitResetFailsInsteadOfWaitingOrBursting) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 5, .pulls = 2, .seed = 1}}});
  srv.set_faults({.ratelimit_reset_value = "99999999999999999"});
  srv.exhaust_rate_limit(600s);
  auto run = fetch(quick_options(srv), {"a/b"});
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_EQ(run.reports[0].failure->status, 403);
  EXPECT_NE(run.reports[0].failure->message.find("max_wait"), std::string::npos) << run.reports[0].failure->message;
  EXPECT_LE(srv.stats().requests, 4u) << "an absurd reset must not turn into a burst";
}

TEST(GithubHostile, ResetBeyondMaxWaitFailsWithItsDateAndAWaitTakenIsAnnouncedWithItsEnd) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 5, .pulls = 2, .seed = 1}}});
  srv.exhaust_rate_limit(120s);
  auto options = quick_options(srv);
  options.max_wait = 10s;
  auto refused = fetch(options, {"a/b"});
  ASSERT_FALSE(refused.reports[0].ok());
  EXPECT_TRUE(std::regex_search(refused.reports[0].failure->message, k_utc_datetime))
      << refused.reports[0].failure->message;

  fg::server soon({.repos = {{.owner = "a", .name = "b", .issues = 5, .pulls = 2, .seed = 1}}});
  // 3 s, not 1: the limit must still hold when the fetcher's first request
  // arrives, which under TSan on a loaded machine took over a second (CI).
  soon.exhaust_rate_limit(3s);
  auto waited = fetch(quick_options(soon), {"a/b"});
  ASSERT_TRUE(waited.reports[0].ok()) << waited.reports[0].failure->message;
  EXPECT_EQ(*waited.reports[0].stats, expected_stats(*soon.repo("a/b")));
  EXPECT_TRUE(any_notice_matches(waited.notices, k_utc_datetime)) << joined(waited.notices);
}

TEST(GithubHostile, AbsurdRetryAfterFailsTheRepositoryInsteadOfOverflowing) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 5, .pulls = 2, .seed = 1},
                            {.owner = "c", .name = "d", .issues = 5, .pulls = 2, .seed = 2}}});
  srv.set_repo_faults("a/b", {.secondary_limit_count = 100, .retry_after_value = "99999999999999999999999"});
  auto run = fetch(quick_options(srv), {"a/b", "c/d"});
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_NE(run.reports[0].failure->message.find("max_wait"), std::string::npos) << run.reports[0].failure->message;
  ASSERT_TRUE(run.reports[1].ok()) << run.reports[1].failure->message;
  EXPECT_EQ(*run.reports[1].stats, expected_stats(*srv.repo("c/d")));
}

TEST(GithubHostile, CommentTotalThatDoesNotFitIsAnErrorNotAWrappedNumber) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 1, .pulls = 0, .seed = 1},
                            {.owner = "c", .name = "d", .issues = 5, .pulls = 2, .seed = 2}}});
  srv.set_repo_faults(
      "a/b", {.synthetic_pages = 3, .synthetic_item = R"({"number":7,"state":"open","comments":9223372036854775807})"});
  auto options = quick_options(srv);
  options.per_page = 1;
  auto run = fetch(options, {"a/b", "c/d"});
  ASSERT_FALSE(run.reports[0].ok()) << "the sum wrapped to " << run.reports[0].stats->comments_total;
  EXPECT_NE(run.reports[0].failure->message.find("64-bit"), std::string::npos) << run.reports[0].failure->message;
  ASSERT_TRUE(run.reports[1].ok());
  EXPECT_EQ(*run.reports[1].stats, expected_stats(*srv.repo("c/d")));
}

// ---- Class 4: bounded memory and fan-out.

TEST(GithubHostile, PageOverTheBodyLimitFailsOnlyItsRepository) {
  fg::server srv({.repos = {{.owner = "big", .name = "pages", .issues = 100, .pulls = 0, .seed = 1},
                            {.owner = "small", .name = "pages", .issues = 1, .pulls = 0, .seed = 2}}});
  auto options = quick_options(srv);
  options.max_body_bytes = 64 * 1024;  // issues are ~4 KB each: 100 of them do not fit
  auto run = fetch(options, {"big/pages", "small/pages"});
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_NE(run.reports[0].failure->message.find("limit"), std::string::npos) << run.reports[0].failure->message;
  ASSERT_TRUE(run.reports[1].ok()) << run.reports[1].failure->message;
  EXPECT_EQ(*run.reports[1].stats, expected_stats(*srv.repo("small/pages")));
}

TEST(GithubHostile, RelLastFarBeyondTheDataCostsAtMostOneWindowOfRequests) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 250, .pulls = 30, .seed = 5}}});
  srv.set_faults({.fake_last_page = 50'000});
  auto options = quick_options(srv);
  options.concurrency = 8;
  auto run = fetch(options, {"a/b"});
  ASSERT_TRUE(run.reports[0].ok()) << run.reports[0].failure->message;
  EXPECT_EQ(*run.reports[0].stats, expected_stats(*srv.repo("a/b")));
  // 3 issue pages + 1 pull page are real; the rest is at most a window per endpoint.
  EXPECT_LE(srv.stats().requests, 4u + 2 * options.concurrency) << "fan-out must not trust rel=\"last\"";
}

TEST(GithubHostile, EndlessNextChainEndsAtThePageCapWithAClearError) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 1, .pulls = 1, .seed = 5}}});
  srv.set_repo_faults("a/b", {.synthetic_pages = -1});
  auto options = quick_options(srv);
  options.per_page = 1;
  options.max_pages = 50;
  auto run = fetch(options, {"a/b"});
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_NE(run.reports[0].failure->message.find("max_pages"), std::string::npos) << run.reports[0].failure->message;
  EXPECT_LE(srv.stats().requests, 2u * 50u + 2u);
}

TEST(GithubHostile, RelLastBeyondThePageCapFailsAfterTheCap) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 1, .pulls = 1, .seed = 5}}});
  srv.set_repo_faults("a/b", {.synthetic_pages = 500});
  auto options = quick_options(srv);
  options.per_page = 1;
  options.max_pages = 40;
  auto run = fetch(options, {"a/b"});
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_NE(run.reports[0].failure->message.find("max_pages"), std::string::npos) << run.reports[0].failure->message;
  EXPECT_LE(srv.stats().requests, 2u * 40u + 2u);
}

// ---- Class 8: silence is bounded and visible.

TEST(GithubHostile, SilentServerEndsEachAttemptAndIsAnnouncedWithItsHost) {
  fg::server srv({.repos = {{.owner = "slow", .name = "repo", .issues = 3, .pulls = 1, .seed = 1},
                            {.owner = "fast", .name = "repo", .issues = 3, .pulls = 1, .seed = 2}}});
  srv.set_repo_faults("slow/repo", {.latency = 20s});
  auto options = quick_options(srv);
  options.inactivity_timeout = 1s;
  options.max_attempts = 2;
  options.stall_notice_after = 300ms;
  auto run = fetch(options, {"slow/repo", "fast/repo"});
  ASSERT_FALSE(run.reports[0].ok());
  EXPECT_EQ(run.reports[0].failure->status, 0);
  EXPECT_NE(run.reports[0].failure->message.find("gave up after 2 attempts"), std::string::npos)
      << run.reports[0].failure->message;
  ASSERT_TRUE(run.reports[1].ok());
  const std::string host = "127.0.0.1:" + std::to_string(srv.port());
  bool named = false;
  for (const auto& n : run.notices)
    named = named || (n.find("still waiting") != std::string::npos && n.find(host) != std::string::npos &&
                      n.find("/repos/slow/repo/") != std::string::npos);
  EXPECT_TRUE(named) << joined(run.notices);
}

// ---- Cancellation through fetch_options::stop.

TEST(GithubHostile, StopEndsInFlightRequestsAndReportsCancelled) {
  fg::server srv({.repos = {{.owner = "fast", .name = "repo", .issues = 3, .pulls = 1, .seed = 2},
                            {.owner = "slow", .name = "repo", .issues = 3, .pulls = 1, .seed = 1}}});
  srv.set_repo_faults("slow/repo", {.latency = 60s});
  std::stop_source source;
  auto options = quick_options(srv);
  options.concurrency = 4;  // both at once: fast/repo finishes, slow/repo's requests hang
  options.stop = source.get_token();
  auto stopper = stop_after_requests(srv, source, 2, 500ms);
  const auto start = std::chrono::steady_clock::now();
  auto run = fetch(options, {"fast/repo", "slow/repo"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);  // far below the 60 s latency
  ASSERT_TRUE(run.reports[0].ok()) << run.reports[0].failure->message;
  EXPECT_EQ(*run.reports[0].stats, expected_stats(*srv.repo("fast/repo")));
  ASSERT_FALSE(run.reports[1].ok());
  EXPECT_EQ(run.reports[1].failure->status, 0);
  EXPECT_EQ(run.reports[1].failure->message, "cancelled");
}

// Two permits, two repositories, four first pages (each repository asks
// for its issues and its pull requests at once): two requests hang on the
// server and two wait for a permit. The stop withdraws those waits (the
// fetcher's permit acquire takes the run's token) and cancels the hanging
// requests: the run returns promptly, every row says cancelled, and no
// request starts after the stop.
TEST(GithubHostile, StopEndsRequestsWaitingForAPermit) {
  fg::server srv({.repos = {{.owner = "a", .name = "slow", .issues = 3, .pulls = 1, .seed = 1},
                            {.owner = "b", .name = "slow", .issues = 3, .pulls = 1, .seed = 2}}});
  srv.set_repo_faults("a/slow", {.latency = 60s});
  srv.set_repo_faults("b/slow", {.latency = 60s});
  std::stop_source source;
  auto options = quick_options(srv);
  options.concurrency = 2;
  options.stop = source.get_token();
  // Stops once both permits are out on hanging requests (the server counts
  // a request when it arrives in peak_concurrency, when answered in requests).
  std::jthread stopper([&srv, source]() mutable {
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (srv.stats().peak_concurrency < 2 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(300ms);
    source.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  auto run = fetch(options, {"a/slow", "b/slow"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);  // far below the 60 s latency
  stopper.join();
  ASSERT_EQ(run.reports.size(), 2u);
  for (const auto& r : run.reports) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->status, 0);
    EXPECT_EQ(r.failure->message, "cancelled");
  }
  EXPECT_EQ(srv.stats().peak_concurrency, 2u) << "a request started after the stop";
  EXPECT_EQ(run.stats.requests, 2u);
}

TEST(GithubHostile, StopEndsARateLimitWait) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 3, .pulls = 1, .seed = 2}}});
  srv.exhaust_rate_limit(600s);
  std::stop_source source;
  auto options = quick_options(srv);
  options.stop = source.get_token();
  auto stopper = stop_after_requests(srv, source, 1, 300ms);
  const auto start = std::chrono::steady_clock::now();
  auto run = fetch(options, {"a/b", "a/c"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);  // far below the 600 s wait
  for (const auto& r : run.reports) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->status, 0);
    EXPECT_EQ(r.failure->message, "cancelled");
  }
}

TEST(GithubHostile, ARateLimitWaitCountsDownInTheProgressReports) {
  fg::server srv({.repos = {{.owner = "a", .name = "b", .issues = 3, .pulls = 1, .seed = 2}}});
  srv.exhaust_rate_limit(3s);
  auto options = quick_options(srv);
  std::mutex mutex;
  std::vector<std::int64_t> remaining;  // distinct values, in the order seen
  std::vector<std::string> ends;
  options.on_progress = [&](const gh::fetch_progress& p) {
    if (p.wait_remaining.count() <= 0) return;
    std::lock_guard lock(mutex);
    if (remaining.empty() || remaining.back() != p.wait_remaining.count())
      remaining.push_back(p.wait_remaining.count());
    ends.push_back(p.wait_until);
  };
  auto run = fetch(options, {"a/b"});
  ASSERT_TRUE(run.reports[0].ok()) << run.reports[0].failure->message;
  EXPECT_EQ(*run.reports[0].stats, expected_stats(*srv.repo("a/b")));
  // The pause (reset + 1 s, about 4 s) was reported at least once a second, counting down.
  ASSERT_GE(remaining.size(), 2u);
  for (std::size_t i = 1; i < remaining.size(); ++i) EXPECT_LT(remaining[i], remaining[i - 1]);
  const std::regex utc(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$)");
  for (const auto& end : ends) EXPECT_TRUE(std::regex_match(end, utc)) << end;
}
