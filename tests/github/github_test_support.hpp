// Shared helpers for the GitHub end-to-end tests: run a fetcher against a
// fake server, and compute the expected statistics from the generator's
// ground truth independently of the connector's own code.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/core/runtime.hpp"
#include "sluice/fake_github/server.hpp"
#include "sluice/github/fetcher.hpp"
#include "sluice/http/client.hpp"

namespace sluice::github::testing {

namespace fg = sluice::fake_github;

// Rounds exactly: twice_seconds / 72 is the median in hundredths of an hour.
inline std::optional<double> expected_median(std::vector<std::int64_t> seconds) {
  if (seconds.empty()) return std::nullopt;
  std::sort(seconds.begin(), seconds.end());
  const std::size_t n = seconds.size();
  const std::int64_t twice = n % 2 ? 2 * seconds[n / 2] : seconds[n / 2 - 1] + seconds[n / 2];
  const long double hundredths = std::roundl(static_cast<long double>(twice) / 72.0L);
  return static_cast<double>(hundredths) / 100.0;
}

inline std::vector<name_count> expected_top(const std::map<std::string, std::int64_t>& counts) {
  std::vector<name_count> all;
  for (const auto& [name, count] : counts) all.push_back({name, count});
  std::stable_sort(all.begin(), all.end(), [](const name_count& a, const name_count& b) { return a.count > b.count; });
  if (all.size() > 5) all.resize(5);
  return all;
}

/// The statistics a correct client must report for `repo`, from ground truth.
inline repo_stats expected_stats(const fg::generated_repo& repo) {
  repo_stats s;
  std::map<std::string, std::int64_t> labels, authors;
  std::vector<std::int64_t> close, merge;
  for (const fg::generated_item& item : repo.items) {
    ++authors[item.author];
    if (item.is_pull) {
      ++s.pulls.total;
      ++(item.closed ? s.pulls.closed : s.pulls.open);
      if (item.draft) ++s.pulls.draft;
      if (item.merged_at) {
        ++s.pulls.merged;
        merge.push_back(*item.merged_at - item.created_at);
      }
      continue;
    }
    ++s.issues.total;
    ++(item.closed ? s.issues.closed : s.issues.open);
    if (item.closed && item.closed_at) close.push_back(*item.closed_at - item.created_at);
    for (const auto& label : item.labels) ++labels[label];
    s.comments_total += item.comments;
  }
  s.issue_close_hours_median = expected_median(close);
  s.pull_merge_hours_median = expected_median(merge);
  s.top_labels = expected_top(labels);
  s.top_authors = expected_top(authors);
  return s;
}

/// Options that keep tests quick: short backoffs and secondary-limit floor.
inline fetch_options quick_options(const fg::server& srv) {
  fetch_options o;
  o.api_url = srv.base_url();
  o.backoff_base = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(200);
  o.secondary_limit_floor = std::chrono::milliseconds(100);
  o.request_timeout = std::chrono::milliseconds(30'000);
  return o;
}

struct run_result {
  std::vector<repo_report> reports;
  fetch_stats stats;
  std::vector<std::string> notices;
  bool unauthorized = false;
};

/// Runs a fetcher over `names` with `options` (its notices are captured).
inline run_result fetch(fetch_options options, const std::vector<std::string>& names) {
  run_result out;
  std::mutex mutex;
  options.notice = [&](std::string_view text) {
    std::lock_guard lock(mutex);
    out.notices.emplace_back(text);
  };
  runtime rt;
  {
    http::client http(rt);
    fetcher f(rt, http, std::move(options));
    out.reports = rt.block_on(f.fetch_all(names));
    out.stats = f.stats();
    out.unauthorized = f.unauthorized();
  }
  return out;
}

}  // namespace sluice::github::testing
