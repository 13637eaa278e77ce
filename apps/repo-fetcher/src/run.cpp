#include <sluice/stages/async_map.hpp>
#include <sluice/stages/for_each.hpp>
#include <sluice/stages/run.hpp>
#include <sluice/stages/run_options.hpp>
#include <sluice/stages/source.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "sluice/core/runtime.hpp"
#include "sluice/core/signals.hpp"
#include "sluice/core/status_display.hpp"
#include "sluice/core/trace.hpp"
#include "sluice/files/atomic_file.hpp"
#include "sluice/github/display_text.hpp"
#include "sluice/github/etag_cache.hpp"
#include "sluice/github/fetcher.hpp"
#include "sluice/http/client.hpp"
#include "sluice/http/redact.hpp"
#include "sluice/repo_fetcher/cli.hpp"

namespace sluice::repo_fetcher {
namespace {

using github::escape_for_display;

// A message with every secret taken out: the token wherever it appears (a
// server may reflect it) and the userinfo of any URL, including URLs the
// server chose (Link, Location).
std::string redact(std::string_view text, const std::optional<github::api_token>& token) {
  std::string clean = http::redact_userinfo(text);
  return token ? token->redact(std::move(clean)) : clean;
}

// After a stop request (signal or --timeout), how long the fetch gets to wind
// down through the stop token before the finished rows are written anyway
// and the process ends without waiting for it (the "stop within 1 s" promise
// holds even if some wait does not observe the token).
constexpr auto k_stop_grace = std::chrono::milliseconds(700);

// Everything written to the diagnostics stream goes through one
// status_display: on a terminal the progress block is redrawn in place and
// notices appear above it; elsewhere a compact progress line is written once
// per interval. Every message is redacted (the token, URL userinfo) and
// escaped by the display (control characters from the network never reach
// the terminal).
class diagnostics {
 public:
  diagnostics(std::ostream& err, bool progress, bool terminal, const std::optional<github::api_token>& token,
              std::size_t total)
      : m_display(err, terminal), m_progress(progress), m_token(token), m_total(total) {}

  // How often the pipeline's progress callback redraws.
  [[nodiscard]] std::chrono::milliseconds interval() const {
    return m_display.terminal() ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1000);
  }
  [[nodiscard]] bool enabled() const { return m_progress; }

  void notice(std::string_view text) { m_display.message("repo-fetcher: " + redact(text, m_token)); }

  // From the fetcher: counters changed. On a terminal a finished repository
  // is shown at once (a user or a script reading the count never sees a stale
  // one), other changes at most 10 times a second; elsewhere only the
  // interval writes a line.
  void fetch_progress(const github::fetch_progress& p) {
    if (!m_progress) return;
    std::unique_lock lock(m_mutex);
    const bool repo_finished = p.repos_done != m_fetch.repos_done;
    m_fetch = p;
    if (!m_display.terminal()) return;
    const auto now = std::chrono::steady_clock::now();
    if (!repo_finished && now - m_last < std::chrono::milliseconds(100)) return;
    draw(lock);
  }

  // From the pipeline, every interval: repositories in flight and the rate.
  void pipeline_progress(const progress_snapshot& s) {
    std::unique_lock lock(m_mutex);
    if (s.stages.size() >= 2) {
      m_in_flight = s.stages[1].in_flight;
      // Over the whole run: repositories take seconds each, so a rate over
      // one interval would flicker between 0 and a burst.
      const double seconds = std::chrono::duration<double>(s.elapsed).count();
      m_rate = seconds > 0 ? static_cast<double>(s.stages[1].items_out) / seconds : 0;
    }
    if (!s.final) draw(lock);
  }

