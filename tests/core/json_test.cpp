#include "sluice/core/json.hpp"

#include <gtest/gtest.h>

#include <string>

#include "../fuzz/regression_input.hpp"

namespace {

const std::string fffd = "\xEF\xBF\xBD";  // U+FFFD

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST(Json, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(sluice::json_quote("a\"b\\c\n\t\x01\x1f"), "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\"");
}

TEST(Json, KeepsWellFormedUtf8AndAsciiOnlyEscapesIt) {
  EXPECT_EQ(sluice::json_quote("é🚀"), "\"é🚀\"");
  std::string ascii;
  sluice::append_json_string(ascii, "é🚀", /*ascii_only=*/true);
  EXPECT_EQ(ascii, "\"\\u00e9\\ud83d\\ude80\"");
}

TEST(Json, EveryByteOfAnIllFormedSequenceBecomesOneReplacementCharacter) {
  EXPECT_EQ(sluice::json_quote("\xC0\xAF"), "\"" + repeat(fffd, 2) + "\"");          // overlong '/'
  EXPECT_EQ(sluice::json_quote("\xED\xA0\x80"), "\"" + repeat(fffd, 3) + "\"");      // a surrogate
  EXPECT_EQ(sluice::json_quote("\xF4\x90\x80\x80"), "\"" + repeat(fffd, 4) + "\"");  // above U+10FFFF
  EXPECT_EQ(sluice::json_quote("x\xE2\x82"), "\"x" + repeat(fffd, 2) + "\"");        // truncated
}

// Found by tests/fuzz/fuzz_json_string: bytes F5..FF were read as the lead of
// a three-byte sequence, so "\xF5\x80\x80" came out as U+5000.
TEST(Json, BytesF5ToFFNeverStartACharacter) {
  for (int lead = 0xF5; lead <= 0xFF; ++lead) {
    const std::string input{static_cast<char>(lead), '\x80', '\x80'};
    EXPECT_EQ(sluice::json_quote(input), "\"" + repeat(fffd, 3) + "\"") << "lead byte " << lead;
  }
}

TEST(Json, FuzzRegressionLeadByteFFDecodedAsACharacter) {
  const std::string input =
      sluice::testing::fuzz_regression_input("json_string", "lead-byte-ff-decoded-as-a-character");
  // "requested", then only stray continuation bytes and one 0xFF, then "_teams".
  std::size_t non_ascii = 0;
  for (char c : input) non_ascii += static_cast<unsigned char>(c) >= 0x80 ? 1 : 0;
  ASSERT_GT(non_ascii, 0u);
  EXPECT_EQ(sluice::json_quote(input), "\"requested" + repeat(fffd, non_ascii) + "_teams\"");
}

TEST(Json, AppendValidUtf8ReplacesOnlyInvalidBytes) {
  std::string out = ">";
  sluice::append_valid_utf8(out, "a\n\x01é\xFF\xF5\x80\x80z");
  EXPECT_EQ(out, ">a\n\x01é" + repeat(fffd, 4) + "z");
}

TEST(Json, WriterInsertsCommasAndEscapesKeysAndValues) {
  std::string line;
  sluice::json_writer w(line);
  w.begin_object();
  w.field("k\"", "v\n");
  w.key("list");
  w.begin_array();
  w.num(-1);
  w.boolean(true);
  w.null();
  w.end_array();
  w.end_object();
  EXPECT_EQ(line, "{\"k\\\"\":\"v\\n\",\"list\":[-1,true,null]}");
}

TEST(Json, RunsOfPlainAsciiBetweenEscapesAreKeptInOrder) {
  // The escaper copies runs of plain ASCII in one go: every boundary between
  // a run and an escape, a multi-byte character or an invalid byte must
  // come out exactly as byte-by-byte escaping would write it.
  EXPECT_EQ(sluice::json_quote(""), "\"\"");
  EXPECT_EQ(sluice::json_quote("plain text, ~ and DEL\x7f"), "\"plain text, ~ and DEL\x7f\"");
  EXPECT_EQ(sluice::json_quote("\"lead"), "\"\\\"lead\"");
  EXPECT_EQ(sluice::json_quote("trail\\"), "\"trail\\\\\"");
  EXPECT_EQ(sluice::json_quote("a\nb\x01"
                               "c\xC3\xA9"
                               "d\xFF"
                               "e"),
            "\"a\\nb\\u0001c\xC3\xA9"
            "d" +
                fffd + "e\"");
  const std::string long_run(1000, 'x');
  EXPECT_EQ(sluice::json_quote(long_run + "\t" + long_run), "\"" + long_run + "\\t" + long_run + "\"");
  std::string ascii;
  sluice::append_json_string(ascii, "caf\xC3\xA9 ok", /*ascii_only=*/true);
  EXPECT_EQ(ascii, "\"caf\\u00e9 ok\"");
}
