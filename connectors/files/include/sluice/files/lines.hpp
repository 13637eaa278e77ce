// Line sources: a file's (or stdin's) lines as pipeline items.
//
//   namespace files = sluice::files;
//   sluice::run(rt, files::lines("access.log") | sluice::map(parse) | ...);       // files::line items
//   sluice::run(rt, files::lines(stdin) | ...);                                   // standard input (or any FILE*)
//   sluice::run(rt, files::lines<std::string>("names.txt") | ...);                // owned std::string items
//   sluice::run(rt, files::files("logs", "*.gz") | files::read_lines() | ...);    // every line of every file
//
// Items. files::line (line.hpp) is a view into a shared, reference-counted
// block: producing one allocates nothing, and its text stays valid for as
// long as the line object lives. lines<std::string> copies each line into a
// std::string instead (convenient, one allocation per line longer than the
// small-string buffer). A line excludes its "\n" and, unless
// `.strip_cr = false`, a "\r" before it (CRLF files). The last line needs no
// newline; an empty file has no lines.
//
// Reading happens on the runtime's reactor (io_uring) or blocking pool,
// never blocking an arena thread (see read_options.hpp); files named *.gz
// are decompressed on the fly. Cancelling the run (its stop token, or a
// failure elsewhere) stops the source within one block, also on a pipe that
// has no data.
//
// Before stages that run in lanes (stateless map/filter/... before fold,
// count_by, group_by, top_k: pipeline.hpp, "Fusion"), lines(path) and
// lines(FILE*) are read by the lanes themselves, one block at a time in
// file order, each lane splitting and processing the block it read on its
// own thread (detail/lines_in_lanes.hpp); the lines and the report's counts
// are the same, their order across lanes free.
//
// Errors fail the run with the file's path in the message: a missing or
// unreadable file, a directory given as a file, a read error, truncated or
// invalid gzip, a line longer than `.max_line_bytes`. For read_lines() the
// stage's `.on_error` decides (default: fail fast); with skip_to(sink) the
// failing path goes to the dead-letter sink and the next file is read (lines
// already sent from the failing file stay sent).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/files/detail/byte_stream.hpp"
#include "sluice/files/detail/line_splitter.hpp"
#include "sluice/files/detail/lines_in_lanes.hpp"
#include "sluice/files/line.hpp"
#include "sluice/files/read_options.hpp"
#include "sluice/stages/pipeline.hpp"
#include "sluice/stages/stage_options.hpp"

