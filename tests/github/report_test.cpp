#include "sluice/github/report.hpp"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "sluice/core/json.hpp"

#include "../fuzz/regression_input.hpp"

namespace gh = sluice::github;

namespace {

gh::repo_report sample() {
  gh::repo_stats s;
  s.issues = {10, 4, 6};
  s.pulls = {5, 1, 4, 3, 1};
  s.issue_close_hours_median = 12.5;
  s.pull_merge_hours_median = 3.25;
  s.top_labels = {{"bug", 3}, {"say \"hi\"", 1}};
  s.top_authors = {{"octocat", 4}};
  s.comments_total = 42;
  return {.repo = "owner/name", .stats = s, .failure = std::nullopt};
}

}  // namespace

TEST(Report, JsonlLineHasExactlyTheDocumentedShape) {
  std::ostringstream out;
  gh::write_jsonl(out, sample());
  EXPECT_EQ(out.str(),
            "{\"repo\": \"owner/name\", \"issues\": {\"total\": 10, \"open\": 4, \"closed\": 6}, "
            "\"pulls\": {\"total\": 5, \"open\": 1, \"closed\": 4, \"merged\": 3, \"draft\": 1}, "
            "\"issue_close_hours_median\": 12.5, \"pull_merge_hours_median\": 3.25, "
            "\"top_labels\": [{\"name\": \"bug\", \"count\": 3}, {\"name\": \"say \\\"hi\\\"\", \"count\": 1}], "
            "\"top_authors\": [{\"login\": \"octocat\", \"count\": 4}], \"comments_total\": 42, \"error\": null}\n");
}

TEST(Report, JsonlOfAFailedRepoKeepsTheRepoKeyAndCarriesTheError) {
  std::ostringstream out;
  gh::write_jsonl(out, {.repo = "a/missing", .stats = std::nullopt, .failure = gh::error{404, "Not Found"}});
  EXPECT_EQ(out.str(),
            "{\"repo\": \"a/missing\", \"issues\": null, \"pulls\": null, \"issue_close_hours_median\": null, "
            "\"pull_merge_hours_median\": null, \"top_labels\": null, \"top_authors\": null, \"comments_total\": null, "
            "\"error\": {\"status\": 404, \"message\": \"Not Found\"}}\n");
}

TEST(Report, NullMediansAreJsonNull) {
  auto r = sample();
  r.stats->issue_close_hours_median.reset();
  std::ostringstream out;
  gh::write_jsonl(out, r);
  EXPECT_NE(out.str().find("\"issue_close_hours_median\": null,"), std::string::npos);
}

TEST(Report, JsonQuoteEscapesControlCharactersAndKeepsUtf8) {
  EXPECT_EQ(gh::json_quote("a\"b\\c\n\x01 é🚀"), "\"a\\\"b\\\\c\\n\\u0001 é🚀\"");
}

TEST(Report, CsvCarriesTheSameFiguresWithQuotingWhereNeeded) {
  std::ostringstream out;
  gh::write_reports(out, gh::output_format::csv, std::vector<gh::repo_report>{sample()});
  std::istringstream lines(out.str());
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(header.rfind("repo,issues_total,", 0), 0u);
  EXPECT_EQ(row, "owner/name,10,4,6,5,1,4,3,1,12.5,3.25,\"bug=3; say \"\"hi\"\"=1\",octocat=4,42,,");
}

TEST(Report, CsvRowOfAFailedRepoHasTheStatusAndMessage) {
  std::ostringstream out;
  gh::write_csv_row(out, {.repo = "a/b", .stats = std::nullopt, .failure = gh::error{451, "Unavailable, legal"}});
  EXPECT_EQ(out.str(), "a/b,,,,,,,,,,,,,,451,\"Unavailable, legal\"\n");
}

TEST(Report, CsvRowIsOneLineOfValidUtf8WithoutControlCharacters) {
  std::ostringstream out;
  gh::write_csv_row(out, {.repo = "a/b",
                          .stats = std::nullopt,
                          .failure = gh::error{500, "line1\r\nline2\ttab\x01\x7f\xc2\x85 \xff ok \xc3\xa9"}});
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(out.str(), "a/b,,,,,,,,,,,,,,500,line1  line2 tab" + fffd + fffd + fffd + " " + fffd + " ok \xc3\xa9\n");
}

TEST(Report, CsvJoinedListsPercentEncodeSeparatorsInNames) {
  auto r = sample();
  r.stats->top_labels = {{"a; b=1", 2}, {"50%", 1}};
  std::ostringstream out;
  gh::write_csv_row(out, r);
  EXPECT_NE(out.str().find(",a%3B b%3D1=2; 50%25=1,"), std::string::npos) << out.str();
}

// Found by tests/fuzz/fuzz_csv: a raw tab (and any other control byte) went
// into the CSV unchanged. For this input the harness's FuzzedDataProvider
// yields a report whose repo is the whole input and nothing else.
TEST(Report, CsvFuzzRegressionRawTabInAField) {
  const std::string repo = sluice::testing::fuzz_regression_input("csv", "raw-tab-in-a-field");
  ASSERT_EQ(repo, "tab\tx");
  std::ostringstream out;
  gh::write_csv_row(out, {.repo = repo, .stats = std::nullopt, .failure = std::nullopt});
  EXPECT_EQ(out.str(), "tab x,,,,,,,,,,,,,,,\n");
}

