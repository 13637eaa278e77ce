// files::lines(path) against the hand-written anchor, in one binary: a
// read(2) + memchr loop producing std::string_views over a file that sits in
// the page cache. The file (a synthetic access log, ~100-byte lines) is
// SLUICE_BENCH_FILE_MB megabytes (default 1024), written once to
// $TMPDIR (or /tmp) and removed at exit. Every contender counts lines and
// sums their lengths, and the results must agree.
//
// Contenders, all in the same iteration:
//   anchor       read(2) 256 KiB at a time + memchr, string_views, one thread
//   io_uring     files::lines(path) | for_each, io_uring backend
//   pool         files::lines(path) | for_each, pread on the blocking pool
//   fold         files::lines(path) | fold (per-worker tallies), automatic backend
// Counters: GB/s of each, and throughput ratios sluice/anchor (target >= 0.8)
// and io_uring/pool. Run it on a quiet machine: the anchor is one thread,
// sluice's pipeline several, so an overloaded machine penalises sluice.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

namespace {

namespace files = sluice::files;
using clock_type = std::chrono::steady_clock;

struct tally {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  bool operator==(const tally&) const = default;
};

class bench_file {
 public:
  bench_file() {
    const char* mb_env = std::getenv("SLUICE_BENCH_FILE_MB");
    const std::uint64_t mb = mb_env ? std::strtoull(mb_env, nullptr, 10) : 1024;
    const char* tmp = std::getenv("TMPDIR");
    m_path = std::filesystem::path(tmp ? tmp : "/tmp") / ("sluice-lines-bench-" + std::to_string(::getpid()) + ".log");
    std::ofstream out(m_path, std::ios::binary);
    std::string line;
    const std::uint64_t target = mb << 20;
    std::uint64_t written = 0;
    static const char* paths[] = {"/", "/index.html", "/api/v1/items", "/static/app.js", "/login", "/api/v1/users/42"};
    for (std::uint64_t i = 0; written < target; ++i) {
      line = "10.0." + std::to_string(i % 256) + "." + std::to_string(i * 7 % 256) +
             " - - [30/Nov/2026:15:00:00 +0000] \"GET " + paths[i % 6] + " HTTP/1.1\" " +
             (i % 13 == 0 ? "404" : "200") + " " + std::to_string(i * 37 % 10000) + "\n";
      out << line;
      written += line.size();
    }
    m_bytes = written;
  }
  ~bench_file() { std::filesystem::remove(m_path); }
  [[nodiscard]] const std::filesystem::path& path() const { return m_path; }
  [[nodiscard]] std::uint64_t bytes() const { return m_bytes; }

 private:
  std::filesystem::path m_path;
  std::uint64_t m_bytes = 0;
};

const bench_file& the_file() {
  static bench_file f;
  return f;
}

// The anchor: what a careful programmer writes by hand.
tally read_memchr(const std::filesystem::path& p) {
  tally t;
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return t;
  std::string buf(256 << 10, '\0');
  std::string carry;
  auto take = [&t](std::string_view line) {
    ++t.lines;
    t.bytes += line.size();
  };
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    const char* s = buf.data();
    const char* end = s + n;
    if (!carry.empty()) {
      const auto* nl = static_cast<const char*>(std::memchr(s, '\n', static_cast<std::size_t>(end - s)));
      if (!nl) {
        carry.append(s, end);
        continue;
      }
      carry.append(s, nl);
      take(carry);
      carry.clear();
      s = nl + 1;
    }
    while (s < end) {
      const auto* nl = static_cast<const char*>(std::memchr(s, '\n', static_cast<std::size_t>(end - s)));
      if (!nl) break;
      take(std::string_view(s, static_cast<std::size_t>(nl - s)));
      s = nl + 1;
    }
    carry.assign(s, end);
  }
  if (!carry.empty()) take(carry);
  ::close(fd);
  return t;
}

tally sluice_lines(sluice::runtime& rt, const std::filesystem::path& p, files::io_backend backend) {
  tally t;
  sluice::run(rt, files::lines(p, {.read = {.backend = backend}}) | sluice::for_each([&t](const files::line& l) {
                    ++t.lines;
                    t.bytes += l.size();
                  }));
  return t;
}

// The same with the parallel fold as the sink: per-worker tallies, no
// per-item atomics.
tally sluice_fold(sluice::runtime& rt, const std::filesystem::path& p) {
  tally t;
  sluice::run(rt, files::lines(p) | sluice::fold(
                                        t,
                                        [](tally& acc, const files::line& l) {
                                          ++acc.lines;
                                          acc.bytes += l.size();
                                        },
                                        [](tally& acc, tally&& other) {
                                          acc.lines += other.lines;
                                          acc.bytes += other.bytes;
                                        }));
  return t;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void BM_LinesVsReadMemchr(benchmark::State& state) {
  const auto& file = the_file();
  sluice::runtime rt({.threads = std::max(2u, std::thread::hardware_concurrency())});
  const bool uring = files::io_uring_available();
  (void)read_memchr(file.path());  // warm the page cache
  double t_anchor = 0, t_uring = 0, t_pool = 0, t_fold = 0;
  for (auto _ : state) {
    auto t0 = clock_type::now();
    const tally a = read_memchr(file.path());
    t_anchor += seconds_since(t0);
    if (uring) {
      t0 = clock_type::now();
      const tally u = sluice_lines(rt, file.path(), files::io_backend::io_uring);
      t_uring += seconds_since(t0);
      if (!(u == a)) state.SkipWithError("io_uring lines disagree with the anchor");
    }
    t0 = clock_type::now();
    const tally p = sluice_lines(rt, file.path(), files::io_backend::blocking_pool);
    t_pool += seconds_since(t0);
    if (!(p == a)) state.SkipWithError("pool lines disagree with the anchor");
    t0 = clock_type::now();
    const tally f = sluice_fold(rt, file.path());
    t_fold += seconds_since(t0);
    if (!(f == a)) state.SkipWithError("fold lines disagree with the anchor");
  }
  const double gb = static_cast<double>(file.bytes()) * static_cast<double>(state.iterations()) / 1e9;
  state.counters["file_MB"] = static_cast<double>(file.bytes() >> 20);
  state.counters["anchor_GBps"] = gb / t_anchor;
  state.counters["pool_GBps"] = gb / t_pool;
  state.counters["pool_vs_anchor"] = t_anchor / t_pool;
  state.counters["fold_GBps"] = gb / t_fold;
  state.counters["fold_vs_anchor"] = t_anchor / t_fold;
  if (uring) {
    state.counters["uring_GBps"] = gb / t_uring;
    state.counters["uring_vs_anchor"] = t_anchor / t_uring;
    state.counters["uring_vs_pool"] = t_pool / t_uring;
  }
}
BENCHMARK(BM_LinesVsReadMemchr)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
