// Property: whatever strings a repository report carries (names, labels,
// logins, error messages from the network), repo-fetcher's CSV output is
// RFC 4180 that a strict reader accepts: valid UTF-8, no control bytes but the
// line ends, 16 fields per record, and each field decodes to the documented
// text: the input with invalid UTF-8 replaced by U+FFFD, tab/CR/LF by a space,
// other control characters by U+FFFD; the joined top_labels/top_authors lists
// (`%`, `;` and `=` in names percent-encoded) decode back to those names and
// their counts.
#include <fuzzer/FuzzedDataProvider.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "sluice/github/report.hpp"

namespace {

using record = std::vector<std::string>;

// A strict RFC 4180 reader (LF or CRLF line ends; every record ends with
// one). nullopt when `text` is not well-formed CSV.
std::optional<std::vector<record>> read_csv_strict(std::string_view text) {
  std::vector<record> records;
  record current;
  std::size_t i = 0;
  while (i < text.size()) {
    std::string field;
    if (text[i] == '"') {
      ++i;
      for (;;) {
        if (i >= text.size()) return std::nullopt;  // unterminated quote
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        if (text[i] == '"') return std::nullopt;  // a quote inside an unquoted field
        field += text[i++];
      }
    }
    current.push_back(std::move(field));
    if (i >= text.size()) return std::nullopt;  // the last record has no line end
    if (text[i] == ',') {
      ++i;
      continue;
    }
    if (text[i] == '\r') {
      if (i + 1 >= text.size() || text[i + 1] != '\n') return std::nullopt;
      ++i;
    }
    if (text[i] != '\n') return std::nullopt;  // garbage after a closing quote
    ++i;
    records.push_back(std::move(current));
    current.clear();
  }
  return records;
}

// The documented cell text, computed independently of report.cpp.
std::string expected_cell(std::string_view input) {
  const std::string valid = sluice::fuzz::with_invalid_utf8_replaced(input);
  std::string out;
  for (std::size_t i = 0; i < valid.size();) {
    const std::size_t n = sluice::fuzz::utf8_sequence_length(valid, i);
    const std::string_view seq(valid.data() + i, n);
    const auto b0 = static_cast<unsigned char>(valid[i]);
    const auto b1 = n > 1 ? static_cast<unsigned char>(valid[i + 1]) : 0u;
    if (b0 == '\t' || b0 == '\r' || b0 == '\n') {
      out += ' ';
    } else if (b0 < 0x20 || b0 == 0x7F || (b0 == 0xC2 && b1 < 0xA0)) {  // C0, DEL, C1
      out += sluice::fuzz::replacement_character;
    } else {
      out += seq;
    }
    i += n;
  }
  return out;
}

// Decodes a joined top_labels/top_authors cell ("name=count; name=count",
// `%`, `;` and `=` in names percent-encoded) back into its entries; nullopt
// when the cell is not in that form (a separator inside a name, a `%` that
// is not one of the three escapes, a count that is not a number). Checking
// that the cell decodes to the input, rather than re-encoding the input the
// way report.cpp does, also catches an encoding that is not reversible.
std::optional<std::vector<sluice::github::name_count>> decode_list(std::string_view cell) {
  std::vector<sluice::github::name_count> out;
  if (cell.empty()) return out;
  for (;;) {
    const std::size_t end = std::min(cell.find(';'), cell.size());
    const std::string_view entry = cell.substr(0, end);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos || entry.find('=', eq + 1) != std::string_view::npos) return std::nullopt;
    sluice::github::name_count nc;
    for (std::size_t i = 0; i < eq; ++i) {
      if (entry[i] != '%') {
        nc.name += entry[i];
        continue;
      }
      const std::string_view escape = entry.substr(i, 3);
      if (escape == "%25") {
        nc.name += '%';
      } else if (escape == "%3B") {
        nc.name += ';';
      } else if (escape == "%3D") {
        nc.name += '=';
      } else {
        return std::nullopt;
      }
      i += 2;
    }
    const std::string_view count = entry.substr(eq + 1);
    const auto [rest, error] = std::from_chars(count.data(), count.data() + count.size(), nc.count);
    if (count.empty() || error != std::errc{} || rest != count.data() + count.size()) return std::nullopt;
    out.push_back(std::move(nc));
    if (end == cell.size()) return out;
    if (cell.substr(end, 2) != "; ") return std::nullopt;
    cell.remove_prefix(end + 2);
  }
}