TEST(Report, TableAlignsColumnsAndShowsErrors) {
  std::vector<gh::repo_report> reports{
      sample(), {.repo = "x/gone", .stats = std::nullopt, .failure = gh::error{404, "Not Found"}}};
  std::ostringstream out;
  gh::write_table(out, reports);
  const std::string text = out.str();
  EXPECT_NE(text.find("owner/name"), std::string::npos);
  EXPECT_NE(text.find("bug (3)"), std::string::npos);
  EXPECT_NE(text.find("404 Not Found"), std::string::npos);
  std::istringstream lines(text);
  std::string header, rule;
  std::getline(lines, header);
  std::getline(lines, rule);
  EXPECT_EQ(header.rfind("repo", 0), 0u);
  EXPECT_EQ(rule.find_first_not_of("- "), std::string::npos);
}

TEST(Report, FormatNamesParse) {
  EXPECT_EQ(gh::parse_output_format("jsonl"), gh::output_format::jsonl);
  EXPECT_EQ(gh::parse_output_format("table"), gh::output_format::table);
  EXPECT_FALSE(gh::parse_output_format("xml"));
}

namespace {

// What the network may send in names and messages: escape sequences, NUL,
// CR/LF, separators, invalid UTF-8 (a lone continuation byte, a truncated
// sequence, an overlong '/', a surrogate), a C1 CSI.
const std::string k_hostile =
    std::string("x\x1b[31m\0\r\n\t,;=\"\\", 15) + "\x80|\xe4\xb8|\xc0\xaf|\xed\xa0\x80|\xc2\x9b";

gh::repo_report hostile_report() {
  gh::repo_report r = sample();
  r.repo = "o/" + k_hostile;
  r.stats->top_labels = {{k_hostile, 2}, {"a; b=1", 1}};
  r.stats->top_authors = {
      {"bad\xff"
       "login",
       3}};
  r.failure = gh::error{500, "server said: " + k_hostile};
  return r;
}

// C1 controls are valid in JSON strings (RFC 8259 escapes only C0), so
// `allow_c1` for jsonl; CSV and the table escape them too.
bool valid_utf8_without_controls(std::string_view s, bool allow_newline_at_end, bool allow_c1 = false) {
  if (allow_newline_at_end && !s.empty() && s.back() == '\n') s.remove_suffix(1);
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t before = i;
    const std::uint32_t cp = sluice::next_code_point(s, i);
    const bool genuine_replacement = s.substr(before, 3) == "\xef\xbf\xbd";
    if (cp == 0xFFFD && !genuine_replacement) return false;  // invalid byte kept
    if (cp < 0x20 || cp == 0x7f || (!allow_c1 && cp >= 0x80 && cp <= 0x9f)) return false;
  }
  return true;
}

}  // namespace

TEST(Report, JsonlOfHostileStringsIsValidUtf8JsonOnOneLine) {
  std::ostringstream out;
  gh::write_jsonl(out, hostile_report());
  const std::string line = out.str();
  ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_TRUE(valid_utf8_without_controls(line, true, true)) << line;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;  // strict: validates UTF-8 too
  std::string_view label;
  ASSERT_EQ(doc["top_labels"].at(0)["name"].get(label), simdjson::SUCCESS);
  EXPECT_EQ(label.substr(0, 5), "x\x1b[31");  // escaped on the wire, the same text once parsed
}

TEST(Report, CsvOfHostileStringsHasNoControlBytesAndUnambiguousLists) {
  std::ostringstream out;
  gh::write_csv_row(out, hostile_report());
  const std::string row = out.str();
  ASSERT_EQ(std::count(row.begin(), row.end(), '\n'), 1);
  EXPECT_TRUE(valid_utf8_without_controls(row, true)) << row;
  // The label list: ';' and '=' inside names are percent-encoded, so splitting
  // on "; " and then on '=' gives the two entries back.
  EXPECT_NE(row.find("=2; a%3B b%3D1=1\","), std::string::npos) << row;
  EXPECT_EQ(row.find('\x1b'), std::string::npos) << row;  // no terminal escape gets through
}

TEST(Report, TableEscapesControlsAndAlignsByDisplayWidth) {
  std::vector<gh::repo_report> reports{hostile_report(), sample()};
  reports[1].repo = "o/\xe4\xb8\xad\xe6\x96\x87";     // two wide characters: four columns
  reports[1].stats->top_labels = {{"e\xcc\x81", 1}};  // e + combining acute: one column
  std::ostringstream out;
  gh::write_table(out, reports);
  const std::string table = out.str();
  std::istringstream lines(table);
  std::vector<std::string> rows;
  for (std::string l; std::getline(lines, l);) {
    EXPECT_TRUE(valid_utf8_without_controls(l, false)) << l;
    rows.push_back(l);
  }
  ASSERT_EQ(rows.size(), 4u);
  // The second column starts at the same display column in every row.
  auto column_of_issues = [](const std::string& row, std::string_view issues) {
    const auto at = row.find(issues);
    std::size_t width = 0, i = 0;
    const std::string_view head(row.data(), at);
    while (i < head.size()) {
      const std::uint32_t cp = sluice::next_code_point(head, i);
      width += (cp >= 0x4E00 && cp <= 0x9FFF) ? 2 : (cp >= 0x300 && cp <= 0x36F) ? 0 : 1;
    }
    return width;
  };
  // Right-aligned "10" (issues) ends at the same column in both data rows.
  EXPECT_EQ(column_of_issues(rows[2], "  10  "), column_of_issues(rows[3], "  10  ")) << table;
}
