// Property: parse_link_header never crashes on any bytes; every relation it
// returns is a target taken from the input; page_number/with_page_number
// agree (rewriting a page number reads back as that number).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/github/link_header.hpp"

namespace {

namespace gh = sluice::github;

void check_page_rewrite(std::string_view url) {
  const std::optional<int> page = gh::page_number(url);
  if (!page) return;
  SLUICE_FUZZ_CHECK(*page > 0, "page numbers are positive");
  SLUICE_FUZZ_CHECK(gh::page_number(gh::with_page_number(url, *page)) == page, "rewriting the same page reads back");
  const int other = *page % 1000 + 1;
  const std::string moved = gh::with_page_number(url, other);
  SLUICE_FUZZ_CHECK(gh::page_number(moved) == other, "a rewritten page number reads back");
  // Equal up to the page value's spelling ("page=09" reads as 9, is written as 9).
  SLUICE_FUZZ_CHECK(gh::with_page_number(moved, *page) == gh::with_page_number(url, *page),
                    "rewriting back restores the URL");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  const gh::link_relations links = gh::parse_link_header(value);
  for (const auto* rel : {&links.next, &links.prev, &links.first, &links.last}) {
    if (!*rel) continue;
    SLUICE_FUZZ_CHECK(value.find(**rel) != std::string_view::npos, "a relation's target comes from the header");
    SLUICE_FUZZ_CHECK((*rel)->find_first_of("<>") == std::string::npos, "a target holds no angle bracket");
    check_page_rewrite(**rel);
  }
  check_page_rewrite(value);
  return 0;
}
