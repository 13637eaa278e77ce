// pipeline_report::to_prometheus: the Prometheus text exposition format,
// version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Every metric family has one # HELP and one # TYPE line followed by its
// samples, one per stage, labelled stage (the user's name), index (the
// position: names need not be unique) and kind. Label values come from the
// user and are escaped as the format requires (\\, \", \n), and kept valid
// UTF-8; the prefix is sanitised into a legal metric name.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "sluice/core/json.hpp"
#include "sluice/stages/report.hpp"

namespace sluice {
namespace {

bool name_char(char c, bool first) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  return alpha || (!first && c >= '0' && c <= '9');
}

// [a-zA-Z_:][a-zA-Z0-9_:]*: anything else becomes '_'; a leading digit gets a '_' before it.
std::string metric_prefix(std::string_view prefix) {
  std::string out;
  if (prefix.empty()) return "sluice";
  if (!name_char(prefix.front(), true) && name_char(prefix.front(), false)) out += '_';
  for (char c : prefix) out += name_char(c, out.empty()) ? c : '_';
  return out;
}

void append_label_value(std::string& out, std::string_view value) {
  std::size_t i = 0;
  while (i < value.size()) {
    const std::uint32_t cp = next_code_point(value, i);
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '"') {
      out += "\\\"";
    } else if (cp == '\n') {
      out += "\\n";
    } else {
      append_utf8(out, cp);
    }
  }
}

std::string number(double v) {
  char buffer[64];
  int n = std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return std::string(buffer, static_cast<std::size_t>(n > 0 ? n : 0));
}

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

class exposition {
 public:
  exposition(std::string& out, std::string prefix) : m_out(out), m_prefix(std::move(prefix)) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    m_out += "# HELP " + m_prefix + "_";
    m_out += name;
    m_out += ' ';
    m_out += help;
    m_out += "\n# TYPE " + m_prefix + "_";
    m_out += name;
    m_out += ' ';
    m_out += type;
    m_out += '\n';
  }

  void sample(std::string_view name, const stage_report* stage, std::size_t index, std::string_view value,
              std::string_view quantile = {}) {
    m_out += m_prefix + "_";
    m_out += name;
    if (stage) {
      m_out += "{stage=\"";
      append_label_value(m_out, stage->name);
      m_out += "\",index=\"" + std::to_string(index) + "\",kind=\"";
      append_label_value(m_out, stage->kind);
      m_out += '"';
      if (!quantile.empty()) {
        m_out += ",quantile=\"";
        m_out += quantile;
        m_out += '"';
      }
      m_out += '}';
    }
    m_out += ' ';
    m_out += value;
    m_out += '\n';
  }

 private:
  std::string& m_out;
  std::string m_prefix;
};

}  // namespace

std::string pipeline_report::to_prometheus(std::string_view prefix) const {
  std::string out;
  exposition e(out, metric_prefix(prefix));
  e.family("pipeline_elapsed_seconds", "gauge", "Wall time of the run so far.");
  e.sample("pipeline_elapsed_seconds", nullptr, 0, number(seconds(elapsed)));
  e.family("pipeline_cancelled", "gauge", "1 when the run was stopped through its stop token.");
  e.sample("pipeline_cancelled", nullptr, 0, cancelled ? "1" : "0");

  struct counter {
    const char* name;
    const char* help;
    std::uint64_t stage_report::*field;
  };
  static constexpr counter counters[] = {
      {"stage_items_in_total", "Items the stage received (a source: pulled).", &stage_report::items_in},
      {"stage_items_out_total", "Inputs fully handled, results delivered downstream.", &stage_report::items_out},
      {"stage_emitted_total", "Elements sent downstream.", &stage_report::emitted},
      {"stage_dropped_total", "Inputs handled without a result and without an error.", &stage_report::dropped},
      {"stage_failed_total", "Inputs whose function threw (after retries).", &stage_report::failed},
      {"stage_cancelled_total", "Inputs abandoned because the run was stopped.", &stage_report::cancelled},
      {"stage_retries_total", "Extra calls made by a retry policy.", &stage_report::retries},
      {"stage_bytes_total", "Bytes the stage read or wrote, where known.", &stage_report::bytes},
  };
  for (const auto& c : counters) {
    e.family(c.name, "counter", c.help);
    for (std::size_t i = 0; i < stages.size(); ++i) e.sample(c.name, &stages[i], i, std::to_string(stages[i].*c.field));
  }
  e.family("stage_busy_seconds_total", "counter", "Time spent in the stage's own work.");
  for (std::size_t i = 0; i < stages.size(); ++i)
    e.sample("stage_busy_seconds_total", &stages[i], i, number(seconds(stages[i].busy_time)));
  e.family("stage_queue_capacity", "gauge", "Input channel capacity in items (0 for sources).");
  for (std::size_t i = 0; i < stages.size(); ++i)
    e.sample("stage_queue_capacity", &stages[i], i, std::to_string(stages[i].queue_capacity));
  e.family("stage_queue_peak_depth", "gauge", "Largest number of items seen waiting in the input channel.");
  for (std::size_t i = 0; i < stages.size(); ++i)
    e.sample("stage_queue_peak_depth", &stages[i], i, std::to_string(stages[i].peak_queue_depth));

  // Latency: async stages only (the others have no per-call measurement).
  bool any_latency = false;
  for (const auto& s : stages) any_latency = any_latency || s.latency.count != 0;
  if (!any_latency) return out;
  e.family("stage_latency_seconds", "summary", "Latency of each call of an async stage's function.");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& l = stages[i].latency;
    if (l.count == 0) continue;
    e.sample("stage_latency_seconds", &stages[i], i, number(seconds(l.p50)), "0.5");
    e.sample("stage_latency_seconds", &stages[i], i, number(seconds(l.p90)), "0.9");
    e.sample("stage_latency_seconds", &stages[i], i, number(seconds(l.p99)), "0.99");
    e.sample("stage_latency_seconds_sum", &stages[i], i, number(seconds(l.sum)));
    e.sample("stage_latency_seconds_count", &stages[i], i, std::to_string(l.count));
  }
  e.family("stage_latency_max_seconds", "gauge", "Longest call of an async stage's function.");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].latency.count == 0) continue;
    e.sample("stage_latency_max_seconds", &stages[i], i, number(seconds(stages[i].latency.max)));
  }
  e.family("stage_item_latency_seconds", "summary",
           "Latency of each item of an async stage, end to end: retries and backoff included.");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& l = stages[i].item_latency;
    if (l.count == 0) continue;
    e.sample("stage_item_latency_seconds", &stages[i], i, number(seconds(l.p50)), "0.5");
    e.sample("stage_item_latency_seconds", &stages[i], i, number(seconds(l.p90)), "0.9");
    e.sample("stage_item_latency_seconds", &stages[i], i, number(seconds(l.p99)), "0.99");
    e.sample("stage_item_latency_seconds_sum", &stages[i], i, number(seconds(l.sum)));
    e.sample("stage_item_latency_seconds_count", &stages[i], i, std::to_string(l.count));
  }
  e.family("stage_item_latency_max_seconds", "gauge", "Longest item of an async stage, end to end.");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].item_latency.count == 0) continue;
    e.sample("stage_item_latency_max_seconds", &stages[i], i, number(seconds(stages[i].item_latency.max)));
  }
  return out;
}

}  // namespace sluice
