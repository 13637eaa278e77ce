// The outcome for one repository and the writers for repo-fetcher's output
// formats (jsonl, csv, table). All three carry the same figures.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sluice/core/json.hpp"
#include "sluice/github/error.hpp"
#include "sluice/github/repo_stats.hpp"

namespace sluice::github {

/// What repo-fetcher reports for one OWNER/REPO: statistics or an error.
struct repo_report {
  std::string repo;  // as the user gave it
  std::optional<repo_stats> stats;
  std::optional<github::error> failure;
  /// Diagnostics, not part of the formats: requests made, bytes of JSON.
  std::int64_t requests = 0;
  std::int64_t json_bytes = 0;

  [[nodiscard]] bool ok() const noexcept { return !failure.has_value(); }
};

enum class output_format { jsonl, csv, table };

/// Parses "jsonl", "csv" or "table".
[[nodiscard]] std::optional<output_format> parse_output_format(std::string_view name);

/// One line of JSON, newline-terminated, keys in the documented order:
///   {"repo": ..., "issues": {...}, "pulls": {...}, "issue_close_hours_median": ...,
///    "pull_merge_hours_median": ..., "top_labels": [...], "top_authors": [...],
///    "comments_total": ..., "error": null}
/// A failed repository keeps every key; the figures it could not compute are
/// null and "error" is {"status": N, "message": "..."}.
void write_jsonl(std::ostream& out, const repo_report& report);

/// The CSV header line (RFC 4180), newline-terminated.
void write_csv_header(std::ostream& out);
/// One CSV row (RFC 4180, one line). top_labels/top_authors are "name=count"
/// joined by "; ", with `%`, `;` and `=` in names percent-encoded. Text from
/// the network is made safe: invalid UTF-8 bytes and control characters other
/// than tab, CR and LF become U+FFFD; tab, CR and LF become a space.
void write_csv_row(std::ostream& out, const repo_report& report);

/// An aligned, human-readable table of all reports (header + one row each).
void write_table(std::ostream& out, std::span<const repo_report> reports);

/// Writes every report in `format` (header included for csv/table).
void write_reports(std::ostream& out, output_format format, std::span<const repo_report> reports);

/// `s` as a JSON string literal: the one sluice's jsonl sink uses.
using sluice::json_quote;

/// `value` in its shortest round-trip decimal form (12.5, 3.25, 0.8).
[[nodiscard]] std::string format_number(double value);

}  // namespace sluice::github
