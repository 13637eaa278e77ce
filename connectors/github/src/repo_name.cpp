#include "sluice/github/repo_name.hpp"

#include <algorithm>
#include <cstdint>

namespace sluice::github {
namespace {

constexpr char k_hex[] = "0123456789ABCDEF";

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_owner_char(char c) { return is_alnum(c) || c == '-'; }
bool is_repo_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }
bool is_unreserved(char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string quoted(std::string_view text) { return "\"" + escape_for_display(text) + "\""; }

}  // namespace

sluice::result<repo_name, std::string> repo_name::parse(std::string_view full_name) {
  const auto slash = full_name.find('/');
  if (slash == std::string_view::npos)
    return quoted(full_name) + " is not OWNER/REPO (for example: octocat/hello-world)";
  const std::string_view owner = full_name.substr(0, slash), repo = full_name.substr(slash + 1);
  if (repo.find('/') != std::string_view::npos)
    return quoted(full_name) + " is not OWNER/REPO: it has more than one '/'";
  if (owner.empty() || owner.size() > max_owner_length || !std::all_of(owner.begin(), owner.end(), is_owner_char))
    return quoted(full_name) + " is not OWNER/REPO: the owner must be 1-39 letters, digits or '-'";
  if (repo.empty() || repo.size() > max_repo_length || !std::all_of(repo.begin(), repo.end(), is_repo_char))
    return quoted(full_name) + " is not OWNER/REPO: the repository must be 1-100 letters, digits, '.', '_' or '-'";
  if (repo == "." || repo == "..")
    return quoted(full_name) + " is not OWNER/REPO: the repository cannot be \".\" or \"..\"";
  return repo_name(std::string(owner), std::string(repo));
}

std::string repo_name::api_path() const {
  return "/repos/" + percent_encode_path_segment(m_owner) + "/" + percent_encode_path_segment(m_repo);
}

std::string percent_encode_path_segment(std::string_view segment) {
  if (segment == "." || segment == "..") return segment.size() == 1 ? "%2E" : "%2E%2E";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    if (is_unreserved(c)) {
      out += c;
    } else {
      const auto b = static_cast<std::uint8_t>(c);
      out += '%';
      out += k_hex[b >> 4];
      out += k_hex[b & 0xF];
    }
  }
  return out;
}

}  // namespace sluice::github