  // A pipeline dump (SIGQUIT, stall watchdog): multi-line text whose names
  // are already escaped (JSON strings); each line goes above the progress
  // block, all of them under the lock so no redraw splits the dump.
  void dump(std::string_view text) {
    std::string clean = redact(text, m_token);
    std::lock_guard lock(m_mutex);
    std::string_view rest = clean;
    while (!rest.empty()) {
      const std::size_t end = rest.find('\n');
      m_display.message(rest.substr(0, end));
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }

  void finish() { m_display.clear(); }

 private:
  void draw(std::unique_lock<std::mutex>& lock) {
    m_last = std::chrono::steady_clock::now();
    const auto& p = m_fetch;
    char line[200];
    std::snprintf(
        line, sizeof line,
        "repo-fetcher: %zu/%zu repositories (%llu in flight, %.1f/s), %llu requests, %llu pages, %.1f MB JSON",
        p.repos_done, m_total, static_cast<unsigned long long>(m_in_flight), m_rate,
        static_cast<unsigned long long>(p.requests), static_cast<unsigned long long>(p.pages),
        static_cast<double>(p.json_bytes) / 1e6);
    std::vector<std::string> lines{line};
    std::string limit = "rate limit: ";
    if (p.rate_limit_remaining >= 0) {
      limit += std::to_string(p.rate_limit_remaining);
      if (p.rate_limit >= 0) limit += " of " + std::to_string(p.rate_limit);
      limit += " requests left";
    } else {
      limit += "not stated yet";
    }
    // A rate-limit pause counts down (the fetcher reports once a second).
    if (p.wait_remaining.count() > 0)
      limit += "; waiting " + std::to_string(p.wait_remaining.count()) + " s until " + p.wait_until;
    lines.push_back(std::move(limit));
    lock.unlock();  // the display has its own lock; drawing outside ours keeps the fetcher's threads moving
    m_display.show(lines);
  }

  status_display m_display;
  bool m_progress;
  const std::optional<github::api_token>& m_token;
  std::size_t m_total;
  std::mutex m_mutex;  // guards the fields below
  github::fetch_progress m_fetch{};
  std::uint64_t m_in_flight = 0;
  double m_rate = 0;
  std::chrono::steady_clock::time_point m_last{};
};

// Reports by input index, filled as repositories finish (from runtime
// threads), read by the main thread, which may stop waiting early.
class result_board {
 public:
  explicit result_board(std::size_t n) : m_reports(n) {}

  void store(std::size_t index, github::repo_report report) {
    {
      std::lock_guard lock(m_mutex);
      m_reports[index] = std::move(report);
    }
    m_changed.notify_all();
  }
  void finish() {
    {
      std::lock_guard lock(m_mutex);
      m_finished = true;
    }
    m_changed.notify_all();
  }
  void stop(std::string reason) {
    {
      std::lock_guard lock(m_mutex);
      if (!m_stop_reason) m_stop_reason = std::move(reason);
    }
    m_changed.notify_all();
  }

  // Waits until the fetch finished, a stop was requested, or `deadline`.
  void wait_for_finish_or_stop(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(m_mutex);
    auto ready = [&] { return m_finished || m_stop_reason.has_value(); };
    if (deadline) {
      m_changed.wait_until(lock, *deadline, ready);
    } else {
      m_changed.wait(lock, ready);
    }
  }
  // Waits until the fetch finished or `deadline`; true when it finished.
  bool wait_for_finish(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_until(lock, deadline, [&] { return m_finished; });
  }

  std::optional<std::string> stop_reason() const {
    std::lock_guard lock(m_mutex);
    return m_stop_reason;
  }

