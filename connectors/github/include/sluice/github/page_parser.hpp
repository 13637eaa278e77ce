// Parsing one page of GitHub list JSON into typed records with simdjson
// On-Demand.
//
// Thread-safety: every function may be called concurrently from any number
// of threads (each thread reuses its own simdjson parser).
// Errors: malformed, truncated or wrongly typed JSON (a page that is not an
// array of objects, a string where a number belongs, trailing garbage, an
// unparseable timestamp) yields a github::error with status 0 and a message
// naming the problem; nothing throws and nothing crashes. Unknown fields and
// missing optional fields are accepted.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/github/error.hpp"
#include "sluice/github/records.hpp"

namespace sluice::github {

/// Parses an `/issues` page (a JSON array of issue objects).
///
/// The string overload pads `body` in place (grows its capacity by
/// simdjson's padding when needed) so simdjson can read it without a copy;
/// its contents are unchanged. The string_view overload copies.
[[nodiscard]] result<std::vector<issue_record>> parse_issue_page(std::string& body);
[[nodiscard]] result<std::vector<issue_record>> parse_issue_page(std::string_view body);

/// Parses a `/pulls` page (a JSON array of pull request objects).
[[nodiscard]] result<std::vector<pull_record>> parse_pull_page(std::string& body);
[[nodiscard]] result<std::vector<pull_record>> parse_pull_page(std::string_view body);

/// GitHub's `message` field from an error body such as
/// {"message":"Not Found","documentation_url":"..."}; nullopt when the body
/// is not such an object.
[[nodiscard]] std::optional<std::string> error_message(std::string_view body);

/// Parses an ISO 8601 UTC timestamp as GitHub writes it: 2017-10-10T16:00:00Z
/// (fractional seconds and numeric offsets are accepted too).
[[nodiscard]] std::optional<timestamp> parse_timestamp(std::string_view text);

}  // namespace sluice::github
