// sluice::github::fetcher: issues and pull requests of many repositories,
// fetched concurrently, parsed in parallel, reduced to repo_stats.
//
//   sluice::runtime rt;
//   sluice::http::client http(rt);
//   sluice::github::fetcher f(rt, http, {.token = sluice::github::api_token::from_environment()});
//   std::vector<sluice::github::repo_report> reports = rt.block_on(f.fetch_all({"octocat/hello-world"}));
//
// Per repository it lists /repos/{o}/{r}/issues and /pulls with state=all and
// per_page=100, following the Link header's rel="next" exactly as given;
// when a page carries a page-numbered rel="last", the remaining pages are
// fetched concurrently instead, a window at a time (at most concurrency/2
// per listing), stopping at the first short page whatever rel="last" said.
// Every page is parsed on the runtime's TBB arena (runtime::offload),
// concurrently with the requests still in flight, and its records are
// appended as it completes, so memory is bounded by the window.
//
// Each answer is classified into one action (success, not-modified,
// redirect, wait-for-reset, back-off, fail-repository, fail-run) and a short
// loop carries it out; backoff is the one sluice::retry_policy
// (sluice/core/retry.hpp) built from max_attempts/backoff_base/backoff_max.
// Every wait observes fetch_options::stop.
//
// What a trustworthy GitHub client must do (docs/repo-fetcher.md):
//  * headers Accept: application/vnd.github+json, X-GitHub-Api-Version:
//    2022-11-28, User-Agent, Authorization: Bearer <token> -- the token only
//    ever goes to the API's own scheme://host:port, never to a redirect or a
//    Link on another host, and never into a message;
//  * primary rate limit (403/429 with x-ratelimit-remaining: 0, or a 2xx
//    that spent the last unit): every request waits until x-ratelimit-reset
//    plus one second, and the fetcher says so through `notice` (with the
//    end as a UTC date-time); a reset beyond max_wait fails the repository;
//  * secondary rate limit (403/429 with retry-after or GitHub's "secondary
//    rate limit" message): all requests pause for retry-after, or at least
//    `secondary_limit_floor` doubling on each repeat, and the number of
//    requests in flight is halved (then regrows by one per `limit` successes);
//  * 500/502/503/504, transport errors, timeouts and malformed JSON: retried
//    with exponential backoff (max_attempts per page), mid-pagination too;
//  * 301/302/307/308 (a renamed repository): followed;
//  * 401: the whole run stops (every repository reports 401);
//  * 403 (other), 404, 409, 410, 422, 451 and other 4xx: an error for that
//    repository, without retry; the other repositories are unaffected.
// With a cache directory, each page's ETag, Link and body are kept and sent
// back as If-None-Match; a 304 reuses the stored page.
//
// Thread-safety: fetch_repo and fetch_all may run concurrently on one
// fetcher. Lifetime: the runtime and the client must outlive the fetcher,
// and the fetcher every task it returned.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/runtime.hpp"
#include "sluice/core/task.hpp"
#include "sluice/github/report.hpp"
#include "sluice/github/token.hpp"
#include "sluice/http/client.hpp"

namespace sluice::github {

/// A running total, passed to fetch_options::on_progress.
struct fetch_progress {
  std::size_t repos_total = 0;
  std::size_t repos_done = 0;
  std::uint64_t requests = 0;
  std::uint64_t pages = 0;
  std::uint64_t json_bytes = 0;
  /// While a rate limit pauses every request: the time left (whole seconds,
  /// rounded up) and the pause's end as a UTC date-time; 0 and empty
  /// otherwise. Reported at least once a second during a pause, so a
  /// progress display can count down.
  std::chrono::seconds wait_remaining{0};
  std::string wait_until{};
  /// The rate limit as the last answer stated it (X-RateLimit-Remaining,
  /// X-RateLimit-Limit); -1 until an answer carried the header.
  std::int64_t rate_limit_remaining = -1;
  std::int64_t rate_limit = -1;
};

/// Counters over a fetcher's lifetime (tests, benchmarks).
struct fetch_stats {
  std::uint64_t requests = 0;           // HTTP requests sent (retries included)
  std::uint64_t not_modified = 0;       // 304 answers served from the cache
  std::uint64_t retries = 0;            // 5xx / transport / malformed-JSON retries
  std::uint64_t malformed_pages = 0;    // pages whose JSON failed to parse
  std::uint64_t primary_waits = 0;      // waits for a primary rate-limit reset
  std::uint64_t secondary_limits = 0;   // secondary rate-limit answers
  std::uint64_t redirects = 0;          // 3xx followed
  std::uint64_t pages = 0;              // pages parsed successfully
  std::uint64_t json_bytes = 0;         // bytes of JSON parsed successfully
  std::uint64_t parse_nanoseconds = 0;  // CPU time spent parsing those bytes
  std::size_t concurrency_limit = 0;    // current (adaptive) request limit
};

/// Tunables; designated-initialiser friendly.
struct fetch_options {
  /// API base URL: https://api.github.com, https://HOST/api/v3 (Enterprise)
  /// or a local server. A trailing slash is ignored.
  std::string api_url = "https://api.github.com";
  /// Sent as `Authorization: Bearer` to the API host only.
  std::optional<api_token> token{};
  /// Requests in flight at most (lowered adaptively on secondary limits).
  std::size_t concurrency = 32;
  std::string user_agent = "sluice-repo-fetcher/0.1 (+https://github.com/sluice)";
  /// ETag cache directory; none when unset.
  std::optional<std::filesystem::path> cache_dir{};
  int per_page = 100;
  /// Fetch pages 2..last concurrently when rel="last" is page-numbered.
  bool fan_out = true;

