// An access log in, the busiest paths and the status counts out.
//
//   example_log_analytics access.log [top-n]
//
// Without an argument it analyses a small generated sample. The log is read
// through files::lines (io_uring, no allocation per line); one parallel fold
// keeps per-worker counts of statuses and paths, merged at the end; top_k
// then picks the busiest paths from the merged counts.
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace files = sluice::files;

struct request {
  std::string_view path;
  std::string_view status;
};

// Common Log Format: 1.2.3.4 - - [date] "GET /path HTTP/1.1" 200 512
std::optional<request> parse(std::string_view line) {
  const auto open = line.find('"');
  const auto close = line.find('"', open + 1);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
  const std::string_view req = line.substr(open + 1, close - open - 1);
  const auto sp1 = req.find(' ');
  const auto sp2 = req.find(' ', sp1 + 1);
  std::string_view rest = line.substr(close + 1);
  rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
  if (sp1 == std::string_view::npos || rest.size() < 3) return std::nullopt;
  return request{req.substr(sp1 + 1, sp2 - sp1 - 1), rest.substr(0, 3)};
}

struct traffic {
  sluice::key_map<std::string, std::size_t> by_status, by_path;
  std::size_t malformed = 0;
};

void count(sluice::key_map<std::string, std::size_t>& m, std::string_view key, std::size_t n = 1) {
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(std::string(key), 0).first;
  it->second += n;
}

std::filesystem::path sample_log() {
  auto path = std::filesystem::temp_directory_path() / "sluice-sample-access.log";
  const char* paths[] = {"/", "/index.html", "/api/items", "/login", "/api/items/7", "/static/app.js"};
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path.string());
  for (int i = 0; i < 100'000; ++i)
    std::fprintf(f, "10.0.0.%d - - [30/Nov/2026:15:00:00 +0000] \"GET %s HTTP/1.1\" %d %d\n", i % 256,
                 paths[(i % 97) % 6], i % 17 == 0 ? 404 : 200, i % 5000);
  std::fclose(f);
  return path;
}

int main(int argc, char** argv) try {
  const std::filesystem::path log = argc > 1 ? std::filesystem::path(argv[1]) : sample_log();
  const std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 5;
  sluice::runtime rt;

  // ---- the pipeline ----
  traffic totals;
  auto report = sluice::run(rt, files::lines(log) | sluice::fold(
                                                        totals,
                                                        [](traffic& t, const files::line& l) {
                                                          auto r = parse(l);
                                                          if (!r) return void(++t.malformed);
                                                          count(t.by_status, r->status);
                                                          count(t.by_path, r->path);
                                                        },
                                                        [](traffic& t, traffic&& other) {
                                                          for (auto& [k, v] : other.by_status) count(t.by_status, k, v);
                                                          for (auto& [k, v] : other.by_path) count(t.by_path, k, v);
                                                          t.malformed += other.malformed;
                                                        }));
  std::vector<std::pair<std::string, std::size_t>> top;
  sluice::run(rt, sluice::from(totals.by_path) | sluice::top_k(top, n, [](const auto& kv) { return kv.second; }));
  // ---- end of the pipeline ----

  std::cout << "top " << n << " paths:\n";
  for (const auto& [path, hits] : top) std::cout << "  " << hits << "  " << path << "\n";
  std::cout << "statuses:\n";
  for (const auto& [status, hits] : totals.by_status) std::cout << "  " << status << ": " << hits << "\n";
  std::cout << "malformed lines: " << totals.malformed << "\n\n" << report.describe();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "log_analytics: " << e.what() << "\n";
  return 1;
}