  // Every repository's row: its report, or an error row (status 0, the stop
  // reason) for one that did not finish. A report the fetcher ended as
  // "cancelled" carries the reason too (a --timeout says "timeout").
  std::vector<github::repo_report> rows(const std::vector<std::string>& names) const {
    std::lock_guard lock(m_mutex);
    const std::string reason = m_stop_reason.value_or("cancelled");
    std::vector<github::repo_report> out;
    out.reserve(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (m_reports[i]) {
        out.push_back(*m_reports[i]);
        auto& f = out.back().failure;
        if (m_stop_reason && f && f->status == 0 && f->message == "cancelled") f->message = reason;
      } else {
        out.push_back({.repo = names[i], .stats = {}, .failure = github::error{0, reason}});
      }
    }
    return out;
  }

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<std::optional<github::repo_report>> m_reports;
  std::optional<std::string> m_stop_reason;
  bool m_finished = false;
};

// Fetches every repository (at most `concurrency` at once), storing each
// report on the board as it finishes; stops starting new ones on `stop`.
task<void> fetch_into(runtime& rt, github::fetcher& fetcher, const std::vector<std::string>& names,
                      std::size_t concurrency, result_board& board, diagnostics& diag, run_options options,
                      std::stop_token stop) {
  std::vector<std::size_t> indices(names.size());
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  auto fetch_one = [&fetcher, &names, &board](std::size_t i) -> task<std::size_t> {
    github::repo_report report = co_await fetcher.fetch_repo(names[i]);
    board.store(i, std::move(report));
    co_return i;
  };
  auto pipeline = sluice::from(std::move(indices)) |
                  sluice::async_map(fetch_one, {.name = "fetch repository", .concurrency = concurrency}) |
                  sluice::for_each([](std::size_t) {});
  options.stop = std::move(stop);
  if (diag.enabled())
    options.on_progress(diag.interval(), [&diag](const progress_snapshot& s) { diag.pipeline_progress(s); });
  auto running = sluice::run_async(rt, std::move(pipeline), std::move(options));  // named: g++ 12
  co_await std::move(running);
}

void redact_reports(std::vector<github::repo_report>& reports, const std::optional<github::api_token>& token) {
  for (auto& r : reports)
    if (r.failure) r.failure->message = redact(r.failure->message, token);
}

int usage(std::ostream& err, std::string_view message) {
  err << "repo-fetcher: " << message << "\n"
      << "Try 'repo-fetcher --help' for the options.\n";
  return exit_usage;
}

// Writes `text` to standard output; a closed pipe (EPIPE: `repo-fetcher |
// head`) is a quiet exit with the shell's status for SIGPIPE.
std::optional<int> write_stdout(std::ostream& out, std::ostream& err, const std::string& text) {
  errno = 0;
  out << text;
  out.flush();
  if (out) return std::nullopt;
  if (errno == EPIPE) return 128 + SIGPIPE;
  err << "repo-fetcher: writing the output failed\n";
  return exit_some_failed;
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool err_is_terminal) {
  auto parsed = parse_command_line(args);
  if (auto* e = std::get_if<usage_error>(&parsed)) return usage(err, e->message);
  cli_options opt = std::get<cli_options>(std::move(parsed));
  if (opt.help) {
    out << usage_text();
    return exit_ok;
  }

  auto token_read = github::api_token::from_environment_checked();
  if (!token_read) return usage(err, token_read.error());
  const std::optional<github::api_token> token = std::move(token_read).value();

  if (opt.cache_dir) {
    if (auto problem = github::etag_cache::directory_problem(*opt.cache_dir))
      return usage(err, "--cache-dir \"" + escape_for_display(*opt.cache_dir) + "\" " + *problem);
  }
  // The temporary beside --out is created now, so an unwritable directory is
  // reported before any request; the target itself is replaced only at commit.
  std::optional<files::atomic_file> out_file;
  if (opt.out) {
    try {
      out_file.emplace(*opt.out);
    } catch (const std::exception& e) {
      return usage(err, "cannot write --out: " + escape_for_display(e.what()));
    }
  }

  // Recording starts now, so an unwritable --trace is reported before any request.
  std::optional<trace_session> trace;
  if (opt.trace) {
    try {
      trace.emplace(*opt.trace);
    } catch (const std::exception& e) {
      return usage(err, "cannot write --trace: " + escape_for_display(e.what()));
    }
  }

  diagnostics diag(err, opt.progress.value_or(err_is_terminal), err_is_terminal, token, opt.repos.size());
  result_board board(opt.repos.size());
  auto rt = std::make_unique<runtime>();
  // SIGQUIT prints the pipeline's picture (as a stall does) and goes on.
  run_monitor monitor;
  auto signals = std::make_unique<signal_stop>(
      *rt, std::initializer_list<int>{SIGINT, SIGTERM},
      signal_notify{.signals = {SIGQUIT}, .on_notify = [&](int) { diag.dump(monitor.dump()); }});
  std::stop_source stop;
  std::stop_callback on_signal(signals->token(), [&] {
    board.stop("cancelled");
    stop.request_stop();
  });
  auto http = std::make_unique<http::client>(*rt, http::client_options{.max_connections_per_host = opt.concurrency,
                                                                       .max_in_flight = opt.concurrency * 2,
                                                                       .user_agent = "sluice-repo-fetcher/0.1"});
  github::fetch_options fo;
  fo.api_url = opt.api_url;
  fo.token = token;
  fo.concurrency = opt.concurrency;
  if (opt.cache_dir) fo.cache_dir = *opt.cache_dir;
  fo.notice = [&diag](std::string_view text) { diag.notice(text); };
  fo.on_progress = [&diag](const github::fetch_progress& p) { diag.fetch_progress(p); };
  fo.stop = stop.get_token();
  fo.max_wait = opt.max_wait;
  fo.max_body_bytes = opt.max_body;
  fo.max_pages = opt.max_pages;
  auto fetcher = std::make_unique<github::fetcher>(*rt, *http, std::move(fo));

  // The fetch runs on its own thread so this one can keep the promises
  // about stopping: it waits for completion, a signal or the deadline.
  std::exception_ptr fetch_error;
  std::thread worker([&] {
    try {
      run_options observe{.on_stall = [&diag](std::string_view d) { diag.dump(d); }, .monitor = &monitor};
      rt->block_on(
          fetch_into(*rt, *fetcher, opt.repos, opt.concurrency, board, diag, std::move(observe), stop.get_token()));
    } catch (...) {
      fetch_error = std::current_exception();
    }
    board.finish();
  });
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (opt.timeout) deadline = std::chrono::steady_clock::now() + *opt.timeout;
  board.wait_for_finish_or_stop(deadline);
  if (!board.wait_for_finish(std::chrono::steady_clock::now())) {
    if (!board.stop_reason()) board.stop("timeout");  // the deadline passed
    stop.request_stop();
  }
  const bool finished = board.wait_for_finish(std::chrono::steady_clock::now() + k_stop_grace);
  diag.finish();
  bool trace_failed = false;
  if (trace) {
    try {
      trace->finish();  // also when some request overstayed the grace period: what it did so far
    } catch (const std::exception& e) {
      err << "repo-fetcher: " << escape_for_display(e.what()) << "\n";
      trace_failed = true;
    }
  }
  if (finished) worker.join();
  if (fetch_error) std::rethrow_exception(fetch_error);

  std::vector<github::repo_report> reports = board.rows(opt.repos);
  redact_reports(reports, token);
  std::stable_sort(reports.begin(), reports.end(),
                   [](const github::repo_report& a, const github::repo_report& b) { return a.repo < b.repo; });
  std::ostringstream text;
  github::write_reports(text, opt.format, reports);

  const auto failed = std::count_if(reports.begin(), reports.end(), [](const auto& r) { return !r.ok(); });
  const int fired = signals->signal();
  int status = fired != 0 ? 128 + fired : (failed > 0 || trace_failed) ? exit_some_failed : exit_ok;
  if (out_file) {
    try {
      out_file->write(text.str());
      out_file->commit();
    } catch (const std::exception& e) {
      err << "repo-fetcher: " << escape_for_display(e.what()) << "\n";
      status = exit_some_failed;
    }
  } else if (auto quiet = write_stdout(out, err, text.str())) {
    status = *quiet;
  }
  if (status != exit_ok && status != 128 + SIGPIPE) {
    if (const auto reason = board.stop_reason()) {
      err << "repo-fetcher: " << reason.value() << "; " << (reports.size() - static_cast<std::size_t>(failed)) << " of "
          << reports.size() << " repositories finished\n";
    } else {
      err << "repo-fetcher: " << failed << " of " << reports.size() << " repositories failed\n";
    }
  }
  if (!finished) {
    // Some request ignored the stop token past the grace period: the rows
    // are written; end now rather than wait for it (nothing left to lose).
    err.flush();
    out.flush();
    std::_Exit(status);
  }
  fetcher.reset();
  http.reset();
  signals.reset();
  rt.reset();
  return status;
}

}  // namespace sluice::repo_fetcher