namespace sluice::files {

/// Options of lines() and read_lines(); designated-initialiser friendly.
struct lines_options {
  /// Shown in describe() and reports; defaults to "lines(<path>)" / "read_lines".
  std::string name = {};
  /// Most lines per chunk sent downstream. The lines of one read (a block)
  /// go as one chunk when they fit, without being copied or moved.
  std::size_t chunk = 4096;
  /// Drop a "\r" before each "\n" (and at the end of the last line).
  bool strip_cr = true;
  /// A longer line fails the run (protects memory from a file without newlines).
  std::size_t max_line_bytes = std::size_t{64} << 20;
  /// read_lines(): items its input channel holds; 0 = sluice::default_capacity.
  std::size_t capacity = 0;
  /// Bytes of lines read ahead: the reader waits while the lines it sent
  /// that wait in the channel after it (that of the next stage not fused
  /// with it) hold this many bytes (sluice::item_bytes: a line counts the
  /// bytes it views). 0 = no bound in bytes. A reader's input (paths, for
  /// read_lines) is not worth bounding in bytes, so the bound is on its
  /// output; the next stage's own `.capacity_bytes`, if smaller, wins. A
  /// chunk larger than the bound still passes, alone.
  std::size_t capacity_bytes = 0;
  /// read_lines(): what to do when a file cannot be read (default: fail fast).
  error_policy on_error = {};
  /// Block size, read-ahead, backend, gzip.
  read_options read = {};
};

namespace detail {

template <typename T>
inline constexpr bool is_line_item = std::is_same_v<T, line> || std::is_same_v<T, std::string>;

// describe()'s parameters of a line reader, after those of read_options.
inline std::string describe_lines(const lines_options& options) {
  std::string params = ", chunk " + std::to_string(options.chunk);
  if (options.capacity_bytes) params += ", output bound " + std::to_string(options.capacity_bytes) + " bytes";
  return params;
}

// Reads `stream` to its end and sends its lines in chunks through `io`.
// A source counts its lines as pulled items; read_lines (In = a path)
// accounts for its one input item exactly once, with the last send, or as
// dropped when it stops early. Returns false when downstream is gone or the
// run stopped.
template <typename T, typename In>
task<bool> send_lines(byte_stream& stream, const lines_options& options, sluice::detail::stage_io<In, T>& io) {
  constexpr bool source = std::is_same_v<In, sluice::detail::none>;
  line_splitter split(options.strip_cr, options.max_line_bytes, stream.name());
  const std::size_t chunk = options.chunk ? options.chunk : 1;
  std::vector<line> lines;  // what one read produced
  // Sends `lines` (moved from) in chunks of at most `chunk`; the whole
  // vector goes as it is when it fits, without copying a line.
  auto send_all = [&](bool last) -> task<bool> {
    std::size_t at = 0;
    while (at < lines.size()) {
      const std::size_t n = std::min(chunk, lines.size() - at);
      std::vector<T> out;
      if (at == 0 && n == lines.size() && std::is_same_v<T, line>) {
        if constexpr (std::is_same_v<T, line>) out = std::move(lines);
      } else {
        out.reserve(n);
        for (std::size_t i = at; i < at + n; ++i) {
          if constexpr (std::is_same_v<T, line>) {
            out.push_back(std::move(lines[i]));
          } else {
            out.emplace_back(lines[i].text());
          }
        }
      }
      at += n;
      const bool final_send = last && at >= lines.size();
      if constexpr (source) sluice::detail::stage_stats::bump(io.stats().items_in, n);
      auto sending = io.send(out, source ? n : (final_send ? 1 : 0));
      if (!co_await sending) {
        if constexpr (!source) {
          if (!final_send) io.drop(1);
        }
        co_return false;
      }
    }
    lines = std::vector<line>();
    co_return true;
  };
  for (;;) {
    if (io.stopped()) {
      if constexpr (!source) io.drop(1);
      co_return false;
    }
    stream_piece piece = co_await stream.next();
    const bool last = piece.size == 0;
    io.count_bytes(piece.size);  // the report's bytes: read from the file
    if (last) {
      split.finish(lines);
    } else {
      split.feed(piece.bytes, std::string_view(piece.bytes.data(), piece.size), lines);
    }
    // What one read produced goes downstream before the next read, which on
    // a pipe may wait for a long time: stdin lines flow as they are typed.
    if (!lines.empty()) {
      auto sending = send_all(last);
      if (!co_await sending) co_return false;
    } else if (last) {
      if constexpr (!source) io.completed(1);
    }
    if (last) co_return true;
  }
}

// Opens, reads and closes one stream; the stream is closed (reads in flight
// awaited) whatever happens, then an error is rethrown.
template <typename T, typename In, typename Open>
task<bool> read_one(Open open, const lines_options& options, sluice::detail::stage_io<In, T>& io) {
  std::shared_ptr<byte_stream> stream = open();
  io.state().on_cancel([stream] { stream->cancel(); });
  std::exception_ptr error;
  bool go_on = false;
  try {
    go_on = co_await send_lines<T>(*stream, options, io);
  } catch (...) {
    error = std::current_exception();
  }
  co_await stream->close();
  if (error) std::rethrow_exception(error);
  co_return go_on;
}

template <typename T>
class lines_source {
 public:
  /// From a path (fd < 0) or from a descriptor (not owned).
  lines_source(std::filesystem::path path, int fd, lines_options options)
      : m_path(std::move(path)), m_fd(fd), m_options(std::move(options)) {}

  [[nodiscard]] sluice::detail::stage_info info() const {
    const std::string shown = m_fd >= 0 ? display_fd() : m_path.string();
    sluice::detail::stage_info info{.name = m_options.name.empty() ? "lines(" + shown + ")" : m_options.name,
                                    .kind = "source",
                                    .parameters = describe_read(m_options.read, shown) + describe_lines(m_options),
                                    .capacity = 0};
    info.output_bytes = m_options.capacity_bytes;
    return info;
  }

  template <typename>
  task<void> run(sluice::detail::stage_io<sluice::detail::none, T>& io) {
    (void)co_await read_one<T>([this, &io] { return open(io.rt()); }, m_options, io);
  }

  /// Opens the file or descriptor for reading (see open_stream).
  [[nodiscard]] std::shared_ptr<byte_stream> open(runtime& rt) const {
    return m_fd >= 0 ? open_fd_stream(rt, m_fd, display_fd(), m_options.read) : open_stream(rt, m_path, m_options.read);
  }
  [[nodiscard]] const lines_options& options() const noexcept { return m_options; }

 private:
  [[nodiscard]] std::string display_fd() const { return m_fd == 0 ? "stdin" : "fd " + std::to_string(m_fd); }

