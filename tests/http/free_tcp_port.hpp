// A TCP port on 127.0.0.1 with nothing listening on it right now, for tests
// that need a refused connection or a port to start a server on.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace sluice::test {

/// The kernel's choice for port 0 on 127.0.0.1: bound, then released, so
/// nothing listens there until a test starts something on it.
inline int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_tcp_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||  // NOLINT: the sockets API
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {  // NOLINT: the sockets API
    ::close(fd);
    throw std::runtime_error("free_tcp_port: no free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace sluice::test
