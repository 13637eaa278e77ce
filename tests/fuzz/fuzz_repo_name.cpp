// Property: repo_name::parse accepts exactly GitHub's rules (owner: 1-39
// letters, digits, '-'; repository: 1-100 letters, digits, '.', '_', '-';
// neither part '.' or '..'), its parts rebuild the input, and api_path() of
// any accepted name stays inside /repos/{owner}/{repo} (no '/', '?', '#', '%'
// or dot-segment beyond the two it writes). A refusal is a printable sentence.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/github/repo_name.hpp"

namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool valid_owner(std::string_view s) {
  if (s.empty() || s.size() > 39 || s == "." || s == "..") return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

bool valid_repo(std::string_view s) {
  if (s.empty() || s.size() > 100 || s == "." || s == "..") return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

bool expected_valid(std::string_view input) {
  const auto slash = input.find('/');
  if (slash == std::string_view::npos) return false;
  return valid_owner(input.substr(0, slash)) && valid_repo(input.substr(slash + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parsed = sluice::github::repo_name::parse(input);
  SLUICE_FUZZ_CHECK(parsed.has_value() == expected_valid(input), "accepts exactly GitHub's rules");
  if (!parsed) {
    for (char c : parsed.error())
      SLUICE_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "the refusal is printable");
    return 0;
  }
  SLUICE_FUZZ_CHECK(parsed->full() == input, "the parts rebuild the input");
  const std::string path = parsed->api_path();
  const std::string expected = "/repos/" + parsed->owner() + "/" + parsed->repo();
  SLUICE_FUZZ_CHECK(path == expected, "valid names need no encoding, so the path is exactly /repos/OWNER/REPO");
  for (const std::string_view segment : {std::string_view(parsed->owner()), std::string_view(parsed->repo())}) {
    const std::string encoded = sluice::github::percent_encode_path_segment(segment);
    SLUICE_FUZZ_CHECK(encoded.find('/') == std::string::npos, "an encoded segment holds no '/'");
  }
  // Any input as a segment: the encoding never yields '/', '?', '#' or a dot-segment.
  const std::string any = sluice::github::percent_encode_path_segment(input);
  SLUICE_FUZZ_CHECK(any.find_first_of("/?#") == std::string::npos, "no separator survives encoding");
  SLUICE_FUZZ_CHECK(any != "." && any != "..", "never a dot-segment");
  return 0;
}
