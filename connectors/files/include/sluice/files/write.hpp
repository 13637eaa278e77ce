// File sinks: write_lines(path) and write_jsonl(path, to_json).
//
//   sluice::run(rt, files::lines("in.log") | sluice::filter(is_error) | files::write_lines("errors.log"));
//   sluice::run(rt, ... | files::write_jsonl("out.jsonl", [](const stats& s) { return s.to_json(); }));
//   files::write_lines("out.txt", {.fsync = true})
//
// Both write through files::atomic_file: into a temporary file beside the
// target, renamed over it only when the run succeeds. A run that fails or is
// cancelled leaves the previous file (or its absence) untouched and removes
// the temporary. With `.fsync`, data and directory are synced so the new file
// survives a power loss. Writes happen on the runtime's blocking pool in
// blocks of `.buffer_bytes`; formatting happens on the arena, in order.
//
// write_lines writes each item and "\n"; items are string-like (files::line,
// std::string, std::string_view, const char*) or anything a `to_text`
// function turns into a string. write_jsonl writes to_json(item) and "\n";
// without to_json, numbers are written as they are and strings as JSON
// strings (sluice::json_quote: always valid JSON, escaped).
//
// Errors fail the run with the target path in the message: the directory is
// missing or not writable (permission), the disk is full, the rename fails.
// The target must not be written by anything else during the run.
#pragma once

#include <sys/types.h>
#include <concepts>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "sluice/core/json.hpp"
#include "sluice/files/atomic_file.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"
#include "sluice/stages/write_jsonl.hpp"

namespace sluice::files {

/// Options of write_lines() and write_jsonl(); designated-initialiser friendly.
struct write_options {
  /// Shown in describe() and reports; defaults to the stage's kind.
  std::string name = {};
  /// fsync the data before the rename and the directory after it.
  bool fsync = false;
  /// Permission bits of the finished file (less the umask).
  mode_t mode = 0644;
  /// Formatted bytes collected before a write on the blocking pool.
  std::size_t buffer_bytes = std::size_t{1} << 20;
  /// Items the sink's input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes (sluice::item_bytes) the sink's input channel holds; 0 = no bound in bytes.
  std::size_t capacity_bytes = 0;
};

namespace detail {

struct as_text {
  template <typename T>
  std::string_view operator()(const T& item) const {
    static_assert(std::is_convertible_v<const T&, std::string_view>,
                  "sluice::files::write_lines: items must be string-like; give a to_text function");
    return std::string_view(item);
  }
};

/// One sink for both: `format(item)` returns the line's text (a string or a view).
template <typename F>
class file_sink_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = sluice::detail::none;

  file_sink_stage(std::filesystem::path path, F format, write_options options, const char* kind)
      : m_path(std::move(path)), m_format(std::move(format)), m_options(std::move(options)), m_kind(kind) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::invocable<F&, const In&>,
                  "sluice::files: the sink's formatting function must be callable with the item type reaching it");
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] sluice::detail::stage_info info() const {
    std::string params = "atomic (temporary + rename)";
    if (m_options.fsync) params += ", fsync";
    return {.name = m_options.name.empty() ? std::string(m_kind) + "(" + m_path.string() + ")" : m_options.name,
            .kind = m_kind,
            .parameters = std::move(params),
            .capacity = 0};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t capacity_bytes() const noexcept { return m_options.capacity_bytes; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return 0; }

  template <typename In>
  task<void> run(sluice::detail::stage_io<In, sluice::detail::none>& io) {
    auto create = [this] {
      return std::make_shared<atomic_file>(
          m_path, atomic_file_options{.fsync = m_options.fsync, .mode = m_options.mode, .buffer_bytes = 1 << 16});
    };
    auto creating = io.rt().spawn_blocking(std::move(create));
    std::shared_ptr<atomic_file> file = co_await std::move(creating);
    std::string buffer;
    buffer.reserve(m_options.buffer_bytes + 4096);
    while (auto in = co_await io.recv()) {
      auto& items = in->items;
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (io.stopped()) {
          io.drop(items.size() - i);
          break;
        }
        // A throwing format fails the run, naming the item; the rest of the
        // chunk counts as dropped and the temporary file is removed.
        std::exception_ptr error;
        try {
          buffer += m_format(std::as_const(items[i]));
        } catch (...) {
          error = std::current_exception();
        }
        if (error) {
          io.template item_failed<In>(fail_fast(), in->first_index + i, nullptr, error);
          io.drop(items.size() - i - 1);
          break;
        }
        buffer += '\n';
        io.completed(1);
      }
      if (buffer.size() >= m_options.buffer_bytes) co_await write_out(io, file, buffer);
    }
    // A failed or cancelled run keeps the previous file: the temporary goes
    // when `file` is destroyed without commit().
    if (io.stopped()) co_return;
    io.count_bytes(buffer.size());
    auto commit = [file, data = std::move(buffer)] {
      file->write(data);
      file->commit();
    };
    auto committing = io.rt().spawn_blocking(std::move(commit));
    co_await std::move(committing);
  }

 private:
  template <typename In>
  static task<void> write_out(sluice::detail::stage_io<In, sluice::detail::none>& io,
                              const std::shared_ptr<atomic_file>& file, std::string& buffer) {
    io.count_bytes(buffer.size());  // the report's bytes: handed to the file
    auto write = [file, data = std::move(buffer)] { file->write(data); };
    buffer = std::string();
    auto writing = io.rt().spawn_blocking(std::move(write));
    co_await std::move(writing);
  }

  std::filesystem::path m_path;
  F m_format;
  write_options m_options;
  const char* m_kind;
};

}  // namespace detail

/// Writes each item as one line to `path`, atomically (see the file comment).
template <typename F = detail::as_text>
auto write_lines(std::filesystem::path path, write_options options = {}, F to_text = {}) {
  return detail::file_sink_stage<F>(std::move(path), std::move(to_text), std::move(options), "write_lines");
}

/// Writes each item as one line of JSON to `path`, atomically.
template <typename F = sluice::detail::default_json>  // the DSL jsonl sink's: one JSON rule for items
auto write_jsonl(std::filesystem::path path, F to_json = {}, write_options options = {}) {
  return detail::file_sink_stage<F>(std::move(path), std::move(to_json), std::move(options), "write_jsonl");
}

}  // namespace sluice::files