// The cell decodes to `list`, each name as expected_cell() documents it.
bool list_round_trips(std::string_view cell, const std::vector<sluice::github::name_count>& list) {
  const auto decoded = decode_list(cell);
  if (!decoded || decoded->size() != list.size()) return false;
  for (std::size_t i = 0; i < list.size(); ++i)
    if ((*decoded)[i].name != expected_cell(list[i].name) || (*decoded)[i].count != list[i].count) return false;
  return true;
}

std::vector<sluice::github::name_count> consume_counts(FuzzedDataProvider& in) {
  std::vector<sluice::github::name_count> out(in.ConsumeIntegralInRange<std::size_t>(0, 3));
  for (auto& nc : out) {
    nc.name = in.ConsumeRandomLengthString(32);
    nc.count = in.ConsumeIntegral<std::int64_t>();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  sluice::github::repo_report report;
  report.repo = in.ConsumeRandomLengthString(64);
  if (in.ConsumeBool()) {
    sluice::github::repo_stats s;
    s.issues = {in.ConsumeIntegral<std::int64_t>(), in.ConsumeIntegral<std::int64_t>(),
                in.ConsumeIntegral<std::int64_t>()};
    s.pulls.total = in.ConsumeIntegral<std::int64_t>();
    s.pulls.merged = in.ConsumeIntegral<std::int64_t>();
    if (in.ConsumeBool()) s.issue_close_hours_median = in.ConsumeFloatingPoint<double>();
    s.top_labels = consume_counts(in);
    s.top_authors = consume_counts(in);
    s.comments_total = in.ConsumeIntegral<std::int64_t>();
    report.stats = std::move(s);
  }
  if (in.ConsumeBool()) {
    const long status = in.ConsumeIntegral<long>();
    report.failure = sluice::github::error{status, in.ConsumeRemainingBytesAsString()};
  }

  std::ostringstream out;
  sluice::github::write_csv_header(out);
  sluice::github::write_csv_row(out, report);
  const std::string text = out.str();

  SLUICE_FUZZ_CHECK(simdjson::validate_utf8(text.data(), text.size()), "CSV output is valid UTF-8");
  std::size_t line_ends = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b == '\n') ++line_ends;
    SLUICE_FUZZ_CHECK(b == '\n' || (b >= 0x20 && b != 0x7F), "no control byte in CSV output but line ends");
    SLUICE_FUZZ_CHECK(!(b == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0),
                      "no C1 control character in CSV output");
  }
  SLUICE_FUZZ_CHECK(line_ends == 2, "one line per record");

  const auto records = read_csv_strict(text);
  SLUICE_FUZZ_CHECK(records.has_value(), "CSV output is RFC 4180");
  SLUICE_FUZZ_CHECK(records->size() == 2, "header and one row");
  SLUICE_FUZZ_CHECK((*records)[0].size() == 16 && (*records)[1].size() == 16, "16 fields per record");
  const record& row = (*records)[1];
  SLUICE_FUZZ_CHECK(row[0] == expected_cell(report.repo), "repo round-trips");
  if (report.stats) {
    SLUICE_FUZZ_CHECK(row[1] == std::to_string(report.stats->issues.total), "issues_total round-trips");
    SLUICE_FUZZ_CHECK(list_round_trips(row[11], report.stats->top_labels), "top_labels round-trips");
    SLUICE_FUZZ_CHECK(list_round_trips(row[12], report.stats->top_authors), "top_authors round-trips");
  } else {
    for (std::size_t f = 1; f <= 13; ++f) SLUICE_FUZZ_CHECK(row[f].empty(), "a failed repository has empty figures");
  }
  if (report.failure) {
    SLUICE_FUZZ_CHECK(row[14] == std::to_string(report.failure->status), "error_status round-trips");
    SLUICE_FUZZ_CHECK(row[15] == expected_cell(report.failure->message), "error_message round-trips");
  } else {
    SLUICE_FUZZ_CHECK(row[14].empty() && row[15].empty(), "no error, empty error fields");
  }
  return 0;
}
