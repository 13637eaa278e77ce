// The access-log workload of issue 10, against hand-written anchors in one
// binary: a generated access log (200 MB by default, about 1.84 M lines) is
// parsed and its requests counted by status and by path, by
//   single     a single-threaded loop: read(2) into a buffer, memchr, parse, count
//   pipeline   tbb::parallel_pipeline: serial read of 256 KiB blocks ->
//              parallel parse of a block -> serial count
//   sluice     files::lines(path) | map(parse) | filter(valid) | fold(tally)
//              (map, filter and the fold fused, one copy per fold worker in
//              lanes: the source only reads, each lane splits a block's
//              lines, parses and folds them at once, on every arena thread)
//   in_source  the same with functions that capture state: fused into the
//              source's coroutine, not copied (the parse on one thread, the
//              fold in lanes after it)
//   unfused    the same with `.fuse = false`: a channel before each stage
//   parallel   files::lines(path) | parallel_map(parse) | filter | fold: the parse on oneTBB
// All must produce the same counts. Counters: wall-time ratios
// sluice/pipeline, sluice/single, unfused/sluice, in_source/sluice, the
// process CPU time of sluice against the pipeline's (comparable on a loaded
// machine, where wall times are not), and peak heap ratios
// (live bytes from operator new/delete, counted in this binary; the file's
// pages in the OS cache are not heap and count for nobody).
//
// Args: log size in MB. The file is written once to a temporary directory
// and read from the page cache afterwards (the first iteration warms it).
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>
#include "perf_control.hpp"

#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Live and peak heap bytes of the whole process.
namespace heap {
std::atomic<std::int64_t> live{0};
std::atomic<std::int64_t> peak{0};
void add(std::int64_t n) noexcept {
  auto now = live.fetch_add(n, std::memory_order_relaxed) + n;
  auto seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}
void reset_peak() noexcept { peak.store(live.load()); }
std::int64_t peak_above(std::int64_t base) noexcept { return peak.load() - base; }
}  // namespace heap

void* operator new(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  heap::add(static_cast<std::int64_t>(malloc_usable_size(p)));
  return p;
}
void operator delete(void* p) noexcept {
  if (!p) return;
  heap::add(-static_cast<std::int64_t>(malloc_usable_size(p)));
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

namespace {

using clock_type = std::chrono::steady_clock;
using counts_t = sluice::key_map<std::string, std::size_t>;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Writes `mb` megabytes of combined-format access log lines to `path`.
void generate_log(const std::filesystem::path& path, std::size_t mb) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path.string());
  std::mt19937 rng(42);
  const char* methods[] = {"GET", "GET", "GET", "POST", "PUT"};
  const char* statuses[] = {"200", "200", "200", "200", "304", "404", "500", "301"};
  std::size_t written = 0;
  char buf[512];
  while (written < mb * 1000 * 1000) {
    const auto r = static_cast<unsigned>(rng());
    int n = std::snprintf(buf, sizeof buf,
                          "10.%u.%u.%u - - [30/Nov/2026:18:%02u:%02u +0000] \"%s /api/v1/items/%u HTTP/1.1\" %s %u "
                          "\"-\" \"curl/8.5\"\n",
                          r % 256, (r >> 8) % 256, (r >> 16) % 256, r % 60, (r >> 6) % 60, methods[r % 5],
                          (r >> 3) % 1000, statuses[(r >> 13) % 8], (r >> 5) % 50000);
    std::fwrite(buf, 1, static_cast<std::size_t>(n), f);
    written += static_cast<std::size_t>(n);
  }
  std::fclose(f);
}

// What a line says; views into the line.
struct request {
  std::string_view status;
  std::string_view path;
  [[nodiscard]] bool valid() const noexcept { return !status.empty(); }
};

// `... "METHOD PATH PROTO" STATUS BYTES ...`; an empty status when malformed.
request parse(std::string_view line) {
  request r;
  const auto q = line.find('"');
  if (q == std::string_view::npos) return r;
  const auto sp1 = line.find(' ', q);
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  const auto q2 = sp2 == std::string_view::npos ? sp2 : line.find('"', sp2);
  if (q2 == std::string_view::npos || q2 + 5 > line.size()) return r;
  r.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  r.status = line.substr(q2 + 2, 3);
  return r;
}

void add(counts_t& counts, std::string_view key, std::size_t n = 1) {
  auto it = counts.find(key);
  if (it == counts.end()) it = counts.emplace(std::string(key), 0).first;
  it->second += n;
}

struct tally {
  counts_t by_status;
  counts_t by_path;
  void count(const request& r) {
    add(by_status, r.status);
    add(by_path, r.path);
  }
  void merge(tally&& other) {
    for (auto& [k, v] : other.by_status) add(by_status, k, v);
    for (auto& [k, v] : other.by_path) add(by_path, k, v);
  }
  bool operator==(const tally&) const = default;
};

