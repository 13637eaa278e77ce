// Lines split in the lanes (pipeline.hpp, "Fusion"): when the stages after
// files::lines(path) run as copies in lanes (before fold, count_by,
// group_by, top_k), the lanes read the file themselves, one at a time and in
// file order (lane_reader: an async mutex around the stream and the cut
// into runs of whole lines, one search for the last newline per block), and
// each lane splits the block it read into lines (line_splitter::split_run,
// views into the same block, no copy) and pushes them through its copy of
// the chain on the thread that read it, while the next lane reads the next
// block. That is tbb::parallel_pipeline's shape: a serial input filter whose
// token goes on through the parallel filter on the same thread, so a block
// is split and parsed in the cache the kernel copied it into. The serial
// part of the run is the read and the cut alone.
//
// Accounting stays that of lines: the source's items in, out and emitted
// are counted by the lanes as they split, in lines (a run is no item of the
// report); the lane's first stage counts the same lines in. A lane that
// read a block when the run stopped still pushes its lines, which the
// chain counts as cancelled. Errors: a line growing past max_line_bytes
// while carried from one block to the next, or a failed read, fails the run
// naming the source, the path and (for the line) its byte offset.
//
// Thread-safety: each split_lines_inlet is pushed from its lane's coroutine
// only; the stream and the cut are used under the reader's lock only; the
// source's counters are atomic.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/async_mutex.hpp"

#include "sluice/files/detail/byte_stream.hpp"
#include "sluice/files/detail/line_splitter.hpp"
#include "sluice/files/line.hpp"
#include "sluice/stages/detail/fused_lanes.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice::files::detail {

/// In front of one lane's copy of the chain: splits the runs of whole lines
/// it is pushed into lines and pushes those on, at most `chunk` at a time.
class split_lines_inlet final : public sluice::detail::fused_inlet<line> {
 public:
  split_lines_inlet(sluice::detail::inlet_ptr inner, sluice::detail::stage_context source, bool strip_cr,
                    std::size_t chunk)
      : m_inner(std::move(inner)), m_source(std::move(source)), m_strip_cr(strip_cr), m_chunk(chunk ? chunk : 1) {}

  sluice::task<bool> push(std::vector<line> runs) override {
    std::vector<line> lines;
    std::size_t bytes = 0;
    try {
      for (const line& r : runs) bytes += r.size();
      lines.reserve(bytes / m_average + bytes / m_average / 8 + 16);
      for (const line& r : runs) line_splitter::split_run(r, m_strip_cr, lines);
    } catch (...) {
      m_source.fail_unindexed(std::current_exception());
      co_return false;
    }
    runs = std::vector<line>();  // each line holds its block now
    // The runs' bytes are their lines' with each newline (and CR).
    if (!lines.empty()) m_average = std::max<std::size_t>(1, bytes / lines.size());
    std::size_t at = 0;
    while (at < lines.size()) {
      const std::size_t n = std::min(m_chunk, lines.size() - at);
      std::vector<line> part;
      if (at == 0 && n == lines.size()) {
        part = std::move(lines);
      } else {
        part.assign(std::make_move_iterator(lines.begin() + static_cast<std::ptrdiff_t>(at)),
                    std::make_move_iterator(lines.begin() + static_cast<std::ptrdiff_t>(at + n)));
      }
      at += n;
      // The source's lines, pulled and delivered: counted here, where they
      // come to be, before the lane's first stage counts them in.
      auto& stats = m_source.stats();
      sluice::detail::stage_stats::bump(stats.items_in, n);
      sluice::detail::stage_stats::bump(stats.items_out, n);
      sluice::detail::stage_stats::bump(stats.emitted, n);
      auto pushing = sluice::detail::inlet_of<line>(m_inner).push(std::move(part));
      if (!co_await std::move(pushing)) co_return false;
    }
    co_return true;
  }
  void finish() override { m_inner->finish(); }
  void runs_in_source() override { m_inner->runs_in_source(); }

 private:
  sluice::detail::inlet_ptr m_inner;  // a fused_inlet<line>: the lane's copy of the chain
  sluice::detail::stage_context m_source;
  bool m_strip_cr;
  std::size_t m_chunk;
  std::size_t m_average = 64;  // bytes per line (newline included) in this lane's last push, to size the vector
};

/// What the lanes of one lines() source share when they read themselves
/// (read_in_lanes): the stream, opened by the first lane to read, the cut
/// into runs of whole lines, and the lock that makes the reads one at a time
/// and in file order. Every member but the flags is used under `lock` only.
class lane_reader {
 public:
  using opener = std::function<std::shared_ptr<byte_stream>()>;
  lane_reader(opener open, std::size_t max_line_bytes, sluice::detail::stage_context source)
      : m_open(std::move(open)), m_max_line(max_line_bytes), m_source(std::move(source)) {}

