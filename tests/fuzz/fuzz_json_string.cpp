// Property: whatever the bytes, append_json_string / json_quote / json_writer
// produce JSON that simdjson's strict DOM parser accepts, and the decoded
// string equals the input, with invalid UTF-8 bytes replaced by U+FFFD.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/core/json.hpp"

namespace {

std::string_view parsed_string(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  SLUICE_FUZZ_CHECK(parser.parse(json).get(doc) == simdjson::SUCCESS, "json_quote output parses");
  std::string_view text;
  SLUICE_FUZZ_CHECK(doc.get_string().get(text) == simdjson::SUCCESS, "json_quote output is a string");
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string expected = sluice::fuzz::with_invalid_utf8_replaced(input);
  static simdjson::dom::parser parser;

  const std::string quoted = sluice::json_quote(input);
  for (char c : quoted) SLUICE_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20, "no raw control byte in JSON output");
  SLUICE_FUZZ_CHECK(parsed_string(parser, quoted) == expected, "json_quote round-trips (U+FFFD for invalid UTF-8)");

  std::string ascii;
  sluice::append_json_string(ascii, input, /*ascii_only=*/true);
  for (char c : ascii) {
    const auto b = static_cast<unsigned char>(c);
    SLUICE_FUZZ_CHECK(b >= 0x20 && b < 0x80, "ascii_only output is printable ASCII");
  }
  SLUICE_FUZZ_CHECK(parsed_string(parser, ascii) == expected, "ascii_only output round-trips");

  // The writer: the input as a key and as values, among other members.
  std::string line;
  sluice::json_writer w(line);
  w.begin_object();
  w.field(input, input);
  w.key("list");
  w.begin_array();
  w.str(input);
  w.num(static_cast<std::int64_t>(size));
  w.null();
  w.end_array();
  w.end_object();
  simdjson::dom::object object;
  SLUICE_FUZZ_CHECK(parser.parse(line).get(object) == simdjson::SUCCESS, "json_writer output parses as an object");
  int member = 0;
  for (auto [key, value] : object) {
    if (member == 0) {
      SLUICE_FUZZ_CHECK(key == expected, "first key round-trips");
      SLUICE_FUZZ_CHECK(value.is_string() && std::string_view(value.get_string().value_unsafe()) == expected,
                        "first value round-trips");
    } else {
      simdjson::dom::array list;
      SLUICE_FUZZ_CHECK(key == "list" && value.get_array().get(list) == simdjson::SUCCESS, "second member is the list");
      SLUICE_FUZZ_CHECK(list.size() == 3, "list has three values");
      SLUICE_FUZZ_CHECK(list.at(0).is_string() && std::string_view(list.at(0).get_string().value_unsafe()) == expected,
                        "list string round-trips");
      SLUICE_FUZZ_CHECK(
          list.at(1).is_int64() && list.at(1).get_int64().value_unsafe() == static_cast<std::int64_t>(size),
          "list number round-trips");
      SLUICE_FUZZ_CHECK(list.at(2).is_null(), "list null round-trips");
    }
    ++member;
  }
  SLUICE_FUZZ_CHECK(member == 2, "object has two members");
  return 0;
}