// Calls on_block(text) for each run of whole lines, read in `block` bytes.
template <typename F>
void read_whole_lines(int fd, std::size_t block, std::string& carry, F&& on_block) {
  std::vector<char> buf(block);
  for (;;) {
    const auto n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    std::string_view got(buf.data(), static_cast<std::size_t>(n));
    const auto last = got.rfind('\n');
    if (last == std::string_view::npos) {
      carry.append(got);
      continue;
    }
    carry.append(got.substr(0, last + 1));
    on_block(std::move(carry));
    carry.assign(got.substr(last + 1));
  }
  if (!carry.empty()) on_block(std::move(carry));
}

template <typename F>
void for_each_line(std::string_view text, F&& fn) {
  while (!text.empty()) {
    const auto* nl = static_cast<const char*>(std::memchr(text.data(), '\n', text.size()));
    const std::size_t len = nl ? static_cast<std::size_t>(nl - text.data()) : text.size();
    fn(text.substr(0, len));
    text.remove_prefix(nl ? len + 1 : len);
  }
}

tally run_single(const std::filesystem::path& path) {
  tally t;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string carry;
  read_whole_lines(fd, std::size_t{256} << 10, carry, [&](std::string text) {
    for_each_line(text, [&](std::string_view line) {
      if (auto r = parse(line); r.valid()) t.count(r);
    });
  });
  ::close(fd);
  return t;
}

// The hand-written parallel_pipeline: blocks of whole lines as tokens.
tally run_tbb_pipeline(const std::filesystem::path& path, std::size_t tokens) {
  tally t;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string carry;
  std::vector<char> buf(std::size_t{256} << 10);
  bool eof = false;
  struct parsed {
    std::string text;  // owns what the requests view
    std::vector<request> requests;
  };
  tbb::parallel_pipeline(
      tokens,
      tbb::make_filter<void, std::string*>(tbb::filter_mode::serial_in_order,
                                           [&](tbb::flow_control& fc) -> std::string* {
                                             while (!eof) {
                                               const auto n = ::read(fd, buf.data(), buf.size());
                                               if (n <= 0) {
                                                 eof = true;
                                                 if (!carry.empty()) return new std::string(std::move(carry));
                                                 break;
                                               }
                                               std::string_view got(buf.data(), static_cast<std::size_t>(n));
                                               const auto last = got.rfind('\n');
                                               carry.append(got.substr(0, last == got.npos ? got.size() : last + 1));
                                               if (last == got.npos) continue;
                                               auto* text = new std::string(std::move(carry));
                                               carry.assign(got.substr(last + 1));
                                               return text;
                                             }
                                             fc.stop();
                                             return nullptr;
                                           }) &
          tbb::make_filter<std::string*, parsed*>(tbb::filter_mode::parallel,
                                                  [](std::string* text) {
                                                    auto* p = new parsed{std::move(*text), {}};
                                                    delete text;
                                                    p->requests.reserve(p->text.size() / 100);
                                                    for_each_line(p->text, [&](std::string_view line) {
                                                      if (auto r = parse(line); r.valid()) p->requests.push_back(r);
                                                    });
                                                    return p;
                                                  }) &
          tbb::make_filter<parsed*, void>(tbb::filter_mode::serial_in_order, [&](parsed* p) {
            for (const auto& r : p->requests) t.count(r);
            delete p;
          }));
  ::close(fd);
  return t;
}

// A parsed line keeps its block alive (files::line holds a reference).
struct entry {
  sluice::files::line text;
  request r;
};

tally run_sluice(sluice::runtime& rt, const std::filesystem::path& path, bool fuse) {
  tally t;
  auto to_entry = [](sluice::files::line l) {
    auto r = parse(l.text());
    return entry{std::move(l), r};
  };
  sluice::run(rt, sluice::files::lines(path) | sluice::map(to_entry, {.name = "parse", .fuse = fuse}) |
                      sluice::filter([](const entry& e) { return e.r.valid(); }, {.name = "valid", .fuse = fuse}) |
                      sluice::fold(
                          t, [](tally& acc, const entry& e) { acc.count(e.r); },
                          [](tally& acc, tally&& other) { acc.merge(std::move(other)); }));
  return t;
}

// The same with functions that carry state (a capture): fused, but never
// copied into lanes, so the parse runs in the source's coroutine (the
// shape of every fused chain before lanes existed).
tally run_sluice_in_source(sluice::runtime& rt, const std::filesystem::path& path) {
  tally t;
  std::size_t seen = 0;
  auto to_entry = [&seen](sluice::files::line l) {
    ++seen;
    auto r = parse(l.text());
    return entry{std::move(l), r};
  };
  sluice::run(rt, sluice::files::lines(path) | sluice::map(to_entry, {.name = "parse"}) |
                      sluice::filter([&seen](const entry& e) { return seen > 0 && e.r.valid(); }, {.name = "valid"}) |
                      sluice::fold(
                          t, [](tally& acc, const entry& e) { acc.count(e.r); },
                          [](tally& acc, tally&& other) { acc.merge(std::move(other)); }));
  return t;
}

