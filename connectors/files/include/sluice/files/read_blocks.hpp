// sluice::files::read_blocks(path, bytes): a file as blocks, for parsers
// that split the bytes themselves (CSV with quoted newlines, binary records).
//
//   sluice::run(rt, files::read_blocks("data.bin", 1 << 20)
//                   | sluice::parallel_map([](const files::file_block& b) { return parse(b.bytes()); })
//                   | ...);
//
// Block-aligned: block k holds the bytes [k * bytes, (k + 1) * bytes) of the
// file (decompressed, for .gz), every block full except the last; an empty
// file gives no blocks. (A pipe or FIFO gives blocks as its reads return,
// shorter ones included; offset() still says where each starts.) A block
// keeps its buffer alive while it exists, like files::line. Blocks are
// coarse items: give the next stage a small `.capacity` (in blocks).
//
// Reads go through io_uring or the blocking pool, with read-ahead, as for
// lines() (read_options.hpp). Errors fail the run with the path in the
// message; cancellation stops it within one block.
#pragma once

#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/files/detail/byte_stream.hpp"
#include "sluice/files/line.hpp"
#include "sluice/files/read_options.hpp"
#include "sluice/stages/pipeline.hpp"

namespace sluice::files {

/// Options of read_blocks(); the block size is its `bytes` argument.
struct blocks_options {
  /// Shown in describe() and reports; defaults to "read_blocks(<path>)".
  std::string name = {};
  /// Read-ahead, backend, gzip (block_bytes is replaced by `bytes`).
  read_options read = {};
};

namespace detail {

class blocks_source {
 public:
  blocks_source(std::filesystem::path path, blocks_options options)
      : m_path(std::move(path)), m_options(std::move(options)) {}

  [[nodiscard]] sluice::detail::stage_info info() const {
    return {.name = m_options.name.empty() ? "read_blocks(" + m_path.string() + ")" : m_options.name,
            .kind = "source",
            .parameters = describe_read(m_options.read, m_path.string()),
            .capacity = 0};
  }

  template <typename>
  task<void> run(sluice::detail::stage_io<sluice::detail::none, file_block>& io) {
    std::shared_ptr<byte_stream> stream = open_stream(io.rt(), m_path, m_options.read);
    io.state().on_cancel([stream] { stream->cancel(); });
    std::exception_ptr error;
    try {
      co_await pump(*stream, io);
    } catch (...) {
      error = std::current_exception();
    }
    co_await stream->close();
    if (error) std::rethrow_exception(error);
  }

 private:
  static task<void> pump(byte_stream& stream, sluice::detail::stage_io<sluice::detail::none, file_block>& io) {
    while (!io.stopped()) {
      stream_piece piece = co_await stream.next();
      if (piece.size == 0) co_return;
      io.count_bytes(piece.size);
      std::vector<file_block> one;
      one.emplace_back(piece.offset, std::string_view(piece.bytes.data(), piece.size), std::move(piece.bytes));
      sluice::detail::stage_stats::bump(io.stats().items_in, 1);
      auto sending = io.send(one, 1);
      if (!co_await sending) co_return;
    }
  }

  std::filesystem::path m_path;
  blocks_options m_options;
};

}  // namespace detail

/// The file at `path` as blocks of `bytes` bytes (see the file comment).
inline flow<file_block> read_blocks(std::filesystem::path path, std::size_t bytes, blocks_options options = {}) {
  options.read.block_bytes = bytes;
  return sluice::detail::make_source<file_block>(detail::blocks_source(std::move(path), std::move(options)), 1);
}

}  // namespace sluice::files
