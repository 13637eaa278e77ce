#include "sluice/github/report.hpp"

#include <gtest/gtest.h>

#include <sstream>

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
