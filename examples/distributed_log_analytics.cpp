// Log analytics split across processes on Redis Streams: one producer, N
// workers, one collector; or the same job in one process (`single`), for
// comparison. scripts/distributed-demo.sh runs 1 + 3 + 1 against a local
// redis-server and checks the two results are equal.
//
//   distributed_log_analytics single    --lines N
//   distributed_log_analytics produce   --redis URL --lines N
//   distributed_log_analytics work      --redis URL --consumer NAME
//   distributed_log_analytics collect   --redis URL --workers N
//
// Streams: "logs:lines" (group "parsers") carries raw lines, 16 to an entry;
// each worker parses them (parallel_map) and appends records to
// "logs:records" (group "collector"), acknowledging a line's entry only after
// its records were appended. The collector deduplicates by line number
// (delivery is at-least-once) and prints the summary as JSON. A worker
// drains on SIGTERM or SIGINT (sluice::stop_on_signals). Each process
// prints its stream counters on stderr.
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <sluice/core/signals.hpp>
#include <sluice/redis/redis.hpp>
#include <sluice/sluice.hpp>

namespace redis = sluice::redis;
using namespace std::chrono_literals;

namespace {

// A deterministic synthetic access log: line i is always the same text.
std::string log_line(std::uint64_t i) {
  static const char* paths[] = {"/", "/login", "/api/items", "/api/items/42", "/static/app.js", "/search?q=x"};
  static const int statuses[] = {200, 200, 200, 200, 301, 304, 404, 500};
  std::uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
  if (i % 97 == 13) return "garbage line " + std::to_string(i);
  return std::to_string(i) + " 10.0." + std::to_string(h % 256) + "." + std::to_string((h >> 8) % 256) + " \"GET " +
         paths[(h >> 16) % 6] + "\" " + std::to_string(statuses[(h >> 24) % 8]) + " " +
         std::to_string((h >> 32) % 50'000);
}

struct record {
  std::uint64_t line = 0;
  int status = 0;  // 0: the line did not parse
  std::string path;
  std::uint64_t bytes = 0;
};

// "<n> <ip> \"GET <path>\" <status> <bytes>"
record parse(std::uint64_t line_no, const std::string& line) {
  record r{.line = line_no, .status = 0, .path = {}, .bytes = 0};
  auto q1 = line.find('"'), q2 = line.rfind('"');
  if (q1 == std::string::npos || q2 == q1) return r;
  std::string request = line.substr(q1 + 1, q2 - q1 - 1);
  auto space = request.find(' ');
  if (space == std::string::npos) return r;
  r.path = request.substr(space + 1);
  unsigned long long status = 0, bytes = 0;
  if (std::sscanf(line.c_str() + q2 + 1, " %llu %llu", &status, &bytes) != 2) {
    r.path.clear();
    return r;
  }
  r.status = static_cast<int>(status);
  r.bytes = bytes;
  return r;
}

// A line travels with its number: "<n>\t<text>".
std::uint64_t line_number(const std::string& tagged) { return std::stoull(tagged.substr(0, tagged.find('\t'))); }
record parse_tagged(const std::string& tagged) {
  auto tab = tagged.find('\t');
  return parse(line_number(tagged), tagged.substr(tab + 1));
}

redis::json_serializer<record> record_json() {
  return {"log_record", 1,
          [](const record& r, sluice::json_writer& w) {
            w.begin_object();
            w.key("line");
            w.num(static_cast<std::int64_t>(r.line));
            w.key("status");
            w.num(r.status);
            w.field("path", r.path);
            w.key("bytes");
            w.num(static_cast<std::int64_t>(r.bytes));
            w.end_object();
          },
          [](simdjson::dom::element e) {
            return record{.line = static_cast<std::uint64_t>(std::int64_t(e["line"])),
                          .status = static_cast<int>(std::int64_t(e["status"])),
                          .path = std::string(std::string_view(e["path"])),
                          .bytes = static_cast<std::uint64_t>(std::int64_t(e["bytes"]))};
          }};
}

// The result: the same whether one process or many computed it.
struct summary {
  std::map<int, std::uint64_t> by_status;
  std::map<std::string, std::uint64_t> by_path;
  std::uint64_t bytes = 0;
  std::uint64_t malformed = 0;
  void add(const record& r) {
    if (r.status == 0) {
      ++malformed;
      return;
    }
    ++by_status[r.status];
    ++by_path[r.path];
    bytes += r.bytes;
  }
  std::string json() const {
    std::string out;
    sluice::json_writer w(out);
    w.begin_object();
    w.key("by_status");
    w.begin_object();
    for (auto& [s, n] : by_status) {
      w.key(std::to_string(s));
      w.num(static_cast<std::int64_t>(n));
    }
    w.end_object();
    w.key("by_path");
    w.begin_object();
    for (auto& [p, n] : by_path) {
      w.key(p);
      w.num(static_cast<std::int64_t>(n));
    }
    w.end_object();
    w.key("bytes");
    w.num(static_cast<std::int64_t>(bytes));
    w.key("malformed");
    w.num(static_cast<std::int64_t>(malformed));
    w.end_object();
    return out;
  }
};

std::string option(int argc, char** argv, const char* name, std::string fallback = {}) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == name) return argv[i + 1];
  return fallback;
}

