// Loads a Chrome Trace Event file with simdjson (a strict parser: invalid
// JSON or UTF-8 fails) and checks its structure: complete spans nest on
// every track, async spans pair up, every track is named.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace sluice_test {

struct span {
  std::string category;
  std::string name;
  std::int64_t tid = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::map<std::string, std::string> args;  // strings as they are, numbers as decimal text
};

struct loaded_trace {
  std::vector<span> complete;  // "X"
  std::vector<span> async;     // "b" joined with its "e"
  std::map<std::int64_t, std::string> thread_names;
  std::int64_t dropped = -1;
  std::string text;
};

inline std::int64_t to_ns(double micros) { return std::llround(micros * 1000.0); }

inline loaded_trace load_trace(const std::string& path) {
  loaded_trace out;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream buf;
  buf << in.rdbuf();
  out.text = buf.str();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto error = parser.parse(out.text).get(doc);
  if (error) {
    ADD_FAILURE() << path << " is not valid JSON: " << simdjson::error_message(error);
    return out;
  }
  simdjson::dom::array events;
  EXPECT_EQ(doc["traceEvents"].get(events), simdjson::SUCCESS);
  std::int64_t dropped = -1;
  if (!doc["otherData"]["dropped_events"].get(dropped)) out.dropped = dropped;
  std::map<std::pair<std::string, std::string>, span> open;  // (cat, id) -> begun
  for (simdjson::dom::element e : events) {
    std::string_view ph, cat, name;
    EXPECT_EQ(e["ph"].get(ph), simdjson::SUCCESS);
    // Every event has a name, an async end too: chrome://tracing drops an
    // "e" without one (Perfetto would not need it).
    EXPECT_EQ(e["name"].get(name), simdjson::SUCCESS);
    std::int64_t tid = 0, pid = 0;
    EXPECT_EQ(e["tid"].get(tid), simdjson::SUCCESS);
    EXPECT_EQ(e["pid"].get(pid), simdjson::SUCCESS);
    if (ph == "M") {
      std::string_view thread;
      if (name == "thread_name" && !e["args"]["name"].get(thread)) out.thread_names[tid] = std::string(thread);
      continue;
    }
    EXPECT_EQ(e["cat"].get(cat), simdjson::SUCCESS);
    double ts = 0;
    EXPECT_EQ(e["ts"].get(ts), simdjson::SUCCESS);
    span s{std::string(cat), std::string(name), tid, to_ns(ts), to_ns(ts), {}};
    simdjson::dom::object args;
    if (!e["args"].get(args)) {
      for (auto [key, value] : args) {
        std::string_view text;
        std::int64_t number = 0;
        if (!value.get(text)) {
          s.args[std::string(key)] = std::string(text);
        } else if (!value.get(number)) {
          s.args[std::string(key)] = std::to_string(number);
        }
      }
    }
    if (ph == "X") {
      double dur = -1;
      EXPECT_EQ(e["dur"].get(dur), simdjson::SUCCESS);
      EXPECT_GE(dur, 0);
      s.end_ns = s.start_ns + to_ns(dur);
      out.complete.push_back(std::move(s));
    } else if (ph == "b" || ph == "e") {
      std::string_view id;
      EXPECT_EQ(e["id"].get(id), simdjson::SUCCESS);
      auto key = std::make_pair(s.category, std::string(id));
      if (ph == "b") {
        EXPECT_FALSE(open.contains(key)) << "async id reused while open: " << id;
        open[key] = std::move(s);
      } else {
        auto it = open.find(key);
        if (it == open.end()) {
          ADD_FAILURE() << "async end without begin: " << id;
          continue;
        }
        EXPECT_EQ(it->second.name, s.name) << "chrome://tracing pairs an async end with a begin of its name";
        it->second.end_ns = s.start_ns;
        EXPECT_LE(it->second.start_ns, it->second.end_ns);
        out.async.push_back(std::move(it->second));
        open.erase(it);
      }
    } else {
      ADD_FAILURE() << "unexpected phase " << ph;
    }
  }
  EXPECT_TRUE(open.empty()) << open.size() << " async spans never ended";
  return out;
}

/// Complete spans on one track either nest or do not overlap at all.
inline void expect_spans_nest(const loaded_trace& t) {
  std::map<std::int64_t, std::vector<const span*>> by_track;
  for (const auto& s : t.complete) by_track[s.tid].push_back(&s);
  for (auto& [tid, spans] : by_track) {
    EXPECT_TRUE(t.thread_names.contains(tid)) << "track " << tid << " has no thread_name";
    std::sort(spans.begin(), spans.end(), [](const span* a, const span* b) {
      if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns;
      return a->end_ns > b->end_ns;  // the enclosing one first
    });
    std::vector<const span*> stack;
    for (const span* s : spans) {
      while (!stack.empty() && stack.back()->end_ns <= s->start_ns) stack.pop_back();
      if (!stack.empty() && s->end_ns > stack.back()->end_ns) {
        ADD_FAILURE() << "on track " << tid << " span \"" << s->name << "\" [" << s->start_ns << ", " << s->end_ns
                      << "] partially overlaps \"" << stack.back()->name << "\" [" << stack.back()->start_ns << ", "
                      << stack.back()->end_ns << "]";
        return;
      }
      stack.push_back(s);
    }
  }
}

}  // namespace sluice_test
