#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>

#include "sluice/github/display_text.hpp"
#include "sluice/github/repo_name.hpp"
#include "sluice/repo_fetcher/cli.hpp"

namespace sluice::repo_fetcher {
namespace {

using github::escape_for_display;

std::string quoted(std::string_view text) { return "\"" + escape_for_display(text) + "\""; }

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// A --repos-file longer than this is not a list of repositories.
constexpr std::uintmax_t k_max_repos_file_bytes = 64u << 20;

std::optional<usage_error> read_repos_file(const std::string& path, std::vector<std::string>& repos) {
  const std::string shown = quoted(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return usage_error{"cannot read --repos-file " + shown + ": " + std::strerror(errno)};
  if (S_ISDIR(st.st_mode)) return usage_error{"--repos-file " + shown + " is a directory, not a file"};
  if (!S_ISREG(st.st_mode)) return usage_error{"--repos-file " + shown + " is not a regular file"};
  if (static_cast<std::uintmax_t>(st.st_size) > k_max_repos_file_bytes)
    return usage_error{"--repos-file " + shown + " is larger than 64 MiB"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return usage_error{"cannot read --repos-file " + shown + ": " + std::strerror(errno)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = line;
    if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
    text = trim(text);
    if (text.empty()) continue;
    auto name = github::repo_name::parse(text);
    if (!name) return usage_error{escape_for_display(path) + ":" + std::to_string(number) + ": " + name.error()};
    repos.emplace_back(text);
  }
  if (in.bad()) return usage_error{"reading --repos-file " + shown + " failed"};
  return std::nullopt;
}

// A whole number in [lo, hi] with an optional unit suffix from `units`
// (suffix -> multiplier); checked arithmetic, nullopt when out of range.
std::optional<std::uint64_t> parse_scaled(std::string_view text, std::uint64_t lo, std::uint64_t hi,
                                          std::initializer_list<std::pair<std::string_view, std::uint64_t>> units) {
  std::uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr == text.data()) return std::nullopt;
  const std::string_view suffix(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  std::uint64_t scale = 1;
  if (!suffix.empty()) {
    const auto it = std::find_if(units.begin(), units.end(), [&](const auto& u) { return u.first == suffix; });
    if (it == units.end()) return std::nullopt;
    scale = it->second;
  }
  if (n > hi / scale) return std::nullopt;
  n *= scale;
  if (n < lo || n > hi) return std::nullopt;
  return n;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text, std::uint64_t lo) {
  constexpr std::uint64_t week = 7 * 24 * 3600;
  auto n = parse_scaled(text, lo, week, {{"s", 1}, {"m", 60}, {"h", 3600}});
  if (!n) return std::nullopt;
  return std::chrono::seconds(static_cast<std::chrono::seconds::rep>(*n));
}

}  // namespace

std::optional<std::string> api_url_problem(std::string_view url) {
  for (char c : url) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f) return "must not contain spaces, control characters or non-ASCII bytes";
  }
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return "must start with http:// or https://";
  }
  if (url.find_first_of("?#") != std::string_view::npos) return "must not have a query (?) or fragment (#)";
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string_view::npos)
    return "must not contain user:password@ (the token comes from GITHUB_TOKEN)";
  std::string_view host = authority;
  if (host.starts_with("[")) {
    const auto close = host.find(']');
    if (close == std::string_view::npos || close == 1) return "has a malformed [IPv6] host";
    const std::string_view after = host.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) return "has a malformed [IPv6] host";
    host = host.substr(0, close + 1);
    rest = after;
  } else {
    const auto colon = host.find(':');
    rest = colon == std::string_view::npos ? std::string_view{} : host.substr(colon);
    host = host.substr(0, colon);
  }
  if (host.empty()) return "has no host";
  if (!rest.empty()) {
    const std::string_view port = rest.substr(1);
    unsigned p = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || p == 0 || p > 65535)
      return "has a bad port (1-65535)";
  }
  return std::nullopt;
}

std::string usage_text() {
  return R"(usage: repo-fetcher [options] OWNER/REPO...

Fetches the issues and pull requests of GitHub repositories concurrently and
prints per-repository statistics.

options:
  --repos-file FILE     one OWNER/REPO per line; blank lines and # comments ignored
  --api-url URL         default https://api.github.com (Enterprise: https://HOST/api/v3);
                        http or https, a host, no user:password@, query or fragment
  --concurrency N       requests in flight at most (default 32)
  --format jsonl|csv|table   default jsonl
  --out FILE            default standard output; written atomically (a temporary
                        file beside FILE, renamed when complete), so a failed or
                        interrupted run leaves the previous FILE as it was
  --cache-dir DIR       ETag cache: unchanged pages cost no rate limit (off by default)
  --progress / --no-progress   progress on standard error (default: on when it is a terminal)
  --trace FILE          write a trace of the run (threads, stages, HTTP requests,
                        rate-limit pauses) as Chrome Trace Event JSON; open it
                        at https://ui.perfetto.dev. Written atomically at the end
  --timeout DURATION    deadline for the whole run (e.g. 90, 90s, 10m, 2h); then
                        unfinished repositories report status 0 "timeout" (exit 1)
  --max-wait DURATION   longest rate-limit wait taken (default 15m); a longer one
                        fails the affected repositories instead
  --max-body SIZE       bytes per response after decompression (default 64M;
                        suffixes K, M, G); an over-limit page fails its repository
  --max-pages N         pages per endpoint and repository (default 10000)
  -h, --help            this text

The token comes from GITHUB_TOKEN, else GH_TOKEN (never printed); one with
whitespace or control characters is refused.
SIGQUIT (Ctrl-\) prints a picture of the running pipeline on standard error
and goes on; so does a stall of 30 s without progress.
SIGINT/SIGTERM stop the run within about a second: finished repositories are
reported, the others get status 0 "cancelled"; exit 130/143. A second signal
exits at once without output.
exit status: 0 every repository succeeded, 1 some failed (the others are still
reported), 2 usage error, 130/143 interrupted.
)";
}

