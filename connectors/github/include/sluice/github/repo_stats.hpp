// Per-repository statistics over the parsed /issues and /pulls items, as
// repo-fetcher reports them (see docs/repo-fetcher.md for the output format).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/github/records.hpp"

namespace sluice::github {

/// A name with how often it occurred (a label or an author login).
struct name_count {
  std::string name;
  std::int64_t count = 0;
  friend bool operator==(const name_count&, const name_count&) = default;
};

struct issue_counts {
  std::int64_t total = 0, open = 0, closed = 0;
  friend bool operator==(const issue_counts&, const issue_counts&) = default;
};

struct pull_counts {
  std::int64_t total = 0, open = 0, closed = 0, merged = 0, draft = 0;
  friend bool operator==(const pull_counts&, const pull_counts&) = default;
};

/// The figures reported per repository.
struct repo_stats {
  issue_counts issues;  // /issues items without a pull_request key
  pull_counts pulls;    // /pulls items
  /// Median of closed_at - created_at in hours over closed issues that have
  /// both timestamps, rounded half away from zero to 2 decimals; nullopt if none.
  /// An interval that ends before it starts is left out of the median (the
  /// issue still counts as closed); so for the merge median below.
  std::optional<double> issue_close_hours_median;
  /// Median of merged_at - created_at in hours over merged pull requests.
  std::optional<double> pull_merge_hours_median;
  std::vector<name_count> top_labels;   // over issues only; top 5, count desc then name asc
  std::vector<name_count> top_authors;  // user.login over every /issues item (issues and PRs)
  std::int64_t comments_total = 0;      // sum of `comments` over issues only

  friend bool operator==(const repo_stats&, const repo_stats&) = default;
};

/// How many entries top_labels and top_authors keep.
inline constexpr std::size_t top_count = 5;

/// Computes the statistics. `issue_items` are all items of /issues (pull
/// requests included; they are told apart by issue_record::is_pull_request),
/// `pull_items` all items of /pulls. Pure function; thread-safe.
[[nodiscard]] repo_stats compute_repo_stats(std::span<const issue_record> issue_items,
                                            std::span<const pull_record> pull_items);

/// Median of durations given in seconds, in hours rounded half away from
/// zero to 2 decimals (computed exactly in integers: no binary-fraction
/// surprises at .xx5). Even counts average the two middle values. Reorders
/// `seconds`. nullopt when empty.
[[nodiscard]] std::optional<double> median_hours(std::vector<std::int64_t>& seconds);

/// The `n` most frequent names: count descending, then name ascending (bytewise).
[[nodiscard]] std::vector<name_count> top_names(std::vector<name_count> counts, std::size_t n = top_count);

}  // namespace sluice::github
