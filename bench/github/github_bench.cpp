// GitHub connector benchmarks.
//
//  * GithubEndToEnd: 40 repositories x 300 items (200 issues + 100 pull
//    requests: 3 pages of /issues, 1 of /pulls) served by the fake GitHub at
//    50 ms injected latency. The server runs in a forked child process so the
//    CPU time and peak RSS measured here are the client's alone. Counters:
//      wall_over_ideal  wall time / latency-bound ideal for the request graph,
//                       max(depth, ceil(requests / concurrency)) x latency
//                       (depth 2: page 1, then pages 2..last fanned out);
//      cpu_ms_per_MB    process CPU (user+sys) per MB of JSON received;
//      maxrss_MB        peak resident set (getrusage);
//      server_cpu_ms_per_MB  the fake server's CPU (from /proc) for context:
//                       on a small machine the server, not the client, bounds
//                       the wall time. Arg 0 runs the same graph against a
//                       server without latency: the machine's throughput floor.
//  * GithubJsonDecode: sluice::github::parse_{issue,pull}_page over the same
//    pages versus a direct simdjson On-Demand loop reading the same fields
//    (no records built); counter sluice_over_direct is the throughput ratio.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "child_cpu.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/fake_github/generator.hpp"
#include "sluice/fake_github/server.hpp"
#include "sluice/github/fetcher.hpp"
#include "sluice/github/page_parser.hpp"
#include "sluice/http/client.hpp"

namespace fg = sluice::fake_github;
namespace gh = sluice::github;

