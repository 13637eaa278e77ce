// repo-fetcher's command line: parsing (with helpful usage errors) and the
// run itself, as a library so tests can drive it in-process.
#pragma once

#include <chrono>
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
inline constexpr int exit_usage = 2;        // usage error (also an unusable token, --out or --cache-dir)
inline constexpr int exit_sigint = 130;     // stopped by SIGINT (128 + 2); finished rows written
inline constexpr int exit_sigterm = 143;    // stopped by SIGTERM (128 + 15); finished rows written

struct cli_options {
  std::vector<std::string> repos;  // validated OWNER/REPO, from arguments and --repos-file, duplicates removed
  std::string api_url = "https://api.github.com";
  std::size_t concurrency = 32;
  github::output_format format = github::output_format::jsonl;
  std::optional<std::string> out;        // default: standard output
  std::optional<std::string> cache_dir;  // ETag cache, off by default
  std::optional<bool> progress;          // default: on when standard error is a terminal
  std::optional<std::string> trace;      // --trace FILE: Chrome Trace Event JSON of the run (Perfetto)
  /// Whole-run deadline; unfinished repositories then report status 0 "timeout".
  std::optional<std::chrono::seconds> timeout;
  std::chrono::seconds max_wait{900};            // longest rate-limit wait taken
  std::size_t max_body = std::size_t{64} << 20;  // bytes per response (decompressed)
  std::size_t max_pages = 10'000;                // pages per endpoint
  bool help = false;
};

struct usage_error {
  std::string message;
};

/// Parses argv[1..]. Reads --repos-file. Never exits or prints. Every
/// usage_error message quotes user input with control characters escaped.
[[nodiscard]] std::variant<cli_options, usage_error> parse_command_line(const std::vector<std::string>& args);

/// Why `url` cannot be the API base URL (http or https, a host, an optional
/// port, no userinfo, query, fragment, whitespace or control characters), or
/// nullopt when it can. The message does not repeat the URL.
[[nodiscard]] std::optional<std::string> api_url_problem(std::string_view url);

/// The --help text.
[[nodiscard]] std::string usage_text();

/// Runs repo-fetcher with `args` (argv without the program name), writing
/// results to `out` (unless --out) and diagnostics to `err`. Returns the
/// exit status. `err_is_terminal` decides the progress default. Stops early
/// (exit 130/143) on SIGINT/SIGTERM, installing handlers for the call's
/// duration (sluice::stop_on_signals); results for finished repositories are
/// still written. After such a stop (or --timeout) the fetch gets 0.7 s to
/// wind down through fetch_options::stop; if it has not, the rows are written
/// and the process ends with std::_Exit(status) instead of returning.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool err_is_terminal);

}  // namespace sluice::repo_fetcher
