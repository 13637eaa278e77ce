// Property: the issue and pull page parsers and error_message never crash,
// leak or read out of bounds on any bytes; a failure is a github::error with
// status 0 and a message; the in-place (std::string&) and copying
// (std::string_view) overloads agree; every string in a record is valid
// UTF-8 and every timestamp that parses is a real calendar instant.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/github/page_parser.hpp"

namespace {

namespace gh = sluice::github;

bool valid_utf8(const std::string& s) { return simdjson::validate_utf8(s.data(), s.size()); }

template <typename Result>
void check_agree(const Result& in_place, const Result& copied) {
  SLUICE_FUZZ_CHECK(in_place.has_value() == copied.has_value(), "both overloads succeed or fail together");
  if (in_place) {
    SLUICE_FUZZ_CHECK(*in_place == *copied, "both overloads read the same records");
  } else {
    SLUICE_FUZZ_CHECK(in_place.error() == copied.error(), "both overloads report the same error");
    SLUICE_FUZZ_CHECK(in_place.error().status == 0 && !in_place.error().message.empty(),
                      "a parse error has status 0 and text");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string issues_body(input);
  const auto issues = gh::parse_issue_page(issues_body);
  SLUICE_FUZZ_CHECK(issues_body == input, "parsing in place leaves the body unchanged");
  check_agree(issues, gh::parse_issue_page(input));
  if (issues) {
    for (const auto& rec : *issues) {
      SLUICE_FUZZ_CHECK(valid_utf8(rec.author), "author is valid UTF-8");
      for (const auto& label : rec.labels) SLUICE_FUZZ_CHECK(valid_utf8(label), "label is valid UTF-8");
    }
  }

  std::string pulls_body(input);
  const auto pulls = gh::parse_pull_page(pulls_body);
  check_agree(pulls, gh::parse_pull_page(input));
  if (pulls)
    for (const auto& rec : *pulls) SLUICE_FUZZ_CHECK(valid_utf8(rec.author), "author is valid UTF-8");

  if (const auto message = gh::error_message(input))
    SLUICE_FUZZ_CHECK(valid_utf8(*message), "error message is valid UTF-8");

  if (const auto t = gh::parse_timestamp(input)) {
    const auto day = std::chrono::floor<std::chrono::days>(*t);
    SLUICE_FUZZ_CHECK(std::chrono::year_month_day{day}.ok(), "a parsed timestamp is a calendar date");
  }
  return 0;
}
