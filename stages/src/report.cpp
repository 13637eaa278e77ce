#include "sluice/stages/report.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace sluice {
namespace detail {
/// Text safe inside a double-quoted Graphviz label (defined below).
std::string dot_escape(std::string_view text);
}  // namespace detail

namespace {

unsigned long long ull(std::uint64_t n) { return static_cast<unsigned long long>(n); }

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

std::string format(const char* fmt, auto... args) {
  char buffer[512];
  int n = std::snprintf(buffer, sizeof buffer, fmt, args...);
  return std::string(buffer, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buffer) - 1)));
}

// Whether the report carries the graph (a run's report always does); one
// built by hand without inputs is read as a line.
bool has_graph(const std::vector<stage_report>& stages) noexcept {
  return std::any_of(stages.begin(), stages.end(), [](const stage_report& s) { return !s.inputs.empty(); });
}

// Stage j receives what stage i sends.
bool feeds(const std::vector<stage_report>& stages, bool graph, std::size_t i, std::size_t j) noexcept {
  if (!graph) return j == i + 1;
  const auto& in = stages[j].inputs;
  return std::find(in.begin(), in.end(), i) != in.end();
}

// A stage limits throughput when work piles up in front of it (input full)
// while the stages after it starve (their inputs empty). A source has no
// input: it is the bottleneck when its consumers starve.
double bottleneck_score(const std::vector<stage_report>& stages, bool graph, std::size_t i) noexcept {
  double downstream_starving = 1.0;
  for (std::size_t j = 0; j < stages.size(); ++j)
    if (feeds(stages, graph, i, j)) downstream_starving = std::min(downstream_starving, stages[j].input_empty_ratio);
  const bool source = graph ? stages[i].inputs.empty() : i == 0;
  double upstream_piling = source ? 1.0 : stages[i].input_full_ratio;
  return upstream_piling * downstream_starving;
}

}  // namespace

std::size_t pipeline_report::bottleneck() const noexcept {
  if (stages.empty()) return 0;
  // Two signals, whichever is stronger: how much of the run the stage spent
  // working (a saturated stage is the limit), and the queue pattern (work
  // piles up in front of it while the stage after it starves).
  std::size_t best = 0;
  double best_score = -1;
  const double total = static_cast<double>(std::max<std::int64_t>(1, elapsed.count()));
  auto utilisation = [&](std::size_t i) { return static_cast<double>(stages[i].busy_time.count()) / total; };
  const bool graph = has_graph(stages);
  for (std::size_t i = 0; i < stages.size(); ++i) {
    // A busy next stage explains its own empty input (it pulls everything
    // in as soon as it can), so the queue signal counts less then.
    double next_busy = 0;
    for (std::size_t j = 0; j < stages.size(); ++j)
      if (feeds(stages, graph, i, j)) next_busy = std::max(next_busy, utilisation(j));
    double next_idle = 1.0 - std::min(1.0, next_busy);
    double score = std::max(utilisation(i), bottleneck_score(stages, graph, i) * next_idle);
    if (score > best_score) best = i, best_score = score;
  }
  return best;
}

const std::string& pipeline_report::bottleneck_name() const {
  static const std::string none;
  return stages.empty() ? none : stages[bottleneck()].name;
}

bool pipeline_report::balanced() const noexcept {
  return std::all_of(stages.begin(), stages.end(), [](const stage_report& s) { return s.balanced(); });
}

std::string pipeline_report::describe() const {
  std::string out =
      format("pipeline: %zu stages, %.3f ms%s\n", stages.size(), ms(elapsed), cancelled ? ", cancelled" : "");
  out += format("  %-3s %-14s %-20s %10s %10s %10s %8s %8s %9s %7s %11s %9s\n", "#", "kind", "name", "in", "out",
                "emitted", "dropped", "failed", "cancelled", "retries", "busy ms", "peak q");
  std::size_t slow = bottleneck();
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    out += format("  %-3zu %-14s %-20s %10llu %10llu %10llu %8llu %8llu %9llu %7llu %11.3f %4zu/%-4zu%s", i,
                  s.kind.c_str(), s.name.c_str(), ull(s.items_in), ull(s.items_out), ull(s.emitted), ull(s.dropped),
                  ull(s.failed), ull(s.cancelled), ull(s.retries), ms(s.busy_time), s.peak_queue_depth,
                  s.queue_capacity, i == slow ? "  <- bottleneck" : "");
    if (!s.branch.empty()) out += "  (" + s.branch + ")";  // outside format(): a label may be long
    out += "\n";
  }
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& l = stages[i].latency;
    if (l.count == 0) continue;
    out += format("  latency of #%zu %s: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms over %llu calls\n", i,
                  stages[i].name.c_str(), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), ull(l.count));
    const auto& e = stages[i].item_latency;
    if (e.count == 0) continue;
    out += format(
        "  item latency of #%zu %s (retries included): p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms "
        "over %llu items\n",
        i, stages[i].name.c_str(), ms(e.p50), ms(e.p90), ms(e.p99), ms(e.max), ull(e.count));
  }
  if (!progress_error.empty()) out += "  progress: " + progress_error + "\n";
  return out;
}

