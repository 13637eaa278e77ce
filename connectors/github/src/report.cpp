#include "sluice/github/report.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <ostream>
#include <vector>

#include "sluice/github/display_text.hpp"

namespace sluice::github {
namespace {

std::string optional_number(const std::optional<double>& v) { return v ? format_number(*v) : std::string("null"); }

std::string json_name_counts(const std::vector<name_count>& list, std::string_view key) {
  std::string out = "[";
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += ", ";
    out += "{\"";
    out += key;
    out += "\": ";
    out += json_quote(list[i].name);
    out += ", \"count\": ";
    out += std::to_string(list[i].count);
    out += "}";
  }
  return out + "]";
}

constexpr std::string_view k_replacement = "\xEF\xBF\xBD";  // U+FFFD

// A CSV cell's text: valid UTF-8 (U+FFFD for invalid bytes, as in jsonl), tab,
// CR and LF as a space so every record stays one line for line-based tools,
// and any other control character (C0, DEL, C1) as U+FFFD so none reaches a
// terminal or a spreadsheet raw.
std::string csv_text(std::string_view s) {
  std::string valid;
  append_valid_utf8(valid, s);
  std::string out;
  out.reserve(valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto c = static_cast<unsigned char>(valid[i]);
    if (c == '\t' || c == '\r' || c == '\n') {
      out += ' ';
    } else if (c < 0x20 || c == 0x7F) {
      out += k_replacement;
    } else if (c == 0xC2 && static_cast<unsigned char>(valid[i + 1]) < 0xA0) {
      out += k_replacement;  // U+0080..U+009F (valid UTF-8: a continuation byte follows 0xC2)
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// RFC 4180: quoted when the text holds a comma or a quote (csv_text leaves no
// line breaks), quotes doubled.
std::string csv_field(std::string_view s) {
  std::string text = csv_text(s);
  if (text.find_first_of(",\"") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// "name=count; name=count" with `%`, `;` and `=` in names percent-encoded,
// so a label such as "a; b=1" cannot be mistaken for two entries.
std::string joined_counts(const std::vector<name_count>& list) {
  std::string out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i) out += "; ";
    for (char c : csv_text(list[i].name)) {
      if (c == '%') {
        out += "%25";
      } else if (c == ';') {
        out += "%3B";
      } else if (c == '=') {
        out += "%3D";
      } else {
        out += c;
      }
    }
    out += '=';
    out += std::to_string(list[i].count);
  }
  return out;
}

// Terminal columns a code point takes: 0 for combining marks and zero-width
// characters, 2 for East Asian wide and fullwidth ones and emoji, else 1.
// (A fixed table rather than wcwidth(3), which depends on the locale.)
int column_width(std::uint32_t cp) {
  struct range {
    std::uint32_t first, last;
  };
  static constexpr range zero[] = {{0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
                                   {0x064B, 0x065F}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x1AB0, 0x1AFF},
                                   {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
                                   {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}};
  static constexpr range wide[] = {{0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},  {0x3400, 0x4DBF},
                                   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},  {0xF900, 0xFAFF},
                                   {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},  {0x1F300, 0x1F64F},
                                   {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  auto in = [cp](const auto& table) {
    return std::any_of(std::begin(table), std::end(table),
                       [cp](const range& r) { return cp >= r.first && cp <= r.last; });
  };
  if (in(zero)) return 0;
  return in(wide) ? 2 : 1;
}

// Display width of text that escape_for_display already cleaned.
std::size_t display_width(std::string_view s) {
  std::size_t width = 0;
  std::size_t i = 0;
  while (i < s.size()) width += static_cast<std::size_t>(column_width(next_code_point(s, i)));
  return width;
}

std::string optional_text(const std::optional<double>& v) { return v ? format_number(*v) : std::string("-"); }

}  // namespace

std::optional<output_format> parse_output_format(std::string_view name) {
  if (name == "jsonl") return output_format::jsonl;
  if (name == "csv") return output_format::csv;
  if (name == "table") return output_format::table;
  return std::nullopt;
}

std::string format_number(double value) {
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc{}) return "null";
  return std::string(buf.data(), end);
}

void write_jsonl(std::ostream& out, const repo_report& r) {
  std::string line = "{\"repo\": " + json_quote(r.repo);
  if (r.stats) {
    const repo_stats& s = *r.stats;
    line += ", \"issues\": {\"total\": " + std::to_string(s.issues.total) +
            ", \"open\": " + std::to_string(s.issues.open) + ", \"closed\": " + std::to_string(s.issues.closed) + "}";
    line += ", \"pulls\": {\"total\": " + std::to_string(s.pulls.total) +
            ", \"open\": " + std::to_string(s.pulls.open) + ", \"closed\": " + std::to_string(s.pulls.closed) +
            ", \"merged\": " + std::to_string(s.pulls.merged) + ", \"draft\": " + std::to_string(s.pulls.draft) + "}";
    line += ", \"issue_close_hours_median\": " + optional_number(s.issue_close_hours_median);
    line += ", \"pull_merge_hours_median\": " + optional_number(s.pull_merge_hours_median);
    line += ", \"top_labels\": " + json_name_counts(s.top_labels, "name");
    line += ", \"top_authors\": " + json_name_counts(s.top_authors, "login");
    line += ", \"comments_total\": " + std::to_string(s.comments_total);
  } else {
    line +=
        ", \"issues\": null, \"pulls\": null, \"issue_close_hours_median\": null, \"pull_merge_hours_median\": null, "
        "\"top_labels\": null, \"top_authors\": null, \"comments_total\": null";
  }
  if (r.failure) {
    line += ", \"error\": {\"status\": " + std::to_string(r.failure->status) +
            ", \"message\": " + json_quote(r.failure->message) + "}}\n";
  } else {
    line += ", \"error\": null}\n";
  }
  out << line;
}

void write_csv_header(std::ostream& out) {
  out << "repo,issues_total,issues_open,issues_closed,pulls_total,pulls_open,pulls_closed,pulls_merged,pulls_draft,"
         "issue_close_hours_median,pull_merge_hours_median,top_labels,top_authors,comments_total,error_status,"
         "error_message\n";
}

void write_csv_row(std::ostream& out, const repo_report& r) {
  // Built with push_back/append only: g++ 12 reports a bogus -Wrestrict for
  // `"," + std::string` at -O2 (GCC bug 105329).
  std::string row = csv_field(r.repo);
  auto field = [&row](const std::string& value) {
    row.push_back(',');
    row.append(value);
  };
  if (r.stats) {
    const repo_stats& s = *r.stats;
    for (std::int64_t v : {s.issues.total, s.issues.open, s.issues.closed, s.pulls.total, s.pulls.open, s.pulls.closed,
                           s.pulls.merged, s.pulls.draft})
      field(std::to_string(v));
    field(s.issue_close_hours_median ? format_number(*s.issue_close_hours_median) : std::string());
    field(s.pull_merge_hours_median ? format_number(*s.pull_merge_hours_median) : std::string());
    field(csv_field(joined_counts(s.top_labels)));
    field(csv_field(joined_counts(s.top_authors)));
    field(std::to_string(s.comments_total));
  } else {
    row.append(",,,,,,,,,,,,,");
  }
  if (r.failure) {
    field(std::to_string(r.failure->status));
    field(csv_field(r.failure->message));
  } else {
    row.append(",,");
  }
  row.push_back('\n');
  out << row;
}

void write_table(std::ostream& out, std::span<const repo_report> reports) {
  const std::vector<std::string> header = {"repo",     "issues",   "open",      "closed",     "prs",
                                           "open",     "closed",   "merged",    "draft",      "close h~",
                                           "merge h~", "comments", "top label", "top author", "error"};
  std::vector<std::vector<std::string>> rows;
  for (const repo_report& r : reports) {
    std::vector<std::string> row{r.repo};
    if (r.stats) {
      const repo_stats& s = *r.stats;
      for (std::int64_t v : {s.issues.total, s.issues.open, s.issues.closed, s.pulls.total, s.pulls.open,
                             s.pulls.closed, s.pulls.merged, s.pulls.draft})
        row.push_back(std::to_string(v));
      row.push_back(optional_text(s.issue_close_hours_median));
      row.push_back(optional_text(s.pull_merge_hours_median));
      row.push_back(std::to_string(s.comments_total));
      row.push_back(s.top_labels.empty() ? "-"
                                         : s.top_labels[0].name + " (" + std::to_string(s.top_labels[0].count) + ")");
      row.push_back(
          s.top_authors.empty() ? "-" : s.top_authors[0].name + " (" + std::to_string(s.top_authors[0].count) + ")");
    } else {
      for (int i = 0; i < 13; ++i) row.emplace_back("-");
    }
    row.push_back(r.failure ? std::to_string(r.failure->status) + " " + r.failure->message : std::string());
    for (auto& cell : row) cell = escape_for_display(cell);
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = display_width(header[c]);
    for (const auto& row : rows) width[c] = std::max(width[c], display_width(row[c]));
  }
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::size_t pad = width[c] - display_width(row[c]);
      const bool numeric = c >= 1 && c <= 11;  // right-align figures
      if (c) line += "  ";
      if (numeric) line.append(pad, ' ');
      line += row[c];
      if (!numeric && c + 1 < row.size()) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  emit(header);
  std::vector<std::string> rule;
  for (std::size_t w : width) rule.emplace_back(w, '-');
  emit(rule);
  for (const auto& row : rows) emit(row);
}

void write_reports(std::ostream& out, output_format format, std::span<const repo_report> reports) {
  switch (format) {
    case output_format::jsonl:
      for (const auto& r : reports) write_jsonl(out, r);
      break;
    case output_format::csv:
      write_csv_header(out);
      for (const auto& r : reports) write_csv_row(out, r);
      break;
    case output_format::table:
      write_table(out, reports);
      break;
  }
}

}  // namespace sluice::github
