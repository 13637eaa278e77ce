#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>

#include "sluice/github/fetcher.hpp"
#include "sluice/repo_fetcher/cli.hpp"

namespace sluice::repo_fetcher {
namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::optional<usage_error> read_repos_file(const std::string& path, std::vector<std::string>& repos) {
  std::ifstream in(path);
  if (!in) return usage_error{"cannot read --repos-file " + path};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = line;
    if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
    text = trim(text);
    if (text.empty()) continue;
    if (!github::split_repo_name(text))
      return usage_error{path + ":" + std::to_string(number) + ": \"" + std::string(text) + "\" is not OWNER/REPO"};
    repos.emplace_back(text);
  }
  return std::nullopt;
}

}  // namespace

std::string usage_text() {
  return R"(usage: repo-fetcher [options] OWNER/REPO...
       repo-fetcher --demo [options]

Fetches the issues and pull requests of GitHub repositories concurrently and
prints per-repository statistics.

options:
  --repos-file FILE     one OWNER/REPO per line; blank lines and # comments ignored
  --api-url URL         default https://api.github.com (Enterprise: https://HOST/api/v3)
  --concurrency N       requests in flight at most (default 32)
  --format jsonl|csv|table   default jsonl (table with --demo)
  --out FILE            default standard output
  --cache-dir DIR       ETag cache: unchanged pages cost no rate limit (off by default)
  --progress / --no-progress   progress on standard error (default: on when it is a terminal)
  --demo                offline demo: serve generated repositories from a built-in
                        fake GitHub server on 127.0.0.1 and fetch them (no network, no token)
  -h, --help            this text

The token comes from GITHUB_TOKEN, else GH_TOKEN (never printed).
exit status: 0 every repository succeeded, 1 some failed (the others are still
reported), 2 usage error.
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
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    auto takes_value = [&](std::string& target) -> std::optional<usage_error> {
      auto v = value();
      if (!v || v->empty()) return usage_error{arg + " needs a value"};
      target = *v;
      return std::nullopt;
    };
    std::string text;
    if (arg == "-h" || arg == "--help") {
      opt.help = true;
    } else if (arg == "--demo") {
      opt.demo = true;
    } else if (arg == "--progress" || arg == "--no-progress") {
      if (inline_value) return usage_error{arg + " takes no value"};
      opt.progress = arg == "--progress";
    } else if (arg == "--repos-file") {
      if (auto e = takes_value(text)) return *e;
      files.push_back(text);
    } else if (arg == "--api-url") {
      if (auto e = takes_value(text)) return *e;
      if (!text.starts_with("http://") && !text.starts_with("https://"))
        return usage_error{"--api-url must start with http:// or https:// (got \"" + text + "\")"};
      opt.api_url = text;
    } else if (arg == "--concurrency") {
      if (auto e = takes_value(text)) return *e;
      std::size_t n = 0;
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc{} || ptr != text.data() + text.size() || n < 1 || n > 1000)
        return usage_error{"--concurrency must be a whole number from 1 to 1000 (got \"" + text + "\")"};
      opt.concurrency = n;
    } else if (arg == "--format") {
      if (auto e = takes_value(text)) return *e;
      auto f = github::parse_output_format(text);
      if (!f) return usage_error{"--format must be jsonl, csv or table (got \"" + text + "\")"};
      opt.format = *f;
      opt.format_given = true;
    } else if (arg == "--out") {
      if (auto e = takes_value(text)) return *e;
      opt.out = text;
    } else if (arg == "--cache-dir") {
      if (auto e = takes_value(text)) return *e;
      opt.cache_dir = text;
    } else if (arg.starts_with("-") && arg != "-") {
      return usage_error{"unknown option " + arg};
    } else {
      if (!github::split_repo_name(arg))
        return usage_error{"\"" + arg + "\" is not OWNER/REPO (for example: octocat/hello-world)"};
      opt.repos.push_back(arg);
    }
  }
  if (opt.help) return opt;
  for (const auto& f : files)
    if (auto e = read_repos_file(f, opt.repos)) return *e;
  // Drop repeated names, keeping the first occurrence.
  std::set<std::string> seen;
  std::erase_if(opt.repos, [&](const std::string& r) { return !seen.insert(r).second; });
  if (opt.repos.empty() && !opt.demo)
    return usage_error{"no repositories given (OWNER/REPO arguments or --repos-file)"};
  return opt;
}

}  // namespace sluice::repo_fetcher