std::string pipeline_report::to_dot() const {
  std::string out = "digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n";
  std::size_t slow = bottleneck();
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    out += format("  s%zu [label=\"%s\\n%s\\nin %llu  out %llu\\ndropped %llu  failed %llu  cancelled %llu\"%s];\n", i,
                  detail::dot_escape(s.name).c_str(), detail::dot_escape(s.kind).c_str(), ull(s.items_in),
                  ull(s.items_out), ull(s.dropped), ull(s.failed), ull(s.cancelled), i == slow ? " color=red" : "");
    for (auto from : s.inputs)
      out += format("  s%zu -> s%zu [label=\"peak %zu/%zu\"];\n", from, i, s.peak_queue_depth, s.queue_capacity);
  }
  return out + "}\n";
}

}  // namespace sluice

#include "sluice/stages/pipeline.hpp"

namespace sluice::detail {
namespace {

// A pipeline is a line when every stage receives from the one before it;
// describe() then keeps its compact form.
bool is_line(const std::vector<stage_info>& stages) {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    auto in = stage_inputs(stages, i);
    if (i == 0 ? !in.empty() : in != std::vector<std::size_t>{i - 1}) return false;
  }
  return true;
}

std::string index_list(const std::vector<std::size_t>& indices) {
  std::string out;
  for (auto i : indices) out += (out.empty() ? "#" : ", #") + std::to_string(i);
  return out;
}

}  // namespace

std::string dot_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';  // control characters have no place in a label
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// What a stage's input link is: its channel capacity, or "fused" (in the
// coroutine of the stage before it), or "fused, in lanes" (one copy per
// worker of the aggregating sink after it, fused_lanes.hpp).
std::vector<std::string> input_links(const std::vector<stage_info>& stages) {
  std::vector<std::string> links(stages.size());
  for (std::size_t i = 0; i < stages.size(); ++i)
    links[i] = stages[i].fused ? std::string("fused") : "capacity " + std::to_string(stages[i].capacity);
  for (std::size_t j = 1; j < stages.size(); ++j) {
    if (!stages[j].lanes_before) continue;
    if (stages[j].fused) links[j] = "fused, in lanes";  // an aggregating sink run by the lanes (fold.hpp)
    // The stateless fused stages straight before j, each fed by the one before it.
    for (std::size_t i = j; i-- > 0;) {
      if (stage_inputs(stages, i + 1) != std::vector<std::size_t>{i}) break;
      if (!stages[i].fused || !stages[i].stateless) break;
      links[i] = "fused, in lanes";
    }
  }
  return links;
}

}  // namespace

std::string describe_stages(const std::vector<stage_info>& stages) {
  const bool line = is_line(stages);
  const auto links = input_links(stages);
  std::string out;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    const auto in = stage_inputs(stages, i);
    const bool from_previous = i > 0 && in == std::vector<std::size_t>{i - 1};
    out += "  ";
    if (!line) out += "#" + std::to_string(i) + " ";
    if (from_previous) out += "| ";
    out += s.kind;
    if (s.name != s.kind) out += " \"" + s.name + "\"";
    std::string params = s.parameters;
    if (!in.empty()) params += (params.empty() ? "" : ", ") + links[i];
    if (s.capacity_bytes) params += ", capacity_bytes " + std::to_string(s.capacity_bytes);
    if (!params.empty()) out += " [" + params + "]";
    if (!in.empty() && !from_previous) out += " <- " + index_list(in);
    if (!s.branch.empty()) out += "  (" + s.branch + ")";
    out += "\n";
  }
  return out;
}

std::string stages_to_dot(const std::vector<stage_info>& stages) {
  std::string out = "digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n";
  const auto links = input_links(stages);
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    out += "  s" + std::to_string(i) + " [label=\"" + dot_escape(s.name) + "\\n" + dot_escape(s.kind);
    if (!s.parameters.empty()) out += "\\n" + dot_escape(s.parameters);
    if (!s.branch.empty()) out += "\\n(" + dot_escape(s.branch) + ")";
    out += "\"];\n";
    for (auto from : stage_inputs(stages, i))
      out += "  s" + std::to_string(from) + " -> s" + std::to_string(i) + " [label=\"" + links[i] + "\"];\n";
  }
  return out + "}\n";
}

}  // namespace sluice::detail
