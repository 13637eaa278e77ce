// sluice::github::repo_name: an "OWNER/REPO" validated once, as GitHub does,
// and the one place request paths for a repository are built.
//
//   auto parsed = sluice::github::repo_name::parse("octocat/hello-world");
//   if (!parsed) usage_error(parsed.error());            // says what is wrong
//   std::string url = api_base + parsed->api_path();     // "/repos/octocat/hello-world"
//
// GitHub's rules: the owner is 1-39 ASCII letters, digits or '-'; the
// repository 1-100 ASCII letters, digits, '.', '_' or '-', and never "." or
// "..". Anything else (a second '/', whitespace, a control character, '%',
// '?', '#', non-ASCII) is refused before any request is made. api_path()
// still percent-encodes each segment (RFC 3986 unreserved characters stay),
// so even a name built without parse() cannot leave /repos/{owner}/{repo}/.
//
// Thread-safety: a value type; const members may be called concurrently.
#pragma once

#include <string>
#include <string_view>

#include "sluice/core/result.hpp"
#include "sluice/github/display_text.hpp"

namespace sluice::github {

class repo_name {
 public:
  /// Longest owner (user or organisation login) GitHub accepts.
  static constexpr std::size_t max_owner_length = 39;
  /// Longest repository name GitHub accepts.
  static constexpr std::size_t max_repo_length = 100;

  /// Parses "OWNER/REPO". The error is a sentence naming the rule broken; it
  /// quotes the input with control characters escaped (safe to print).
  [[nodiscard]] static sluice::result<repo_name, std::string> parse(std::string_view full_name);

  [[nodiscard]] const std::string& owner() const noexcept { return m_owner; }
  [[nodiscard]] const std::string& repo() const noexcept { return m_repo; }
  /// "OWNER/REPO" as given.
  [[nodiscard]] std::string full() const { return m_owner + "/" + m_repo; }
  /// "/repos/OWNER/REPO" with each segment percent-encoded; append "/issues"
  /// etc. and prefix the API base URL.
  [[nodiscard]] std::string api_path() const;

  friend bool operator==(const repo_name&, const repo_name&) = default;

 private:
  repo_name(std::string owner, std::string repo) : m_owner(std::move(owner)), m_repo(std::move(repo)) {}
  std::string m_owner;
  std::string m_repo;
};

/// `segment` with every byte outside RFC 3986's unreserved set
/// (ALPHA / DIGIT / "-" / "." / "_" / "~") written as %XX; "." and ".."
/// become "%2E" and "%2E%2E" so they are never dot-segments.
[[nodiscard]] std::string percent_encode_path_segment(std::string_view segment);

}  // namespace sluice::github
