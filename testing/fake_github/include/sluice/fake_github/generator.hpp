#pragma once
// Deterministic generator of GitHub issues and pull requests.
//
// `generate(spec)` gives the ground truth as plain structs, so tests can compute
// the statistics they expect without any JSON parser; `render_*` turn that truth
// into JSON shaped like GitHub's REST API (2022-11-28): full `user` objects,
// labels, reactions, `pull_request` keys, `head`/`base` with whole repository
// objects, bodies that are null or carry unicode, emoji, escaped quotes,
// backslashes and newlines.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sluice/fake_github/repo_spec.hpp"

namespace sluice::fake_github {

/// Ground truth for one item of `/repos/{owner}/{repo}/issues`: a plain issue,
/// or a pull request (`is_pull`), which `/pulls` lists too. Times are Unix
/// epoch seconds (UTC); the JSON carries them as ISO-8601 `...Z` strings.
struct generated_item {
  std::int64_t number = 0;   ///< 1..issues+pulls; increases with created_at
  std::int64_t id = 0;       ///< issue id (the `id` of the /issues item)
  std::int64_t pull_id = 0;  ///< pull request id (the `id` of the /pulls item), 0 for issues
  bool is_pull = false;
  std::string title;
  bool closed = false;  ///< state "closed" (else "open")
  /// `state_reason`: "completed", "not_planned", "reopened"; empty means null.
  /// Always null for pull requests.
  std::string state_reason;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;            ///< >= created_at and >= closed_at
  std::optional<std::int64_t> closed_at;  ///< set exactly when closed
  std::optional<std::int64_t> merged_at;  ///< pulls only: merged ones (== closed_at)
  bool draft = false;                     ///< pulls only
  std::string author;                     ///< user.login
  std::int64_t author_id = 0;             ///< user.id
  std::string author_association;         ///< OWNER, MEMBER, CONTRIBUTOR, NONE...
  std::vector<std::string> labels;        ///< label names, in the JSON's order
  int comments = 0;                       ///< the `comments` count
  std::optional<std::string> body;        ///< UTF-8; nullopt is JSON null
  /// Rendering detail: write non-ASCII characters of title and body as
  /// `\uXXXX` escapes (surrogate pairs for emoji) instead of raw UTF-8.
  bool ascii_escaped = false;
};

/// A generated repository: its spec, its id, and every item in ascending
/// `number` order (oldest first; the API lists newest first).
struct generated_repo {
  repo_spec spec;
  std::int64_t id = 0;
  std::int64_t owner_id = 0;
  std::int64_t created_at = 0;  ///< repository creation time
  std::vector<generated_item> items;

  [[nodiscard]] std::string full_name() const { return spec.full_name(); }
  /// The item with this number, or nullptr.
  [[nodiscard]] const generated_item* find(std::int64_t number) const;
  [[nodiscard]] int issue_count() const { return spec.issues; }
  [[nodiscard]] int pull_count() const { return spec.pulls; }
};

/// Generates the repository described by `spec`. Deterministic: a pure function
/// of `spec` (server-behaviour fields ignored). Thread-safe.
[[nodiscard]] generated_repo generate(const repo_spec& spec);

/// The stable id `generate` gives a repository when `spec.id` is 0.
[[nodiscard]] std::int64_t derived_repo_id(const repo_spec& spec);

/// Where rendered JSON points its links.
struct render_context {
  /// API base URL without trailing slash, e.g. "http://127.0.0.1:8080/api/v3".
  std::string api_base = "https://api.github.com";
  /// Web base URL for html_url fields.
  std::string web_base = "https://github.com";
};

/// One `/repos/{owner}/{repo}/issues` list item (issue or pull request), ~3-7 KB.
[[nodiscard]] std::string render_issue(const generated_repo& repo, const generated_item& item,
                                       const render_context& ctx = {});
/// One `/repos/{owner}/{repo}/pulls` list item, ~10-18 KB. Precondition: item.is_pull.
[[nodiscard]] std::string render_pull(const generated_repo& repo, const generated_item& item,
                                      const render_context& ctx = {});
/// The `/repos/{owner}/{repo}` object, ~6 KB.
[[nodiscard]] std::string render_repository(const generated_repo& repo, const render_context& ctx = {});

/// Formats epoch seconds as GitHub does: "2021-03-04T05:06:07Z".
[[nodiscard]] std::string iso8601(std::int64_t epoch_seconds);
/// Parses "YYYY-MM-DDTHH:MM:SSZ" (fractional seconds and offsets +hh:mm are
/// accepted); nullopt when malformed.
[[nodiscard]] std::optional<std::int64_t> parse_iso8601(const std::string& text);

}  // namespace sluice::fake_github