  std::filesystem::path m_path;
  int m_fd;
  lines_options m_options;
};

/// Wraps a line source into a flow. When the stages after it run in lanes
/// (the outlet has several), files::line sources are read by the lanes,
/// which split what they read (lines_in_lanes.hpp); otherwise, or for std::string lines, the
/// source splits and sends lines in order, as make_source's sources do.
template <typename T>
flow<T> make_lines_source(lines_source<T> source) {
  const std::size_t chunk = source.options().chunk ? source.options().chunk : 1;
  auto stages = sluice::detail::first_stage(source.info());
  auto shared = sluice::detail::share_stage(std::move(source));
  return flow<T>(
      sluice::detail::single_sender, std::move(stages),
      [shared](sluice::detail::pipeline_state& state, sluice::detail::outlet<T> out) {
        using sluice::detail::none;
        if constexpr (std::is_same_v<T, line>) {
          if (out.lanes.size() > 1) {
            read_in_lanes(
                state, sluice::detail::stage_context(state, 0), [shared, &state] { return shared->open(state.rt()); },
                shared->options(), std::move(out.lanes));
            return;
          }
        }
        state.start(sluice::detail::run_stage<none, T>(
            shared, sluice::detail::stage_io<none, T>(state, 0, {}, std::move(out))));
      },
      chunk);
}

template <typename T>
class read_lines_stage {
 public:
  using sluice_stage = void;
  template <typename In>
  using output = T;

  explicit read_lines_stage(lines_options options) : m_options(std::move(options)) {}

  template <typename In>
  static constexpr void check() {
    static_assert(std::is_constructible_v<std::filesystem::path, const In&>,
                  "sluice::files::read_lines: the items reaching it must be paths (std::filesystem::path or strings)");
  }
  template <typename In>
  void prepare() const {}
  [[nodiscard]] sluice::detail::stage_info info() const {
    sluice::detail::stage_info info{.name = sluice::detail::name_or(m_options.name, "read_lines"),
                                    .kind = "read_lines",
                                    .parameters = describe_read(m_options.read, "") + describe_lines(m_options),
                                    .capacity = 0};
    info.output_bytes = m_options.capacity_bytes;
    return info;
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_options.capacity; }
  [[nodiscard]] std::size_t output_chunk(std::size_t) const noexcept { return m_options.chunk; }

  template <typename In>
  task<void> run(sluice::detail::stage_io<In, T>& io) {
    while (auto in = co_await io.recv()) {
      for (std::size_t i = 0; i < in->items.size(); ++i) {
        if (io.stopped()) {
          io.drop(in->items.size() - i);
          break;
        }
        std::filesystem::path path(std::as_const(in->items[i]));
        auto open = [&io, &path, this]() { return open_stream(io.rt(), path, m_options.read); };
        std::exception_ptr error;
        bool go_on = true;
        try {
          go_on = co_await read_one<T>(open, m_options, io);
        } catch (...) {
          error = std::current_exception();
        }
        if (error) {
          io.item_failed(m_options.on_error, in->first_index + i, &in->items[i], error);
          continue;
        }
        if (!go_on) {
          io.input().close();  // downstream is gone or the run stopped: read no further files
          io.drop(in->items.size() - i - 1);
          break;
        }
      }
    }
  }

 private:
  lines_options m_options;
};

}  // namespace detail

/// The lines of the file at `path` (decompressed when it ends in .gz).
/// T is files::line (views, no allocation per line) or std::string.
template <typename T = line>
requires detail::is_line_item<T> flow<T> lines(std::filesystem::path path, lines_options options = {}) {
  return detail::make_lines_source<T>(detail::lines_source<T>(std::move(path), -1, std::move(options)));
}

/// The lines read from an open stream's descriptor, e.g. `lines(stdin)`.
/// The descriptor is read directly (bypassing the FILE's buffer: do not also
/// read the FILE) and is not closed. gzip only with `.read.gzip = always`.
template <typename T = line>
requires detail::is_line_item<T> flow<T> lines(std::FILE* stream, lines_options options = {}) {
  const int fd = stream ? ::fileno(stream) : -1;
  if (fd < 0) throw std::invalid_argument("sluice::files::lines: not an open FILE*");
  return detail::make_lines_source<T>(detail::lines_source<T>({}, fd, std::move(options)));
}

/// A stage reading every line of every file whose path reaches it, file
/// after file in arrival order (see the file comment for errors).
template <typename T = line>
requires detail::is_line_item<T>
auto read_lines(lines_options options = {}) { return detail::read_lines_stage<T>(std::move(options)); }

}  // namespace sluice::files
