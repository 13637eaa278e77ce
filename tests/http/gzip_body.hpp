// A gzip-wrapped copy of a body, for test servers that answer with
// Content-Encoding: gzip (the client must decode it transparently).
#pragma once

#include <zlib.h>

#include <stdexcept>
#include <string>

namespace sluice::test {

inline std::string gzip(const std::string& plain) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)  // 15+16: gzip wrapper
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(plain.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));  // NOLINT: zlib's C API
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());  // NOLINT: zlib's C API
  z.avail_out = static_cast<uInt>(out.size());
  const int done = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (done != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

}  // namespace sluice::test
