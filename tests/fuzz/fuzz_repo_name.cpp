// Property: split_repo_name accepts only OWNER/REPO made of GitHub's name
// characters, never "." or ".." as the repository, and its two parts rebuild
// the input exactly, so no accepted name can leave /repos/{owner}/{repo}/ when
// a URL is built from it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "sluice/github/fetcher.hpp"

namespace {

bool name_chars(std::string_view s) {
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parts = sluice::github::split_repo_name(input);
  if (!parts) return 0;
  const auto& [owner, repo] = *parts;
  SLUICE_FUZZ_CHECK(!owner.empty() && !repo.empty(), "both parts are non-empty");
  SLUICE_FUZZ_CHECK(owner + "/" + repo == input, "the parts rebuild the input");
  SLUICE_FUZZ_CHECK(name_chars(owner) && name_chars(repo), "only GitHub's name characters");
  SLUICE_FUZZ_CHECK(repo != "." && repo != "..", "the repository is never . or ..");
  return 0;
}
