#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include "sluice/core/runtime.hpp"
#include "sluice/fake_github/demo.hpp"
#include "sluice/fake_github/server.hpp"
#include "sluice/github/fetcher.hpp"
#include "sluice/http/client.hpp"
#include "sluice/repo_fetcher/cli.hpp"

namespace sluice::repo_fetcher {
namespace {

// Serialises everything written to the diagnostics stream; the progress
// line is redrawn in place and cleared before any other message.
class diagnostics {
 public:
  diagnostics(std::ostream& err, bool progress) : m_err(err), m_progress(progress) {}

  void notice(std::string_view text) {
    std::lock_guard lock(m_mutex);
    clear_line();
    m_err << "repo-fetcher: " << text << "\n";
    m_err.flush();
  }

  void progress(const github::fetch_progress& p) {
    if (!m_progress) return;
    std::lock_guard lock(m_mutex);
    const auto now = std::chrono::steady_clock::now();
    const bool finished = p.repos_done == p.repos_total;
    if (!finished && now - m_last < std::chrono::milliseconds(100)) return;
    m_last = now;
    char line[160];
    std::snprintf(line, sizeof line,
                  "\r\033[Krepo-fetcher: %zu/%zu repositories, %llu requests, %llu pages, %.1f MB JSON", p.repos_done,
                  p.repos_total, static_cast<unsigned long long>(p.requests), static_cast<unsigned long long>(p.pages),
                  static_cast<double>(p.json_bytes) / 1e6);
    m_err << line;
    m_err.flush();
    m_line_shown = true;
  }

  void finish() {
    std::lock_guard lock(m_mutex);
    clear_line();
  }

 private:
  void clear_line() {
    if (!m_line_shown) return;
    m_err << "\r\033[K";
    m_line_shown = false;
  }

  std::mutex m_mutex;
  std::ostream& m_err;
  bool m_progress;
  bool m_line_shown = false;
  std::chrono::steady_clock::time_point m_last{};
};

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool err_is_terminal) {
  auto parsed = parse_command_line(args);
  if (auto* e = std::get_if<usage_error>(&parsed)) {
    err << "repo-fetcher: " << e->message << "\n"
        << "Try 'repo-fetcher --help' for the options.\n";
    return exit_usage;
  }
  cli_options opt = std::get<cli_options>(std::move(parsed));
  if (opt.help) {
    out << usage_text();
    return exit_ok;
  }

  std::unique_ptr<fake_github::server> demo_server;
  std::optional<github::api_token> token = github::api_token::from_environment();
  if (opt.demo) {
    // The offline demo: a fake GitHub on loopback serving generated data.
    // A real token from the environment is not sent to it.
    demo_server =
        std::make_unique<fake_github::server>(fake_github::server_options{.repos = fake_github::demo_repos()});
    opt.api_url = demo_server->base_url();
    if (opt.repos.empty()) opt.repos = fake_github::demo_repo_names();
    if (!opt.format_given) opt.format = github::output_format::table;
    token.reset();
    const std::string banner = "OFFLINE DEMO: generated repositories served by the built-in fake GitHub at " +
                               opt.api_url + " (no network, no token; real runs use https://api.github.com)";
    if (opt.format == github::output_format::table && !opt.out) {
      out << banner << "\n\n";
    } else {
      err << "repo-fetcher: " << banner << "\n";
    }
  }

  std::ofstream file;
  if (opt.out) {
    file.open(*opt.out, std::ios::binary | std::ios::trunc);
    if (!file) {
      err << "repo-fetcher: cannot write --out " << *opt.out << "\n";
      return exit_usage;
    }
  }
  std::ostream& sink = opt.out ? static_cast<std::ostream&>(file) : out;

  diagnostics diag(err, opt.progress.value_or(err_is_terminal));
  std::vector<github::repo_report> reports;
  {
    runtime rt;
    http::client http(rt, {.max_connections_per_host = std::max<std::size_t>(opt.concurrency, 1),
                           .max_in_flight = opt.concurrency * 2,
                           .user_agent = "sluice-repo-fetcher/0.1"});
    github::fetch_options fo;
    fo.api_url = opt.api_url;
    fo.token = std::move(token);
    fo.concurrency = opt.concurrency;
    if (opt.cache_dir) fo.cache_dir = *opt.cache_dir;
    fo.notice = [&diag](std::string_view text) { diag.notice(text); };
    fo.on_progress = [&diag](const github::fetch_progress& p) { diag.progress(p); };
    github::fetcher fetcher(rt, http, std::move(fo));
    reports = rt.block_on(fetcher.fetch_all(opt.repos));
  }
  diag.finish();

  std::stable_sort(reports.begin(), reports.end(),
                   [](const github::repo_report& a, const github::repo_report& b) { return a.repo < b.repo; });
  github::write_reports(sink, opt.format, reports);
  sink.flush();
  if (!sink) {
    err << "repo-fetcher: writing the output failed\n";
    return exit_some_failed;
  }
  const auto failed = std::count_if(reports.begin(), reports.end(), [](const auto& r) { return !r.ok(); });
  if (failed > 0) {
    err << "repo-fetcher: " << failed << " of " << reports.size() << " repositories failed\n";
    return exit_some_failed;
  }
  return exit_ok;
}

}  // namespace sluice::repo_fetcher