  /// Attempts per page for 5xx, transport errors, timeouts and malformed JSON.
  /// These three feed the one retry policy (sluice/core/retry.hpp).
  std::size_t max_attempts = 6;
  /// Backoff before the second attempt; doubles per attempt up to backoff_max (jitter 20 %).
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30'000};
  /// Pause after a secondary limit without retry-after (GitHub: at least a
  /// minute); doubles on each further one. Tests shrink it.
  std::chrono::milliseconds secondary_limit_floor{60'000};
  /// Secondary-limit answers tolerated per page before giving up.
  std::size_t max_secondary_retries = 8;
  /// Primary rate-limit waits tolerated per page before giving up.
  std::size_t max_primary_waits = 3;
  /// Whole-request timeout for one attempt.
  std::chrono::milliseconds request_timeout{120'000};
  /// Redirects followed per request.
  int max_redirects = 5;

  // ---- Limits and cancellation (each bounds what a hostile server can cost) ----

  /// The run's stop token. When stop is requested, requests in flight are
  /// cancelled and every wait (rate-limit pauses, backoff sleeps) ends at
  /// once; repositories not finished report failure status 0 with message
  /// "cancelled". Finished ones keep their results.
  std::stop_token stop{};
  /// Longest wait the fetcher takes on the server's word (a primary limit's
  /// x-ratelimit-reset, a secondary limit's retry-after, a 5xx retry-after).
  /// A longer one fails the repositories that hit it with a message saying
  /// when the limit resets, instead of waiting. Waits that are taken are
  /// announced through `notice` with their end as a UTC date-time.
  std::chrono::seconds max_wait{900};
  /// Largest page body accepted, counted after decompression and enforced
  /// while it arrives (http::request::max_body_bytes): a larger page (or a
  /// compression bomb) is an error for that repository; others are unaffected.
  std::size_t max_body_bytes = std::size_t{64} << 20;
  /// Pages per endpoint (issues, pulls) of one repository. An endless
  /// rel="next" chain or a rel="last" beyond it is an error for the
  /// repository once the cap is reached. Pages in flight per repository
  /// stay <= concurrency whatever rel="last" claims.
  std::size_t max_pages = 10'000;
  /// No byte from the server for this long ends the attempt (then retried
  /// like any timeout, up to max_attempts).
  std::chrono::seconds inactivity_timeout{30};
  /// A request still unanswered after this long is announced through
  /// `notice` (host and request awaited), and again every such period, so a
  /// silent or trickling server is visible. 0 = never.
  std::chrono::milliseconds stall_notice_after{30'000};

  /// Human-readable notices (rate-limit waits, retries). Default: standard error.
  /// Called from runtime threads; must be thread-safe. Never given the token.
  std::function<void(std::string_view)> notice{};
  /// Called after each page and each finished repository (from runtime threads).
  std::function<void(const fetch_progress&)> on_progress{};
};

class fetcher {
 public:
  fetcher(runtime& rt, http::client& http, fetch_options options);
  ~fetcher();
  fetcher(const fetcher&) = delete;
  fetcher& operator=(const fetcher&) = delete;

  /// Fetches one repository ("owner/repo") and computes its statistics.
  /// Never throws for HTTP or JSON failures: they are the report's `failure`.
  [[nodiscard]] task<repo_report> fetch_repo(std::string full_name);

  /// Fetches every repository concurrently; reports in the order given.
  [[nodiscard]] task<std::vector<repo_report>> fetch_all(std::vector<std::string> full_names);

  /// True once a 401 stopped the run.
  [[nodiscard]] bool unauthorized() const noexcept;
  [[nodiscard]] fetch_stats stats() const;

  class state;  // implementation (public so the .cpp's helpers can name it)

 private:
  std::unique_ptr<state> m_state;
};

}  // namespace sluice::github
