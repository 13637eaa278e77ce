#include "sluice/files/read_options.hpp"

#include <liburing.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice::files {
namespace {

// Why no ring can be created here, or empty when one can. Probed once: the
// answer does not change during a process's life.
const std::string& ring_probe_reason() {
  static const std::string reason = [] {
    io_uring ring{};
    const int rc = ::io_uring_queue_init(4, &ring, 0);
    if (rc < 0) return "io_uring unavailable: " + std::string(std::strerror(-rc));
    // IORING_OP_READ came with Linux 5.6; older rings cannot serve us.
    struct io_uring_probe* ops = ::io_uring_get_probe_ring(&ring);
    const bool can_read = ops != nullptr && ::io_uring_opcode_supported(ops, IORING_OP_READ);
    if (ops != nullptr) ::io_uring_free_probe(ops);
    ::io_uring_queue_exit(&ring);
    return can_read ? std::string() : std::string("io_uring without IORING_OP_READ (kernel older than 5.6)");
  }();
  return reason;
}

bool forced_to_pool() {
  const char* env = std::getenv("SLUICE_FILES_IO");
  return env != nullptr && std::string_view(env) == "pool";
}

}  // namespace

bool io_uring_available() { return !forced_to_pool() && ring_probe_reason().empty(); }

std::string backend_description(const read_options& options) {
  switch (options.backend) {
    case io_backend::io_uring:
      return "io_uring";
    case io_backend::blocking_pool:
      return "blocking pool (requested)";
    case io_backend::automatic:
      break;
  }
  if (forced_to_pool()) return "blocking pool (SLUICE_FILES_IO=pool)";
  if (!ring_probe_reason().empty()) return "blocking pool (" + ring_probe_reason() + ")";
  return "io_uring";
}

namespace detail {

std::string describe_read(const read_options& options, const std::string& name) {
  std::string s = backend_description(options);
  const std::size_t block = options.block_bytes;
  s += ", block " +
       (block >= 1024 && block % 1024 == 0 ? std::to_string(block >> 10) + " KiB" : std::to_string(block) + " B");
  s += ", read-ahead " + std::to_string(options.read_ahead);
  const bool gz = options.gzip == gzip_mode::always ||
                  (options.gzip == gzip_mode::by_name && name.size() >= 3 && name.ends_with(".gz"));
  if (gz) s += ", gzip";
  if (options.gzip == gzip_mode::by_name && name.empty()) s += ", gzip for *.gz";
  return s;
}

}  // namespace detail
}  // namespace sluice::files
