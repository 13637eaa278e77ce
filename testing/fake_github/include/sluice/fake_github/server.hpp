#pragma once
// An in-process fake of GitHub's REST API for issues and pull requests.
//
//   sluice::fake_github::server srv({.repos = {{.owner = "acme", .name = "rocket", .issues = 120, .pulls = 40}}});
//   // point a client at srv.base_url(), e.g. "http://127.0.0.1:41234"
//
// Routes (all GET, below `path_prefix`):
//   /repos/{owner}/{repo}                   the repository object
//   /repos/{owner}/{repo}/issues            issues and pull requests, newest first
//   /repos/{owner}/{repo}/pulls             pull requests, newest first
//   /repositories/{id}[/issues|/pulls]      the same by repository id (Link URLs use this form)
//   /rate_limit                             the caller's budget (never charged)
// Query: state=open|closed|all (default open), per_page (default 30, clamped to
// 1..100), page=N, after=/before= cursors, since=ISO-8601 (issues only, filters
// on updated_at). Owner and repository names match case-insensitively.
//
// Headers sent: x-ratelimit-{limit,remaining,used,reset,resource}, weak ETag
// W/"..." (a hash of the body), Link (absolute URLs on base_url()), Date,
// x-github-request-id, x-github-api-version-selected. A matching If-None-Match
// answers 304 without a body and without charging the budget.
//
// Checks, in order: latency, User-Agent (missing or empty: 403), credentials
// (`Authorization: Bearer T` or `token T`; a wrong T: 401 "Bad credentials"
// when options.token is set), secondary limit, routing (404), the repository's
// scripted error or rename (301), 502 injection, the page itself (422 for bad
// parameters or deep page= in cursor mode), 304, primary rate limit (403 "API
// rate limit exceeded for ..." with remaining 0), malformed body injection.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/fake_github/faults.hpp"
#include "sluice/fake_github/generator.hpp"
#include "sluice/fake_github/repo_spec.hpp"

namespace sluice::fake_github {

/// Everything a server is started with. Designated-initialiser friendly.
struct server_options {
  std::string host = "127.0.0.1";
  int port = 0;  ///< 0: an ephemeral port, see server::port()
  /// Prefix of every route, e.g. "/api/v3" to look like GitHub Enterprise.
  /// Part of base_url().
  std::string path_prefix{};
  std::vector<repo_spec> repos{};

  /// When set, an Authorization header carrying any other token answers 401.
  std::optional<std::string> token{};
  /// When true, requests without Authorization answer 401 "Requires authentication".
  bool require_token = false;

  /// Primary budget per identity (each token; all anonymous callers share one),
  /// renewed every `rate_limit_window`. GitHub gives 5000/h to tokens and 60/h
  /// to anonymous callers; the fake gives `rate_limit` to both so the demo
  /// runs without a token.
  int rate_limit = 5000;
  std::chrono::seconds rate_limit_window{3600};

  /// In cursor mode, `page=N` with N above this answers 422.
  int cursor_max_page = 1;
  /// Link URLs use `/repositories/{id}/...` (as GitHub's do) rather than
  /// `/repos/{owner}/{repo}/...`.
  bool repository_id_links = true;

  /// Worker threads: each open keep-alive connection holds one, so size this
  /// above the number of connections clients keep open.
  int threads = 256;
  /// Idle keep-alive connections are closed after this long.
  std::chrono::seconds keep_alive_timeout{5};

  fault_options faults{};
  std::uint64_t fault_seed = 42;  ///< seeds fault rates and retry-after omission
};

/// Counters for tests. A snapshot: copying it does not lock the server.
struct server_stats {
  std::uint64_t requests = 0;
  std::map<int, std::uint64_t> by_status;  ///< status -> count
  std::uint64_t not_modified = 0;          ///< 304 answers
  std::uint64_t with_authorization = 0;    ///< requests carrying Authorization
  std::uint64_t peak_concurrency = 0;      ///< most requests in flight at once
  std::uint64_t body_bytes = 0;            ///< bytes of response bodies (before compression)
  /// Headers of the most recent request, in arrival order. Authorization
  /// values are redacted to their scheme ("Bearer <redacted>").
  std::vector<std::pair<std::string, std::string>> last_headers;

  [[nodiscard]] std::uint64_t count(int status) const {
    auto it = by_status.find(status);
    return it == by_status.end() ? 0 : it->second;
  }
};

/// One served request, for tests that check what a client asked for.
struct request_record {
  std::string path;   ///< as received, including any prefix
  std::string query;  ///< decoded "k=v&k=v" as the server understood it
  int status = 0;
  bool had_authorization = false;
  bool had_if_none_match = false;
};

/// A fake GitHub API server running on background threads.
///
/// Thread-safety: every member function may be called from any thread while
/// the server runs. Lifetime: the constructor returns once the port is bound
/// and accepting; the destructor stops it (waiting for in-flight requests).
/// Copying is disabled; moving is disabled (handlers refer to the server).
class server {
 public:
  /// Generates the repositories, binds and starts serving.
  /// Throws std::runtime_error when the address cannot be bound or a spec is
  /// invalid (duplicate names, rename target not served).
  explicit server(server_options options);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  [[nodiscard]] int port() const;
  /// "http://127.0.0.1:PORT" + path_prefix: what a client uses as its API URL.
  [[nodiscard]] std::string base_url() const;
  /// Stops accepting and waits for the worker threads. Idempotent.
  void stop();
  /// Renders every repository's JSON now rather than on its first request,
  /// so a benchmark's first round does not pay for it. Thread-safe.
  void render_all();

  /// The ground truth of a served repository ("owner/name", case-insensitive),
  /// or nullptr.
  [[nodiscard]] const generated_repo* repo(std::string_view full_name) const;
  [[nodiscard]] std::vector<const generated_repo*> repos() const;

  /// Replaces the server-wide faults (counts restart from the new values).
  void set_faults(const fault_options& faults);
  [[nodiscard]] fault_options faults() const;
  /// Faults for one repository's requests, replacing the server-wide ones.
  void set_repo_faults(std::string_view full_name, const fault_options& faults);
  void clear_repo_faults(std::string_view full_name);

  /// Spends every identity's primary budget now: requests answer 403 "API rate
  /// limit exceeded" with x-ratelimit-remaining 0 and x-ratelimit-reset
  /// `reset_in` ahead (rounded up to a whole second); from then on budgets are
  /// full again.
  void exhaust_rate_limit(std::chrono::seconds reset_in);

  /// Makes every request for `full_name` answer `status` (0 clears).
  void set_repo_error(std::string_view full_name, int status);

  [[nodiscard]] server_stats stats() const;
  /// Every request served so far, oldest first (bounded to the last 100000).
  [[nodiscard]] std::vector<request_record> request_log() const;
  void reset_stats();

 private:
  struct impl;
  std::unique_ptr<impl> m_impl;
};

}  // namespace sluice::fake_github
