#include "sluice/stages/progress_renderer.hpp"

#include <cstdio>
#include <iostream>
#include <utility>

namespace sluice {
namespace {

std::string format(const char* fmt, auto... args) {
  char buffer[128];
  int n = std::snprintf(buffer, sizeof buffer, fmt, args...);
  if (n < 0) return {};
  return std::string(buffer,
                     static_cast<std::size_t>(n) < sizeof buffer ? static_cast<std::size_t>(n) : sizeof buffer - 1);
}

std::string count(std::uint64_t n) { return compact_count(static_cast<double>(n)); }

std::string stage_line(const stage_progress& s, std::size_t index) {
  std::string line = format("#%zu %-10s ", index, s.kind.c_str()) + s.name;
  line += "  in " + count(s.items_in) + "  out " + count(s.items_out);
  if (s.queue_capacity != 0) line += "  q " + count(s.queue_depth) + "/" + count(s.queue_capacity);
  if (s.in_flight != 0) line += "  fly " + count(s.in_flight);
  line += "  " + compact_count(s.rate) + "/s";
  line += format("  busy %.0f%%", s.busy_share * 100);
  if (s.bytes != 0) line += "  " + compact_count(static_cast<double>(s.bytes)) + "B";
  if (s.retries != 0) line += "  retries " + count(s.retries);
  if (s.dropped != 0) line += "  dropped " + count(s.dropped);
  if (s.failed != 0) line += "  failed " + count(s.failed);
  if (s.cancelled != 0) line += "  cancelled " + count(s.cancelled);
  return line;
}

}  // namespace

std::string compact_count(double n) {
  if (n < 10'000) return format("%.0f", n);
  if (n < 1e6) return format("%.3gk", n / 1e3);
  if (n < 1e9) return format("%.3gM", n / 1e6);
  return format("%.3gG", n / 1e9);
}

std::vector<std::string> progress_lines(const progress_snapshot& snapshot, std::string_view title) {
  std::vector<std::string> lines;
  lines.reserve(snapshot.stages.size() + 1);
  std::string header(title);
  header += format(" %.1f s", std::chrono::duration<double>(snapshot.elapsed).count());
  if (snapshot.final) header += ", done";
  lines.push_back(std::move(header));
  for (std::size_t i = 0; i < snapshot.stages.size(); ++i) lines.push_back(stage_line(snapshot.stages[i], i));
  return lines;
}

progress_callback terminal_progress(std::shared_ptr<status_display> display, std::string title) {
  return [display = std::move(display), title = std::move(title)](const progress_snapshot& snapshot) {
    display->show(progress_lines(snapshot, title));
    if (snapshot.final) display->keep();
  };
}

progress_callback terminal_progress(terminal_progress_options options) {
  std::ostream& os = options.os ? *options.os : std::cerr;
  auto display = std::make_shared<status_display>(os, options.terminal.value_or(stderr_is_terminal()));
  return terminal_progress(std::move(display), std::move(options.title));
}

}  // namespace sluice