std::variant<cli_options, usage_error> parse_command_line(const std::vector<std::string>& args) {
  cli_options opt;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.starts_with("--") && arg.find('=') != std::string::npos) {
      inline_value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    const std::string shown_arg = escape_for_display(arg);
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    auto takes_value = [&](std::string& target) -> std::optional<usage_error> {
      auto v = value();
      if (!v || v->empty()) return usage_error{shown_arg + " needs a value"};
      target = *v;
      return std::nullopt;
    };
    std::string text;
    if (arg == "-h" || arg == "--help") {
      opt.help = true;
    } else if (arg == "--progress" || arg == "--no-progress") {
      if (inline_value) return usage_error{arg + " takes no value"};
      opt.progress = arg == "--progress";
    } else if (arg == "--trace") {
      if (auto e = takes_value(text)) return *e;
      opt.trace = text;
    } else if (arg == "--repos-file") {
      if (auto e = takes_value(text)) return *e;
      files.push_back(text);
    } else if (arg == "--api-url") {
      if (auto e = takes_value(text)) return *e;
      if (auto problem = api_url_problem(text)) {
        // A URL with userinfo may carry a password: name the rule, not the URL.
        const bool secret = text.find('@') != std::string::npos;
        return usage_error{"--api-url " + (secret ? std::string() : quoted(text) + " ") + *problem};
      }
      opt.api_url = text;
    } else if (arg == "--concurrency") {
      if (auto e = takes_value(text)) return *e;
      auto n = parse_scaled(text, 1, 1000, {});
      if (!n) return usage_error{"--concurrency must be a whole number from 1 to 1000 (got " + quoted(text) + ")"};
      opt.concurrency = static_cast<std::size_t>(*n);
    } else if (arg == "--format") {
      if (auto e = takes_value(text)) return *e;
      auto f = github::parse_output_format(text);
      if (!f) return usage_error{"--format must be jsonl, csv or table (got " + quoted(text) + ")"};
      opt.format = *f;
    } else if (arg == "--out") {
      if (auto e = takes_value(text)) return *e;
      opt.out = text;
    } else if (arg == "--cache-dir") {
      if (auto e = takes_value(text)) return *e;
      opt.cache_dir = text;
    } else if (arg == "--timeout" || arg == "--max-wait") {
      if (auto e = takes_value(text)) return *e;
      auto d = parse_duration(text, arg == "--timeout" ? 1 : 0);
      if (!d)
        return usage_error{arg + " must be a duration such as 90, 90s, 10m or 2h, at most a week (got " + quoted(text) +
                           ")"};
      if (arg == "--timeout") {
        opt.timeout = *d;
      } else {
        opt.max_wait = *d;
      }
    } else if (arg == "--max-body") {
      if (auto e = takes_value(text)) return *e;
      auto n = parse_scaled(text, 1024, std::uint64_t{1} << 40, {{"K", 1u << 10}, {"M", 1u << 20}, {"G", 1u << 30}});
      if (!n) return usage_error{"--max-body must be a size from 1K to 1024G such as 64M (got " + quoted(text) + ")"};
      opt.max_body = static_cast<std::size_t>(*n);
    } else if (arg == "--max-pages") {
      if (auto e = takes_value(text)) return *e;
      auto n = parse_scaled(text, 1, 100'000'000, {});
      if (!n) return usage_error{"--max-pages must be a whole number from 1 to 100000000 (got " + quoted(text) + ")"};
      opt.max_pages = static_cast<std::size_t>(*n);
    } else if (arg.starts_with("-") && arg != "-") {
      return usage_error{"unknown option " + shown_arg};
    } else {
      auto name = github::repo_name::parse(arg);
      if (!name) return usage_error{name.error()};
      opt.repos.push_back(arg);
    }
  }
  if (opt.help) return opt;
  for (const auto& f : files)
    if (auto e = read_repos_file(f, opt.repos)) return *e;
  // Drop repeated names, keeping the first occurrence.
  std::set<std::string> seen;
  std::erase_if(opt.repos, [&](const std::string& r) { return !seen.insert(r).second; });
  if (opt.repos.empty()) return usage_error{"no repositories given (OWNER/REPO arguments or --repos-file)"};
  return opt;
}

}  // namespace sluice::repo_fetcher