// The same work with the parse on oneTBB: the shape to pick when per-line
// work dominates and the machine has cores to spare for it.
tally run_sluice_parallel(sluice::runtime& rt, const std::filesystem::path& path) {
  tally t;
  auto to_entry = [](sluice::files::line l) {
    auto r = parse(l.text());
    return entry{std::move(l), r};
  };
  sluice::run(rt, sluice::files::lines(path) | sluice::parallel_map(to_entry, {.name = "parse", .batch = 4096}) |
                      sluice::filter([](const entry& e) { return e.r.valid(); }, {.name = "valid"}) |
                      sluice::fold(
                          t, [](tally& acc, const entry& e) { acc.count(e.r); },
                          [](tally& acc, tally&& other) { acc.merge(std::move(other)); }));
  return t;
}

struct measured {
  double seconds = 0;
  double cpu_seconds = 0;  // the process's user + system time: what to compare on a loaded machine
  double peak_bytes = 0;
};

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// perf_control (bench/support/perf_control.hpp) around the variant named by
// SLUICE_PERF_VARIANT (e.g. "sluice"), every iteration.
using sluice_bench::perf_control;

bool profiled(std::string_view name) {
  const char* variant = std::getenv("SLUICE_PERF_VARIANT");
  return variant != nullptr && name == variant;
}

template <typename F>
tally measure(measured& into, F&& run) {
  const auto base = heap::live.load();
  heap::reset_peak();
  const double cpu0 = process_cpu_seconds();
  const auto t0 = clock_type::now();
  tally t = run();
  into.seconds += seconds_since(t0);
  into.cpu_seconds += process_cpu_seconds() - cpu0;
  into.peak_bytes += static_cast<double>(heap::peak_above(base));
  return t;
}

void BM_AccessLog(benchmark::State& state) {
  const auto mb = static_cast<std::size_t>(state.range(0));
  const auto dir = std::filesystem::temp_directory_path() / ("sluice_log_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "access.log";
  generate_log(path, mb);
  const std::size_t threads = std::max(2u, std::thread::hardware_concurrency());
  sluice::runtime rt({.threads = threads});
  tbb::task_arena arena(static_cast<int>(threads));
  measured single, pipeline, fused, unfused, parallel, in_source;
  // SLUICE_LOG_BENCH_ONLY=pipeline,sluice runs only those (and single, the
  // reference), for profiling one variant; the other counters then read 0.
  const char* only = std::getenv("SLUICE_LOG_BENCH_ONLY");
  auto wanted = [only](std::string_view name) {
    return only == nullptr || std::string_view(only).find(name) != std::string_view::npos;
  };
  std::size_t lines = 0;
  for (auto _ : state) {
    const tally expect = measure(single, [&] { return run_single(path); });
    bool same = true;
    auto check = [&](std::string_view name, measured& into, auto&& run) {
      if (!wanted(name)) return;
      if (profiled(name)) perf_control("enable");
      const tally got = measure(into, run);
      if (profiled(name)) perf_control("disable");
      same = same && got == expect;
    };
    check("pipeline", pipeline, [&] { return arena.execute([&] { return run_tbb_pipeline(path, 4 * threads); }); });
    check("sluice", fused, [&] { return run_sluice(rt, path, true); });
    check("unfused", unfused, [&] { return run_sluice(rt, path, false); });
    check("parallel", parallel, [&] { return run_sluice_parallel(rt, path); });
    check("in_source", in_source, [&] { return run_sluice_in_source(rt, path); });
    if (!same) state.SkipWithError("the counts differ");
    lines = 0;
    for (const auto& [k, v] : expect.by_status) lines += v;
  }
  std::filesystem::remove_all(dir);
  const auto n = static_cast<double>(state.iterations());
  state.counters["lines"] = static_cast<double>(lines);
  state.counters["single_s"] = single.seconds / n;
  state.counters["pipeline_s"] = pipeline.seconds / n;
  state.counters["sluice_s"] = fused.seconds / n;
  state.counters["unfused_s"] = unfused.seconds / n;
  state.counters["vs_pipeline"] = fused.seconds / pipeline.seconds;
  state.counters["vs_single"] = fused.seconds / single.seconds;
  state.counters["unfused_vs_fused"] = unfused.seconds / fused.seconds;
  state.counters["parallel_s"] = parallel.seconds / n;
  state.counters["parallel_vs_pipeline"] = parallel.seconds / pipeline.seconds;
  state.counters["in_source_s"] = in_source.seconds / n;
  state.counters["in_source_vs_sluice"] = in_source.seconds / fused.seconds;
  state.counters["single_cpu_s"] = single.cpu_seconds / n;
  state.counters["pipeline_cpu_s"] = pipeline.cpu_seconds / n;
  state.counters["sluice_cpu_s"] = fused.cpu_seconds / n;
  state.counters["cpu_vs_pipeline"] = fused.cpu_seconds / pipeline.cpu_seconds;
  state.counters["pipeline_peak_MB"] = pipeline.peak_bytes / n / 1e6;
  state.counters["sluice_peak_MB"] = fused.peak_bytes / n / 1e6;
  state.counters["unfused_peak_MB"] = unfused.peak_bytes / n / 1e6;
  state.counters["peak_vs_pipeline"] = fused.peak_bytes / pipeline.peak_bytes;
}
BENCHMARK(BM_AccessLog)->Arg(200)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
