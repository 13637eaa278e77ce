// Typed records for the items of GitHub's /issues and /pulls list pages.
//
// Only the fields the statistics need are kept; everything else in an item
// (reactions, head/base repositories, _links ...) is skipped by the parser
// without being materialised.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::github {

/// A UTC instant with one-second resolution (GitHub's timestamp precision).
using timestamp = std::chrono::sys_seconds;

enum class item_state : std::uint8_t { unknown, open, closed };

/// One item of `/repos/{owner}/{repo}/issues`. GitHub lists pull requests
/// there too; those carry a `pull_request` key and have is_pull_request set.
struct issue_record {
  std::int64_t number = 0;
  item_state state = item_state::unknown;
  std::string author;               // user.login; empty when user is null
  std::vector<std::string> labels;  // label names, as given
  std::int64_t comments = 0;
  std::optional<timestamp> created_at;
  std::optional<timestamp> closed_at;
  bool is_pull_request = false;

  friend bool operator==(const issue_record&, const issue_record&) = default;
};

/// One item of `/repos/{owner}/{repo}/pulls`: the source of merged_at and draft.
struct pull_record {
  std::int64_t number = 0;
  item_state state = item_state::unknown;
  std::string author;
  std::optional<timestamp> created_at;
  std::optional<timestamp> closed_at;
  std::optional<timestamp> merged_at;
  bool draft = false;

  friend bool operator==(const pull_record&, const pull_record&) = default;
};

}  // namespace sluice::github
