// Lines split in the lanes (pipeline.hpp, "Fusion"): when the stages after
// files::lines(path) run as copies in lanes (before fold, count_by,
// group_by, top_k), the source only cuts what it reads into runs of whole
// lines (one search for the last newline per block, whole_lines_cutter) and
// sends those; each lane splits the runs it takes into lines
// (line_splitter::split_run, views into the same block, no copy) right
// before its copy of the chain, on its own thread. The serial part of the
// run is then the read alone, as in tbb::parallel_pipeline's serial input
// filter, and the line objects are written on the thread that reads them.
//
// Accounting stays that of lines: the source's items in, out and emitted
// are counted by the lanes as they split, in lines (a run is no item of the
// report); the lane's first stage counts the same lines in. Runs a
// cancelled run never split are counted by nobody, like bytes never read.
// Errors: a line growing past max_line_bytes while carried from one block
// to the next fails the run in the source, naming the path and the line's
// byte offset; a failure while splitting fails it naming the source.
//
// Thread-safety: each split_lines_inlet is pushed from its lane's coroutine
// only; the source's counters are atomic.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/files/detail/byte_stream.hpp"
#include "sluice/files/detail/line_splitter.hpp"
#include "sluice/files/line.hpp"
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

/// The source's loop when its lines are split in the lanes: reads `stream`
/// to its end and sends runs of whole lines straight into the lane channel
/// (no per-item accounting: split_lines_inlet counts the lines). Returns
/// false when the lanes are gone or the run stopped.
template <typename Options>
sluice::task<bool> send_whole_lines(byte_stream& stream, const Options& options,
                                    sluice::detail::stage_io<sluice::detail::none, line>& io) {
  whole_lines_cutter cut(options.max_line_bytes, stream.name());
  auto tx = io.output_handle();
  std::uint64_t seq = 0;
  for (;;) {
    if (io.stopped()) co_return false;
    stream_piece piece = co_await stream.next();
    const bool last = piece.size == 0;
    io.count_bytes(piece.size);  // the report's bytes: read from the file
    std::vector<line> runs;
    if (last) {
      cut.finish(runs);
    } else {
      cut.feed(piece.bytes, std::string_view(piece.bytes.data(), piece.size), runs);
    }
    piece = {};  // the runs hold the block
    if (!runs.empty()) {
      sluice::detail::chunk<line> c{seq++, std::move(runs)};
      auto sending = tx.send(c);
      if (!co_await sending) co_return false;
    }
    if (last) co_return true;
  }
}

}  // namespace sluice::files::detail
