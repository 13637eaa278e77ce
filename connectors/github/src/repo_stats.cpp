#include "sluice/github/repo_stats.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace sluice::github {
namespace {

// Rounds num/den half away from zero (den > 0).
std::int64_t rounded_quotient(std::int64_t num, std::int64_t den) {
  if (num >= 0) return (num + den / 2) / den;
  return -((-num + den / 2) / den);
}

std::vector<name_count> to_counts(const std::unordered_map<std::string_view, std::int64_t>& map) {
  std::vector<name_count> out;
  out.reserve(map.size());
  for (const auto& [name, count] : map) out.push_back({std::string(name), count});
  return out;
}

// An interval for a median: both ends known and the end not before the start.
// One that ends before it starts is bad data (clock skew, a hostile server):
// it is left out of the median; the item itself is still counted.
void add_interval(std::vector<std::int64_t>& seconds, const std::optional<timestamp>& start,
                  const std::optional<timestamp>& end) {
  if (!start || !end || *end < *start) return;
  seconds.push_back((*end - *start).count());
}

}  // namespace

std::optional<double> median_hours(std::vector<std::int64_t>& seconds) {
  if (seconds.empty()) return std::nullopt;
  const std::size_t n = seconds.size();
  const auto mid = seconds.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(seconds.begin(), mid, seconds.end());
  // twice the median, in seconds: exact for odd and even counts
  std::int64_t twice = 2 * *mid;
  if (n % 2 == 0) twice = *mid + *std::max_element(seconds.begin(), mid);
  // hours * 100 = twice / 2 / 3600 * 100 = twice / 72
  const std::int64_t hundredths = rounded_quotient(twice, 72);
  return static_cast<double>(hundredths) / 100.0;
}

std::vector<name_count> top_names(std::vector<name_count> counts, std::size_t n) {
  auto before = [](const name_count& a, const name_count& b) {
    return a.count != b.count ? a.count > b.count : a.name < b.name;
  };
  if (counts.size() > n) {
    std::partial_sort(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(n), counts.end(), before);
    counts.resize(n);
  } else {
    std::sort(counts.begin(), counts.end(), before);
  }
  return counts;
}

repo_stats compute_repo_stats(std::span<const issue_record> issue_items, std::span<const pull_record> pull_items) {
  repo_stats stats;
  std::unordered_map<std::string_view, std::int64_t> labels;
  std::unordered_map<std::string_view, std::int64_t> authors;
  std::vector<std::int64_t> close_seconds;
  for (const issue_record& item : issue_items) {
    if (!item.author.empty()) ++authors[item.author];
    if (item.is_pull_request) continue;
    ++stats.issues.total;
    if (item.state == item_state::open) ++stats.issues.open;
    if (item.state == item_state::closed) {
      ++stats.issues.closed;
      add_interval(close_seconds, item.created_at, item.closed_at);
    }
    for (const std::string& label : item.labels) ++labels[label];
    stats.comments_total += item.comments;
  }
  std::vector<std::int64_t> merge_seconds;
  for (const pull_record& pull : pull_items) {
    ++stats.pulls.total;
    if (pull.state == item_state::open) ++stats.pulls.open;
    if (pull.state == item_state::closed) ++stats.pulls.closed;
    if (pull.draft) ++stats.pulls.draft;
    if (pull.merged_at) {
      ++stats.pulls.merged;
      add_interval(merge_seconds, pull.created_at, pull.merged_at);
    }
  }
  stats.issue_close_hours_median = median_hours(close_seconds);
  stats.pull_merge_hours_median = median_hours(merge_seconds);
  stats.top_labels = top_names(to_counts(labels));
  stats.top_authors = top_names(to_counts(authors));
  return stats;
}

}  // namespace sluice::github