namespace {

constexpr int k_repos = 40;
constexpr int k_issues = 200;
constexpr int k_pulls = 100;
constexpr auto k_latency = std::chrono::milliseconds(50);
constexpr std::size_t k_concurrency = 64;

std::vector<fg::repo_spec> bench_repos() {
  std::vector<fg::repo_spec> specs;
  for (int i = 0; i < k_repos; ++i)
    specs.push_back({.owner = "bench",
                     .name = "repo" + std::to_string(i),
                     .issues = k_issues,
                     .pulls = k_pulls,
                     .seed = static_cast<std::uint64_t>(i + 1)});
  return specs;
}

std::vector<std::string> bench_names() {
  std::vector<std::string> names;
  for (const auto& s : bench_repos()) names.push_back(s.full_name());
  return names;
}

// Base URLs of the forked servers: [0] with k_latency, [1] without latency
// (the throughput floor of this machine for the same bytes).
std::string g_server_url[2];
pid_t g_server_pid[2] = {-1, -1};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double maxrss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

void GithubEndToEnd(benchmark::State& state) {
  const bool with_latency = state.range(0) != 0;
  const std::string& url = g_server_url[with_latency ? 0 : 1];
  const pid_t server = g_server_pid[with_latency ? 0 : 1];
  double wall_total = 0, ideal_total = 0, cpu_total = 0, mb_total = 0, server_cpu_total = 0;
  std::uint64_t requests = 0;
  for (auto _ : state) {
    sluice::runtime rt;
    // Identity encoding: on loopback gzip only burns CPU on both sides.
    sluice::http::client http(
        rt,
        {.max_connections_per_host = k_concurrency, .max_in_flight = k_concurrency * 2, .send_accept_encoding = false});
    gh::fetcher fetcher(rt, http, {.api_url = url, .concurrency = k_concurrency, .notice = [](std::string_view) {}});
    const double cpu0 = cpu_seconds();
    const double server_cpu0 = sluice_bench::child_cpu_seconds(server);
    const auto t0 = std::chrono::steady_clock::now();
    auto reports = rt.block_on(fetcher.fetch_all(bench_names()));
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    server_cpu_total += sluice_bench::child_cpu_seconds(server) - server_cpu0;
    for (const auto& r : reports)
      if (!r.ok()) state.SkipWithError(("repository failed: " + r.failure->message).c_str());
    const auto stats = fetcher.stats();
    const double rounds = std::max(2.0, std::ceil(static_cast<double>(stats.requests) / k_concurrency));
    wall_total += wall;
    ideal_total += rounds * std::chrono::duration<double>(k_latency).count();
    cpu_total += cpu;
    mb_total += static_cast<double>(stats.json_bytes) / 1e6;
    requests = stats.requests;
    state.SetIterationTime(wall);
  }
  if (with_latency) state.counters["wall_over_ideal"] = wall_total / ideal_total;
  state.counters["cpu_ms_per_MB"] = 1000.0 * cpu_total / mb_total;
  state.counters["server_cpu_ms_per_MB"] = 1000.0 * server_cpu_total / mb_total;
  state.counters["json_MB"] = mb_total / static_cast<double>(state.iterations());
  state.counters["requests"] = static_cast<double>(requests);
  state.counters["maxrss_MB"] = maxrss_mb();
}
// Arg 1: the 50 ms latency server; arg 0: the same data without latency.
BENCHMARK(GithubEndToEnd)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(5);

// The pages a fetch receives, rendered by the generator: /issues pages of
// 100 items (issues and pull requests) and /pulls pages.
struct page_set {
  std::vector<std::string> issue_pages;
  std::vector<std::string> pull_pages;
  std::size_t bytes = 0;
};

const page_set& pages() {
  static const page_set set = [] {
    page_set s;
    for (const auto& spec : bench_repos()) {
      const fg::generated_repo repo = fg::generate(spec);
      std::string page(1, '[');
      int n = 0;
      auto flush = [&](std::vector<std::string>& out) {
        if (n == 0) return;
        page.push_back(']');
        s.bytes += page.size();
        out.push_back(std::move(page));
        page.clear();
        page.push_back('[');
        n = 0;
      };
      for (auto it = repo.items.rbegin(); it != repo.items.rend(); ++it) {
        if (n) page.push_back(',');
        page += fg::render_issue(repo, *it);
        if (++n == 100) flush(s.issue_pages);
      }
      flush(s.issue_pages);
      for (auto it = repo.items.rbegin(); it != repo.items.rend(); ++it) {
        if (!it->is_pull) continue;
        if (n) page.push_back(',');
        page += fg::render_pull(repo, *it);
        if (++n == 100) flush(s.pull_pages);
      }
      flush(s.pull_pages);
    }
    return s;
  }();
  return set;
}

// The baseline: a hand-written On-Demand loop touching the same fields the
// connector reads, accumulating into plain counters (no records, no strings).
std::uint64_t direct_issue_loop(simdjson::ondemand::parser& parser, const simdjson::padded_string& json) {
  std::uint64_t acc = 0;
  auto doc = parser.iterate(json);
  for (simdjson::ondemand::object item : doc.get_array()) {
    for (simdjson::ondemand::field field : item) {
      const auto key = field.key();
      if (key == "number")
        acc += static_cast<std::uint64_t>(int64_t(field.value().get_int64()));
      else if (key == "state")
        acc += std::string_view(field.value().get_string()).size();
      else if (key == "user") {
        for (simdjson::ondemand::field uf : field.value().get_object())
          if (uf.key() == "login") {
            acc += std::string_view(uf.value().get_string()).size();
            break;
          }
      } else if (key == "labels") {
        for (simdjson::ondemand::object label : field.value().get_array())
          for (simdjson::ondemand::field lf : label)
            if (lf.key() == "name") {
              acc += std::string_view(lf.value().get_string()).size();
              break;
            }
      } else if (key == "comments")
        acc += static_cast<std::uint64_t>(int64_t(field.value().get_int64()));
      else if (key == "created_at" || key == "closed_at") {
        simdjson::ondemand::value v = field.value();
        if (!v.is_null()) acc += std::string_view(v.get_string()).size();
      } else if (key == "pull_request")
        acc += 1;
    }
  }
  return acc;
}

std::uint64_t direct_pull_loop(simdjson::ondemand::parser& parser, const simdjson::padded_string& json) {
  std::uint64_t acc = 0;
  auto doc = parser.iterate(json);
  for (simdjson::ondemand::object item : doc.get_array()) {
    for (simdjson::ondemand::field field : item) {
      const auto key = field.key();
      if (key == "number")
        acc += static_cast<std::uint64_t>(int64_t(field.value().get_int64()));
      else if (key == "state")
        acc += std::string_view(field.value().get_string()).size();
      else if (key == "user") {
        for (simdjson::ondemand::field uf : field.value().get_object())
          if (uf.key() == "login") {
            acc += std::string_view(uf.value().get_string()).size();
            break;
          }
      } else if (key == "created_at" || key == "closed_at" || key == "merged_at") {
        simdjson::ondemand::value v = field.value();
        if (!v.is_null()) acc += std::string_view(v.get_string()).size();
      } else if (key == "draft")
        acc += bool(field.value().get_bool());
    }
  }
  return acc;
}

void GithubJsonDecode(benchmark::State& state) {
  const page_set& set = pages();
  std::vector<simdjson::padded_string> padded_issues, padded_pulls;
  for (const auto& p : set.issue_pages) padded_issues.emplace_back(p);
  for (const auto& p : set.pull_pages) padded_pulls.emplace_back(p);
  std::vector<std::string> issue_copies = set.issue_pages, pull_copies = set.pull_pages;
  simdjson::ondemand::parser parser;
  double sluice_s = 0, direct_s = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    std::size_t records = 0;
    for (auto& p : issue_copies) records += gh::parse_issue_page(p)->size();
    for (auto& p : pull_copies) records += gh::parse_pull_page(p)->size();
    benchmark::DoNotOptimize(records);
    auto t1 = std::chrono::steady_clock::now();
    std::uint64_t acc = 0;
    for (const auto& p : padded_issues) acc += direct_issue_loop(parser, p);
    for (const auto& p : padded_pulls) acc += direct_pull_loop(parser, p);
    benchmark::DoNotOptimize(acc);
    auto t2 = std::chrono::steady_clock::now();
    sluice_s += std::chrono::duration<double>(t1 - t0).count();
    direct_s += std::chrono::duration<double>(t2 - t1).count();
  }
  const double mb = static_cast<double>(set.bytes) * static_cast<double>(state.iterations()) / 1e6;
  state.counters["sluice_MB_per_s"] = mb / sluice_s;
  state.counters["direct_MB_per_s"] = mb / direct_s;
  state.counters["sluice_over_direct"] = direct_s / sluice_s;
  state.counters["page_MB"] = static_cast<double>(set.bytes) / 1e6;
}
BENCHMARK(GithubJsonDecode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Forks the fake server before any thread exists; returns its base URL.
std::string start_server_process(std::chrono::milliseconds latency, pid_t& child) {
  int ready[2], hold[2];
  if (pipe(ready) != 0 || pipe(hold) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    close(hold[1]);
    fg::server_options options{.repos = bench_repos()};
    options.faults.latency = latency;
    options.rate_limit = 1'000'000;
    fg::server srv(std::move(options));
    srv.render_all();  // a real API has its data ready: keep rendering out of the first round
    const std::string url = srv.base_url() + "\n";
    if (write(ready[1], url.data(), url.size()) < 0) _exit(1);
    char c;
    while (read(hold[0], &c, 1) > 0) {
    }
    srv.stop();
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);  // the child exits when this process (and so hold[1]) goes away
  child = pid;
  std::string url;
  char c;
  while (read(ready[0], &c, 1) == 1 && c != '\n') url += c;
  close(ready[0]);
  return url;
}

}  // namespace

int main(int argc, char** argv) {
  g_server_url[0] = start_server_process(k_latency, g_server_pid[0]);
  g_server_url[1] = start_server_process(std::chrono::milliseconds(0), g_server_pid[1]);
  if (g_server_url[0].empty() || g_server_url[1].empty()) {
    std::fprintf(stderr, "could not start the fake GitHub server\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (pid_t pid : g_server_pid) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  return 0;
}
