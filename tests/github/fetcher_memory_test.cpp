// Peak memory of one repository with 100,000 tiny pages per endpoint
// (issue 9, class 4): pages in flight stay within a window and records are
// appended as pages arrive, so the process's high-water mark (VmHWM, which
// includes the in-process fake server) stays under 100 MB. Its own binary,
// so no other test's allocations raise the mark.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "github_test_support.hpp"

namespace gh = sluice::github;
namespace fg = sluice::fake_github;
using gh::testing::fetch;
using gh::testing::quick_options;

namespace {

// The process's peak resident set in KiB, from /proc/self/status.
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Sanitizers keep shadow memory and freed blocks in quarantine: the resident
// set then says nothing about the fetcher.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool k_sanitized = true;
#else
constexpr bool k_sanitized = false;
#endif

void fetch_tiny_pages(bool fan_out) {
  if (k_sanitized) GTEST_SKIP() << "peak memory is not meaningful under a sanitizer";
  constexpr long long k_pages = 100'000;
  fg::server srv({.repos = {{.owner = "many", .name = "pages", .issues = 1, .pulls = 1, .seed = 9}}, .threads = 64});
  srv.set_repo_faults("many/pages", {.synthetic_pages = k_pages});
  auto options = quick_options(srv);
  options.per_page = 1;
  options.max_pages = 200'000;
  options.concurrency = 16;
  options.fan_out = fan_out;
  options.stall_notice_after = std::chrono::milliseconds(0);
  auto run = fetch(options, {"many/pages"});
  ASSERT_EQ(run.reports.size(), 1u);
  ASSERT_TRUE(run.reports[0].ok()) << run.reports[0].failure->message;
  // Every synthetic item is an open issue with one comment, also listed under /pulls.
  EXPECT_EQ(run.reports[0].stats->issues.total, k_pages);
  EXPECT_EQ(run.reports[0].stats->comments_total, k_pages);
  EXPECT_EQ(run.reports[0].stats->pulls.total, k_pages);
  EXPECT_EQ(run.stats.pages, static_cast<std::uint64_t>(2 * k_pages));
  const long peak = peak_rss_kib();
  ASSERT_GT(peak, 0);
  EXPECT_LT(peak, 100 * 1024) << "peak resident memory " << peak / 1024 << " MiB";
  std::printf("[ memory   ] fan_out=%d: 2 x %lld pages, peak RSS %ld MiB\n", fan_out ? 1 : 0, k_pages, peak / 1024);
}

}  // namespace

TEST(GithubMemory, HundredThousandTinyPagesByFanOutStayUnder100MB) { fetch_tiny_pages(true); }
