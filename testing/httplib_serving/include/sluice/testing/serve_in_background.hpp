// sluice::testing::serve_in_background: runs a bound cpp-httplib server on a
// thread of its own and returns once it serves, for the test doubles and
// tests that start a real server on loopback (the fake GitHub server, the
// HTTP tests' loopback_server, one-off servers in tests).
//
//   httplib::Server server;
//   server.Get("/x", handler);
//   const int port = server.bind_to_any_port("127.0.0.1");
//   std::thread serving = sluice::testing::serve_in_background(server, 32);
//   ...
//   server.stop();
//   serving.join();
//
// Why not just wait for is_running(): cpp-httplib (0.11, Debian's) reports
// running before it builds its worker pool, and a connection is accepted only
// after the pool exists. Starting a pool's threads took 1-3 s under TSan on a
// loaded machine (256 threads), so a test's first request waited that long:
// past a 1 s inactivity limit, or past a rate limit's reset the test had just
// set up. Here the server counts as started once the pool exists as well.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <thread>

namespace sluice::testing {

/// Serves `server` (already bound: bind_to_port / bind_to_any_port) on a
/// new thread with a pool of `pool_threads` worker threads (0: cpp-httplib's
/// default). Each keep-alive connection holds a pool thread for its whole
/// life, so the pool must cover the connections a test opens at once.
/// Returns the serving thread once the server accepts connections; stop
/// the server, then join it. Replaces the server's new_task_queue. Throws
/// std::runtime_error when the accept loop ends before it started (the
/// thread is joined then).
[[nodiscard]] inline std::thread serve_in_background(httplib::Server& server, std::size_t pool_threads = 0) {
  struct progress {
    std::atomic<bool> pool_built{false};
    std::atomic<bool> ended{false};
  };
  auto state = std::make_shared<progress>();
  const std::size_t threads = pool_threads != 0 ? pool_threads : CPPHTTPLIB_THREAD_POOL_COUNT;
  server.new_task_queue = [threads, state] {
    auto* pool = new httplib::ThreadPool(threads);
    state->pool_built.store(true);
    return pool;
  };
  std::thread serving([&server, state] {
    server.listen_after_bind();
    state->ended.store(true);
  });
  // is_running() too: a stop() before the accept loop runs would be lost.
  while (!(server.is_running() && state->pool_built.load())) {
    if (state->ended.load()) {
      serving.join();
      throw std::runtime_error("serve_in_background: the server's accept loop ended before it started");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return serving;
}

}  // namespace sluice::testing
