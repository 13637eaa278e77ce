#include "sluice/github/link_header.hpp"

#include <charconv>

namespace sluice::github {
namespace {

constexpr std::string_view k_space = " \t";

std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(k_space);
  if (begin == std::string_view::npos) return {};
  const auto end = s.find_last_not_of(k_space);
  return s.substr(begin, end - begin + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void assign_relations(link_relations& out, std::string_view rels, std::string_view target) {
  // rel may hold several space-separated relation types.
  while (!rels.empty()) {
    rels = trim(rels);
    const auto end = rels.find_first_of(k_space);
    const std::string_view rel = rels.substr(0, end);
    if (iequals(rel, "next")) out.next.emplace(target);
    if (iequals(rel, "prev")) out.prev.emplace(target);
    if (iequals(rel, "first")) out.first.emplace(target);
    if (iequals(rel, "last")) out.last.emplace(target);
    if (end == std::string_view::npos) break;
    rels.remove_prefix(end);
  }
}

// Finds the `page` parameter in the query of `url`: [begin, end) of its value.
std::optional<std::pair<std::size_t, std::size_t>> find_page_value(std::string_view url) {
  const auto query = url.find('?');
  if (query == std::string_view::npos) return std::nullopt;
  const auto fragment = url.find('#', query);
  const std::size_t stop = fragment == std::string_view::npos ? url.size() : fragment;
  std::size_t pos = query + 1;
  while (pos < stop) {
    auto amp = url.find('&', pos);
    if (amp == std::string_view::npos || amp > stop) amp = stop;
    const std::string_view param = url.substr(pos, amp - pos);
    if (param.starts_with("page=")) return std::pair{pos + 5, amp};
    pos = amp + 1;
  }
  return std::nullopt;
}

}  // namespace

link_relations parse_link_header(std::string_view value) {
  link_relations out;
  std::size_t pos = 0;
  while (pos < value.size()) {
    auto open = value.find('<', pos);
    if (open == std::string_view::npos) break;
    const auto close = value.find('>', open + 1);
    if (close == std::string_view::npos) break;
    // A URI reference holds no '<': one before this '>' means the entry that
    // began at `open` is malformed; skip it rather than swallow the next link.
    open = value.rfind('<', close);
    const std::string_view target = value.substr(open + 1, close - open - 1);
    // Parameters run until the next "<" that starts a new link (a comma
    // separates links; commas cannot appear in the quoted rel we care about).
    auto next_link = value.find('<', close + 1);
    const std::string_view params =
        value.substr(close + 1, (next_link == std::string_view::npos ? value.size() : next_link) - close - 1);
    std::size_t p = 0;
    while (p < params.size()) {
      auto semi = params.find(';', p);
      if (semi == std::string_view::npos) break;
      auto end = params.find_first_of(";,", semi + 1);
      std::string_view param =
          trim(params.substr(semi + 1, (end == std::string_view::npos ? params.size() : end) - semi - 1));
      const auto eq = param.find('=');
      if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq)), "rel")) {
        std::string_view rel = trim(param.substr(eq + 1));
        if (rel.size() >= 2 && rel.front() == '"' && rel.back() == '"') rel = rel.substr(1, rel.size() - 2);
        assign_relations(out, rel, trim(target));
      }
      if (end == std::string_view::npos || params[end] == ',') break;
      p = end;
    }
    pos = next_link == std::string_view::npos ? value.size() : next_link;
  }
  return out;
}

std::optional<int> page_number(std::string_view url) {
  const auto range = find_page_value(url);
  if (!range) return std::nullopt;
  const char* first = url.data() + range->first;
  const char* last = url.data() + range->second;
  int page = 0;
  const auto [ptr, ec] = std::from_chars(first, last, page);
  if (ec != std::errc{} || ptr != last || page <= 0) return std::nullopt;
  return page;
}

std::string with_page_number(std::string_view url, int page) {
  const auto range = find_page_value(url);
  if (!range) return std::string(url);
  std::string out(url.substr(0, range->first));
  out += std::to_string(page);
  out += url.substr(range->second);
  return out;
}

}  // namespace sluice::github