  /// Reads the next block and appends its runs of whole lines to `runs`
  /// (none when the block ends inside a line). False once nothing is left
  /// to read: the end of the file, an error (the run then fails, naming
  /// the source), the run stopped, or a lane left (leave()).
  template <typename Lazy = void>
  sluice::task<bool> read(std::vector<line>& runs) {
    auto held = co_await m_lock.lock();
    if (m_done) co_return false;
    std::exception_ptr error;
    try {
      if (!m_stream) open();
      if (m_source.stopped()) {
        m_done = true;
      } else {
        stream_piece piece = co_await m_stream->next();
        m_source.count_bytes(piece.size);  // the report's bytes: read from the file
        if (piece.size == 0) {
          m_done = true;
          m_cut->finish(runs);
        } else {
          m_cut->feed(piece.bytes, std::string_view(piece.bytes.data(), piece.size), runs);
        }
      }
    } catch (...) {
      error = std::current_exception();
      m_done = true;
    }
    if (m_done) co_await close(std::move(error));
    co_return !m_done;
  }

  /// A lane leaves (at the end, or because downstream is gone): nobody
  /// reads any further, and the stream is closed (its reads in flight
  /// awaited) if no lane closed it yet. Every lane calls it before it
  /// ends, so the stream is never destroyed with a read in flight.
  template <typename Lazy = void>
  sluice::task<void> leave() {
    auto held = co_await m_lock.lock();
    m_done = true;
    co_await close(nullptr);
  }

 private:
  void open() {
    m_stream = m_open();
    m_cut.emplace(m_max_line, m_stream->name());
    m_source.state().on_cancel([stream = m_stream] { stream->cancel(); });
  }
  // Waits for the reads in flight and releases the file, then fails the
  // run naming the source with `error`, or with an error closing the file
  // when nothing failed before.
  template <typename Lazy = void>
  sluice::task<void> close(std::exception_ptr error) {
    if (m_stream) {
      try {
        co_await m_stream->close();
      } catch (...) {
        if (!error) error = std::current_exception();
      }
      m_stream.reset();
    }
    if (error) m_source.fail_unindexed(std::move(error));
  }

  opener m_open;
  std::size_t m_max_line;
  sluice::detail::stage_context m_source;
  sluice::async_mutex m_lock;
  std::shared_ptr<byte_stream> m_stream;
  std::optional<whole_lines_cutter> m_cut;  // made with the stream: it names the file
  bool m_done = false;                      // nothing more to read: the end, an error, a stopped run, or a lane left
};

/// One lane of a lines() source that reads in its lanes: takes its turn at
/// reading a block, then splits the block's runs and pushes their lines
/// into its copy of the chain (`group->lanes[lane]`, a split_lines_inlet),
/// on the thread that read the block, while the next lane reads the next.
/// The last lane to finish ends every lane's output (lane_group).
template <typename Lazy = void>
sluice::task<void> read_in_lane(std::shared_ptr<lane_reader> reader, std::size_t lane,
                                std::shared_ptr<sluice::detail::lane_group> group) {
  auto& inlet = sluice::detail::inlet_of<line>(group->lanes[lane]);
  for (bool more = true; more;) {
    std::vector<line> runs;
    more = co_await reader->read(runs);
    if (runs.empty()) continue;
    auto pushing = inlet.push(std::move(runs));
    // Downstream is gone: leaving stops the other lanes' reading; what
    // they read already still goes through them.
    if (!co_await std::move(pushing)) more = false;
  }
  auto leaving = reader->leave();
  co_await std::move(leaving);
  group->lane_done();
}

/// Starts the lanes of a lines() source whose stages after it run in lanes
/// (`lanes`: the fused_inlet<line> copies of the chain, one per lane): each
/// lane reads in turn and splits what it read itself, as
/// tbb::parallel_pipeline's serial input filter hands its block to the
/// parallel filter on the same thread. So the block is read into the cache
/// of the core that splits and parses it, and no channel sits between the
/// read and the lanes. `open` opens the stream (in the first lane to read); `options` are the
/// source's lines_options.
template <typename Options>
void read_in_lanes(sluice::detail::pipeline_state& state, const sluice::detail::stage_context& source,
                   lane_reader::opener open, const Options& options, sluice::detail::inlet_list lanes) {
  for (auto& lane : lanes) {
    lane = sluice::detail::inlet_ptr(new split_lines_inlet(std::move(lane), source, options.strip_cr, options.chunk));
    lane->runs_in_source();  // the lanes send as the source would: they wait on the limits in flight
  }
  const std::size_t n = lanes.size();
  auto reader = std::make_shared<lane_reader>(std::move(open), options.max_line_bytes, source);
  auto group = std::shared_ptr<sluice::detail::lane_group>(new sluice::detail::lane_group(std::move(lanes)));
  for (std::size_t i = 0; i < n; ++i) state.start(read_in_lane<>(reader, i, group));
}

}  // namespace sluice::files::detail
