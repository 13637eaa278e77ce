// Parsing GitHub's RFC 8288 `Link` response header.
//
//   Link: <https://api.github.com/repositories/1/issues?page=2>; rel="next",
//         <https://api.github.com/repositories/1/issues?page=5>; rel="last"
//
// The fetcher follows `next` exactly as given (GitHub may switch to
// /repositories/{id}/... URLs or opaque `after=` cursors) and uses `last`
// for concurrent fan-out only when it carries a page number.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::github {

/// The four relations GitHub sends; absent ones are empty.
struct link_relations {
  std::optional<std::string> next;
  std::optional<std::string> prev;
  std::optional<std::string> first;
  std::optional<std::string> last;
};

/// Parses a Link header value. Tolerates whitespace, unquoted rel values,
/// several space-separated relation types in one rel ("next last"), extra
/// parameters and unknown relations (ignored). Malformed entries are skipped;
/// never throws.
[[nodiscard]] link_relations parse_link_header(std::string_view value);

/// The value of the `page` query parameter of `url` when it is a positive
/// decimal number, else nullopt (cursor-based URLs have none).
[[nodiscard]] std::optional<int> page_number(std::string_view url);

/// `url` with its `page` query parameter replaced by `page` (every other
/// byte kept as given). Precondition: page_number(url) has a value.
[[nodiscard]] std::string with_page_number(std::string_view url, int page);

}  // namespace sluice::github
