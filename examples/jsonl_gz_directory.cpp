// Every event in a directory of gzip-compressed JSON-lines files, counted
// and summed per type.
//
//   example_jsonl_gz_directory events/          # reads events/*.jsonl.gz, recursively
//
// Without an argument it writes a small sample directory first (with the
// gzip program). files() lists the matching files (sorted, on the blocking
// pool), read_lines() decompresses and splits each one on the fly, the
// records are parsed with simdjson in parallel (a malformed one goes to a
// dead-letter queue) and aggregated per type.
#include <simdjson.h>
#include <sluice/files/files.hpp>
#include <sluice/sluice.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

namespace files = sluice::files;

struct event {
  std::string type;
  std::string user;
  double bytes = 0;
};

// One record; a malformed one throws (and goes to the dead-letter queue).
event parse(const files::line& l) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string json(l.text());
  auto doc = parser.iterate(json);
  event e;
  e.type = std::string(std::string_view(doc["type"]));
  e.user = std::string(std::string_view(doc["user"]));
  e.bytes = double(doc["bytes"]);
  return e;
}

std::filesystem::path sample_directory() {
  auto dir = std::filesystem::temp_directory_path() / "sluice-sample-events";
  std::filesystem::create_directories(dir / "2026-11");
  const char* users[] = {"ada", "grace", "linus"};
  const char* types[] = {"view", "click", "purchase"};
  for (int f = 0; f < 3; ++f) {
    const auto plain = dir / ("2026-11/day" + std::to_string(f) + ".jsonl");
    std::ofstream out(plain);
    for (int i = 0; i < 1000; ++i)
      out << R"({"type":")" << types[(i + f) % 3] << R"(","user":")" << users[i % 3] << R"(","bytes":)" << i % 100
          << "}\n";
    out << "not json\n";  // one bad record per file
    out.close();
    const std::string cmd = "gzip -f '" + plain.string() + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("gzip failed: " + cmd);
  }
  return dir;
}

struct totals {
  std::size_t events = 0;
  double bytes = 0;
};

int main(int argc, char** argv) try {
  const std::filesystem::path dir = argc > 1 ? std::filesystem::path(argv[1]) : sample_directory();
  sluice::runtime rt;
  sluice::dead_letter_queue bad_records;
  sluice::key_map<std::string, totals> per_type;

  auto report = sluice::run(rt, files::files(dir, "*.jsonl.gz", {.recursive = true})  // sorted paths
                                    | files::read_lines()                             // gunzip + split
                                    | sluice::parallel_map(parse, {.on_error = sluice::skip_to(bad_records.sink())}) |
                                    sluice::group_by(
                                        per_type, [](const event& e) { return std::string_view(e.type); },
                                        sluice::aggregate(
                                            [](totals& t, const event& e) {
                                              ++t.events;
                                              t.bytes += e.bytes;
                                            },
                                            [](totals& t, totals&& other) {
                                              t.events += other.events;
                                              t.bytes += other.bytes;
                                            })));

  for (const auto& [type, t] : per_type) std::cout << type << ": " << t.events << " events, " << t.bytes << " bytes\n";
  std::cout << bad_records.take().size() << " malformed records skipped\n\n" << report.describe();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "jsonl_gz_directory: " << e.what() << "\n";
  return 1;
}
