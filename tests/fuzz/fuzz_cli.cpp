// Property: repo-fetcher's command-line parser never crashes or throws on any
// arguments; it returns either a usage error with a message or options that
// hold its documented invariants (valid OWNER/REPO names without repeats,
// concurrency 1..1000, an http(s) API URL, some repository unless --demo or
// --help).
//
// Input: the arguments separated by NUL bytes; after two NULs in a row, the
// contents of the file that every --repos-file argument is redirected to (so
// the fuzzer can never make the harness read a FIFO or device).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "sluice/github/repo_name.hpp"
#include "sluice/repo_fetcher/cli.hpp"

namespace {

const std::string& repos_file_path() {
  static const std::string path = [] {
    char name[] = "/tmp/sluice-fuzz-cli-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) std::abort();
    close(fd);
    return std::string(name);
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view file_contents;
  if (const auto split = input.find(std::string_view("\0\0", 2)); split != std::string_view::npos) {
    file_contents = input.substr(split + 2);
    input = input.substr(0, split);
  }
  std::vector<std::string> args;
  for (std::size_t pos = 0; pos <= input.size() && !input.empty();) {
    const auto end = std::min(input.find('\0', pos), input.size());
    args.emplace_back(input.substr(pos, end - pos));
    pos = end + 1;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].starts_with("--repos-file=")) args[i] = "--repos-file=" + repos_file_path();
    if (args[i] == "--repos-file" && i + 1 < args.size()) args[++i] = repos_file_path();
  }
  std::ofstream(repos_file_path(), std::ios::binary | std::ios::trunc) << file_contents;

  const auto parsed = sluice::repo_fetcher::parse_command_line(args);
  if (const auto* e = std::get_if<sluice::repo_fetcher::usage_error>(&parsed)) {
    SLUICE_FUZZ_CHECK(!e->message.empty(), "a usage error says what is wrong");
    return 0;
  }
  const auto& opt = std::get<sluice::repo_fetcher::cli_options>(parsed);
  if (opt.help) return 0;
  SLUICE_FUZZ_CHECK(opt.concurrency >= 1 && opt.concurrency <= 1000, "concurrency is 1..1000");
  SLUICE_FUZZ_CHECK(opt.api_url.starts_with("http://") || opt.api_url.starts_with("https://"),
                    "the API URL is http(s)");
  SLUICE_FUZZ_CHECK(!opt.repos.empty(), "some repository");
  std::set<std::string> seen;
  for (const auto& repo : opt.repos) {
    SLUICE_FUZZ_CHECK(sluice::github::repo_name::parse(repo).has_value(), "every repository is OWNER/REPO");
    SLUICE_FUZZ_CHECK(seen.insert(repo).second, "no repository twice");
  }
  return 0;
}
