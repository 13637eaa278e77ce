// repo-fetcher's command line: parsing (with helpful usage errors) and the
// run itself, as a library so tests can drive it in-process.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/github/report.hpp"

namespace sluice::repo_fetcher {

/// Exit statuses.
inline constexpr int exit_ok = 0;           // every repository succeeded
inline constexpr int exit_some_failed = 1;  // some failed; all others still reported
inline constexpr int exit_usage = 2;        // usage error

struct cli_options {
  std::vector<std::string> repos;  // from arguments and --repos-file, duplicates removed
  std::string api_url = "https://api.github.com";
  std::size_t concurrency = 32;
  github::output_format format = github::output_format::jsonl;
  bool format_given = false;
  std::optional<std::string> out;        // default: standard output
  std::optional<std::string> cache_dir;  // ETag cache, off by default
  std::optional<bool> progress;          // default: on when standard error is a terminal
  bool demo = false;                     // offline demo against the built-in fake server
  bool help = false;
};

struct usage_error {
  std::string message;
};

/// Parses argv[1..]. Reads --repos-file. Never exits or prints.
[[nodiscard]] std::variant<cli_options, usage_error> parse_command_line(const std::vector<std::string>& args);

/// The --help text.
[[nodiscard]] std::string usage_text();

/// Runs repo-fetcher with `args` (argv without the program name), writing
/// results to `out` (unless --out) and diagnostics to `err`. Returns the
/// exit status. `err_is_terminal` decides the progress default.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool err_is_terminal);

}  // namespace sluice::repo_fetcher
