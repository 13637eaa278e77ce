// fake-github-server: serves generated GitHub repositories until SIGINT/SIGTERM.
// The first line on standard output is the base URL (flushed), so scripts can
// start it with --port 0 and read where it listens.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/fake_github/demo.hpp"
#include "sluice/fake_github/server.hpp"

namespace {

namespace fg = sluice::fake_github;

constexpr std::string_view k_usage = R"(usage: fake-github-server [options]

Serves deterministic fake GitHub repositories (issues and pull requests) on
127.0.0.1 until SIGINT or SIGTERM. Prints the base URL on the first line.

  --port N                 port to listen on (default 0: an ephemeral port)
  --host ADDR              address to bind (default 127.0.0.1)
  --prefix PATH            route prefix, e.g. /api/v3 (GitHub Enterprise style)
  --demo                   serve the demo data set (the default without --repos)
  --repos SPEC[,SPEC...]   serve these instead; SPEC is OWNER/NAME:ISSUES:PULLS[:SEED]
  --list-demo              print the demo's repository names (one a line) and exit
  --list-demo-failing      print the demo's failing repository names and exit
  --token T                accept only this token (others get 401)
  --require-token          requests without a token get 401
  --rate-limit N           primary budget per token per window (default 5000)
  --rate-limit-window S    budget window in seconds (default 3600)
  --pagination MODE        numbered | no-last | cursor, for every served repository
  --latency-ms N           added latency per request
  --fault-502-rate X       fraction of requests answered 502
  --malformed-rate X       fraction of list pages with broken JSON
  --secondary-concurrency N  secondary rate limit above N requests in flight
  --retry-after S          retry-after of secondary limit answers (default 1)
  --threads N              worker threads (default 256)
  --help                   this text
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "fake-github-server: " << message << "\n\n" << k_usage;
  std::exit(2);
}

long long to_int(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs an integer, got '" + text + "'");
}

double to_double(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && v >= 0.0 && v <= 1.0) return v;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs a number between 0 and 1, got '" + text + "'");
}

std::vector<fg::repo_spec> parse_repos(const std::string& text) {
  std::vector<fg::repo_spec> out;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream parts(item);
    std::string field;
    while (std::getline(parts, field, ':')) fields.push_back(field);
    const auto slash = fields.empty() ? std::string::npos : fields[0].find('/');
    if (fields.size() < 3 || fields.size() > 4 || slash == std::string::npos || slash == 0 ||
        slash + 1 == fields[0].size()) {
      usage_error("bad --repos entry '" + item + "' (want OWNER/NAME:ISSUES:PULLS[:SEED])");
    }
    fg::repo_spec spec;
    spec.owner = fields[0].substr(0, slash);
    spec.name = fields[0].substr(slash + 1);
    spec.issues = static_cast<int>(to_int("--repos", fields[1]));
    spec.pulls = static_cast<int>(to_int("--repos", fields[2]));
    spec.seed = fields.size() == 4 ? static_cast<std::uint64_t>(to_int("--repos", fields[3])) : out.size() + 1;
    out.push_back(spec);
  }
  if (out.empty()) usage_error("--repos lists no repository");
  return out;
}

extern "C" void on_stop_signal(int /*signal*/) {}  // never runs: the signals are blocked and sigwait()ed

}  // namespace

int main(int argc, char** argv) {
  fg::server_options options;
  std::optional<std::vector<fg::repo_spec>> repos;
  std::optional<fg::pagination_mode> pagination;

  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    const auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) usage_error(flag + " needs a value");
      return args[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << k_usage;
      return 0;
    } else if (flag == "--port") {
      options.port = static_cast<int>(to_int(flag, value()));
    } else if (flag == "--host") {
      options.host = value();
    } else if (flag == "--prefix") {
      options.path_prefix = value();
    } else if (flag == "--demo") {
      repos = fg::demo_repos();
    } else if (flag == "--repos") {
      repos = parse_repos(value());
    } else if (flag == "--list-demo" || flag == "--list-demo-failing") {
      for (const auto& name : flag == "--list-demo" ? fg::demo_repo_names() : fg::demo_failing_repo_names()) {
        std::cout << name << '\n';
      }
      return 0;
    } else if (flag == "--token") {
      options.token = value();
    } else if (flag == "--require-token") {
      options.require_token = true;
    } else if (flag == "--rate-limit") {
      options.rate_limit = static_cast<int>(to_int(flag, value()));
    } else if (flag == "--rate-limit-window") {
      options.rate_limit_window = std::chrono::seconds(to_int(flag, value()));
    } else if (flag == "--pagination") {
      const std::string& mode = value();
      if (mode == "numbered") {
        pagination = fg::pagination_mode::numbered;
      } else if (mode == "no-last") {
        pagination = fg::pagination_mode::numbered_no_last;
      } else if (mode == "cursor") {
        pagination = fg::pagination_mode::cursor;
      } else {
        usage_error("--pagination is numbered, no-last or cursor");
      }
    } else if (flag == "--latency-ms") {
      options.faults.latency = std::chrono::milliseconds(to_int(flag, value()));
    } else if (flag == "--fault-502-rate") {
      options.faults.error_502_rate = to_double(flag, value());
    } else if (flag == "--malformed-rate") {
      options.faults.malformed_rate = to_double(flag, value());
    } else if (flag == "--secondary-concurrency") {
      options.faults.secondary_limit_concurrency = static_cast<int>(to_int(flag, value()));
    } else if (flag == "--retry-after") {
      options.faults.secondary_retry_after_s = static_cast<int>(to_int(flag, value()));
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(to_int(flag, value()));
    } else {
      usage_error("unknown option " + flag);
    }
  }
  options.repos = repos ? std::move(*repos) : fg::demo_repos();
  if (pagination) {
    for (auto& spec : options.repos) spec.pagination = *pagination;
  }

  // A shell starts background jobs with SIGINT ignored, and an ignored signal
  // never reaches sigwait(): install a handler first so both signals are
  // deliverable. Then block them before any thread starts, so every thread
  // inherits the mask and only sigwait() below sees them.
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    fg::server srv(std::move(options));
    std::cout << srv.base_url() << std::endl;  // flushed: scripts wait for this line
    std::cerr << "fake-github-server: serving " << srv.repos().size() << " repositories on " << srv.base_url()
              << " (Ctrl-C to stop)\n";
    int received = 0;
    sigwait(&signals, &received);
    std::cerr << "fake-github-server: stopping after " << srv.stats().requests << " requests\n";
  } catch (const std::exception& e) {
    std::cerr << "fake-github-server: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
