// gzip decoding on the fly: compressed pieces from the raw reader in,
// decompressed blocks of `block_bytes` out (only the last one shorter).
// Concatenated members (as `cat a.gz b.gz` makes) are decoded one after the
// other. A file that ends inside a member is an error ("truncated"), as is
// data that is not gzip; an empty file is an empty stream.
#include <zlib.h>
#include <stdexcept>
#include <string>
#include <utility>

#include "block_pool.hpp"
#include "file_stream.hpp"

namespace sluice::files::detail {
namespace {

class gzip_stream final : public byte_stream {
 public:
  gzip_stream(std::shared_ptr<byte_stream> inner, const read_options& options)
      : m_inner(std::move(inner)), m_block(options.block_bytes), m_pool(m_block, 2) {
    // 16 + MAX_WBITS: a gzip header and trailer, not raw deflate or zlib.
    if (::inflateInit2(&m_z, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~gzip_stream() override { ::inflateEnd(&m_z); }
  gzip_stream(const gzip_stream&) = delete;
  gzip_stream& operator=(const gzip_stream&) = delete;

  task<stream_piece> next() override {
    if (m_end) co_return stream_piece{};
    shared_bytes out = m_pool.take();
    std::size_t produced = 0;
    while (produced < m_block) {
      if (m_z.avail_in == 0) {
        if (m_inner_end) break;
        m_in = co_await m_inner->next();
        if (m_in.size == 0) {
          m_inner_end = true;
          break;
        }
        m_z.next_in = reinterpret_cast<Bytef*>(m_in.bytes.data());
        m_z.avail_in = static_cast<uInt>(m_in.size);
      }
      if (m_member_done) {
        // More input after a member's end: the next member starts here.
        ::inflateReset(&m_z);
        m_member_done = false;
      }
      m_started = true;
      m_z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      m_z.avail_out = static_cast<uInt>(m_block - produced);
      const int rc = ::inflate(&m_z, Z_NO_FLUSH);
      produced = m_block - m_z.avail_out;
      if (rc == Z_STREAM_END) {
        m_member_done = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        fail(rc);
      }
    }
    if (m_inner_end && m_started && !m_member_done)
      throw std::runtime_error("sluice::files: " + name() + ": truncated gzip data (the file ends inside a member)");
    if (produced == 0) {
      m_end = true;
      co_return stream_piece{};
    }
    stream_piece piece{std::move(out), produced, m_offset};
    m_offset += produced;
    co_return piece;
  }

  void cancel() noexcept override { m_inner->cancel(); }
  task<void> close() override { co_await m_inner->close(); }
  [[nodiscard]] std::string backend() const override { return m_inner->backend() + ", gzip"; }
  [[nodiscard]] const std::string& name() const noexcept override { return m_inner->name(); }

 private:
  [[noreturn]] void fail(int rc) const {
    std::string why = m_z.msg != nullptr ? m_z.msg : ("zlib error " + std::to_string(rc));
    throw std::runtime_error("sluice::files: " + name() + ": not valid gzip data: " + why);
  }

  std::shared_ptr<byte_stream> m_inner;
  std::size_t m_block;
  block_pool_ref m_pool;  // the blocks decoded into, recycled (block_pool.hpp)
  z_stream m_z{};
  stream_piece m_in;
  std::uint64_t m_offset = 0;
  bool m_inner_end = false;
  bool m_member_done = false;
  bool m_started = false;
  bool m_end = false;
};

}  // namespace

std::shared_ptr<byte_stream> make_gzip_stream(std::shared_ptr<byte_stream> inner, const read_options& options) {
  return std::make_shared<gzip_stream>(std::move(inner), options);
}

}  // namespace sluice::files::detail