sluice::generator<std::string> tagged_lines(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) co_yield std::to_string(i) + "\t" + log_line(i);
}

int single(std::uint64_t n) {
  sluice::runtime rt;
  summary s;
  sluice::run(rt, sluice::from(tagged_lines(n)) | sluice::parallel_map(parse_tagged) |
                      sluice::for_each([&](record r) { s.add(r); }));
  std::cout << s.json() << "\n";
  return 0;
}

int produce(const redis::endpoint& ep, std::uint64_t n) {
  sluice::runtime rt;
  auto stats = std::make_shared<redis::stream_stats>();
  auto report = sluice::run(
      rt, sluice::from(tagged_lines(n)) |
              redis::to_stream(
                  ep, "logs:lines", redis::string_serializer{},
                  {.pack = 16, .capacity = 20'000, .groups = {"parsers"}, .producer = "producer", .stats = stats}));
  std::cerr << report.describe() << stats->describe() << "\n";
  return 0;
}

int work(const redis::endpoint& ep, const std::string& consumer) {
  sluice::runtime rt;
  // SIGTERM or Ctrl-C: stop reading, finish and acknowledge what was taken,
  // hand the rest back to the group (a second signal exits at once).
  auto drain = sluice::stop_on_signals(rt, {SIGINT, SIGTERM});
  auto in = std::make_shared<redis::stream_stats>();
  auto out = std::make_shared<redis::stream_stats>();
  auto p = redis::from_stream(ep, "logs:lines", "parsers", consumer, redis::string_serializer{},
                              {.claim_idle = 5s, .drain = drain.token(), .stats = in}) |
           sluice::parallel_map([](redis::message<std::string> m) { return std::move(m).map(parse_tagged); }) |
           redis::to_stream(ep, "logs:records", record_json(),
                            {.pack = 16, .groups = {"collector"}, .producer = consumer, .stats = out});
  std::cerr << p.describe();
  auto report = sluice::run(rt, std::move(p));
  std::cerr << report.describe() << in->describe() << "\n" << out->describe() << "\n";
  return 0;
}

int collect(const redis::endpoint& ep, std::size_t workers) {
  sluice::runtime rt;
  summary s;
  std::set<std::uint64_t> seen;  // the idempotent part: a line counts once
  std::uint64_t duplicates = 0;
  auto stats = std::make_shared<redis::stream_stats>();
  auto report = sluice::run(rt, redis::from_stream(ep, "logs:records", "collector", "collector", record_json(),
                                                   {.producers = workers, .stats = stats}) |
                                    redis::commit([&](redis::message<record>& m) {
                                      if (!seen.insert(m.value().line).second) {
                                        ++duplicates;
                                        return;
                                      }
                                      s.add(m.value());
                                    }));
  std::cerr << report.describe() << stats->describe() << "\nduplicates skipped: " << duplicates << "\n";
  std::cout << s.json() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    const auto lines = std::stoull(option(argc, argv, "--lines", "100000"));
    if (mode == "single") return single(lines);
    const auto ep = redis::endpoint::parse(option(argc, argv, "--redis", "redis://127.0.0.1:6379/0"));
    if (mode == "produce") return produce(ep, lines);
    if (mode == "work") return work(ep, option(argc, argv, "--consumer", "worker-1"));
    if (mode == "collect") return collect(ep, std::stoul(option(argc, argv, "--workers", "3")));
    std::cerr << "usage: distributed_log_analytics single|produce|work|collect [--redis URL] [--lines N] "
                 "[--consumer NAME] [--workers N]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "distributed_log_analytics: " << e.what() << "\n";
    return 1;
  }
}
