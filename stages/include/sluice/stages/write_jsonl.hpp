// sluice::write_jsonl(stream, to_json): writes one JSON document per line.
//
//   | sluice::write_jsonl(file, [](const repo_stats& s) { return s.to_json(); })
//   | sluice::write_jsonl(std::cout)      // strings are quoted, numbers as they are
//
// to_json(const T&) returns the line's text (without the newline); without
// it, arithmetic items are written as numbers and string-like items as JSON
// strings. The stream is written from one coroutine on an arena thread and
// flushed at the end; a stream error (badbit/failbit) fails the pipeline.
// The stream must outlive run().
#pragma once

#include <concepts>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "sluice/core/json.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/stage_protocol.hpp"

namespace sluice {

namespace detail {

struct default_json {
  template <typename T>
  std::string operator()(const T& item) const {
    if constexpr (std::is_same_v<T, bool>) {
      return item ? "true" : "false";
    } else if constexpr (std::is_arithmetic_v<T>) {
      return std::to_string(item);
    } else {
      static_assert(std::is_convertible_v<const T&, std::string_view>,
                    "sluice::write_jsonl: give a to_json function for this item type");
      return json_quote(std::string_view(item));
    }
  }
};

template <typename F>
class write_jsonl_stage : public stage_base<write_jsonl_stage<F>> {
 public:
  template <typename In>
  using output = none;

  write_jsonl_stage(std::ostream& os, F to_json, stage_options options)
      : stage_base<write_jsonl_stage<F>>(std::move(options), "write_jsonl"), m_os(&os), m_to_json(std::move(to_json)) {}

  template <typename In>
  static constexpr bool check() {
    constexpr bool ok = std::invocable<F&, const In&>;
    static_assert(ok, "sluice::write_jsonl: to_json must be callable with the item type reaching the sink");
    return ok;
  }

  template <typename In>
  task<void> run(stage_io<In, none>& io) {
    auto write = [this, &io](const In& item) {
      std::string line = m_to_json(item);
      line += '\n';
      m_os->write(line.data(), static_cast<std::streamsize>(line.size()));
      if (!*m_os) throw std::runtime_error("sluice::write_jsonl: stream write failed");
      io.count_bytes(line.size());
    };
    while (auto in = co_await io.recv()) {
      std::size_t written = 0;  // counted once per chunk (see for_each)
      io.for_each_item(*in, [&](In& item, std::size_t index) {
        const In& line = item;
        if (io.call(this->m_options.on_error, write, line, index)) ++written;
      });
      io.completed(written);
    }
    m_os->flush();
  }

 private:
  std::ostream* m_os;
  F m_to_json;
};

}  // namespace detail

/// Writes each item as one line of JSON to `os`.
template <typename F = detail::default_json>
auto write_jsonl(std::ostream& os, F to_json = {}, stage_options options = {}) {
  return detail::write_jsonl_stage<F>(os, std::move(to_json), std::move(options));
}

}  // namespace sluice
