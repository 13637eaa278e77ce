// sluice::redis::connection: one hiredis async connection driven by the
// runtime's reactor.
//
//   redis::connection c(rt, redis::endpoint::parse("unix:///tmp/r.sock"));
//   auto r = co_await c.command({"XADD", "s", "*", "d", "x"});     // result<reply>
//   auto rs = co_await c.pipeline({{"XACK", ...}, {"XINFO", ...}}); // sent back to back
//
// hiredis's event hooks (addRead/delRead/addWrite/delWrite/cleanup) become
// fd watches on the reactor; every hiredis call happens on the reactor
// thread (commands are formatted on the caller's thread, then posted); a
// reply callback only fills a oneshot, so the awaiting coroutine resumes on
// the arena, never on the reactor.
//
// Faults: commands issued while the connection is down wait for it (up to
// their timeout). A broken connection fails the commands in flight with
// error::connection and is re-established in the background with backoff
// (10 ms doubling to 1 s, jittered: sluice::retry_policy). A TCP host name is
// resolved on the runtime's blocking pool, never on the reactor thread. hiredis 0.14 has no timeouts: a reactor timer
// per command fails it with error::timeout and resets the connection, since a reply that arrives later would be matched
// to the wrong command otherwise. A server answering LOADING / BUSY / TRYAGAIN / MASTERDOWN (it restarted and is
// reading its data, ...) yields error::unavailable for the whole command or pipeline, so callers retry it like a broken
// connection. Whether a command that failed with a transport error ran on the server is unknown: callers retry
// idempotent commands only, or accept duplicates (the streams layer is at-least-once).
//
// After connecting it sends AUTH (user/password from the endpoint) and
// SELECT. Error texts never contain the password.
//
// While waits are watched (a run's stall watchdog), a coroutine awaiting a
// reply is listed in stall dumps as a Redis wait naming the command (a
// pipeline's first, and how many follow) and endpoint().to_string().
//
// Thread-safety: command() and pipeline() may be called from any thread,
// concurrently; commands of one pipeline() are contiguous on the wire.
// Lifetime: the runtime must outlive the connection; the destructor closes
// the socket on the reactor thread and fails outstanding commands with
// error::closed (on the reactor thread itself it closes right after the
// current callback instead of waiting).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/oneshot.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/redis/endpoint.hpp"
#include "sluice/redis/reply.hpp"

struct redisReply;  // hiredis's reply (hiredis/hiredis.h), for command_parsed()

namespace sluice::redis {

struct connection_options {
  /// Default per-command timeout (a blocking command adds its BLOCK time).
  std::chrono::milliseconds timeout{5000};
  /// Reconnect backoff (sluice::retry_policy's, jitter 0.2): first delay,
  /// doubled per failed attempt up to max.
  std::chrono::milliseconds reconnect_initial{10};
  std::chrono::milliseconds reconnect_max{1000};
  /// Name shown by CLIENT LIST (CLIENT SETNAME), empty for none.
  std::string client_name = {};
};

/// One command: its arguments, binary-safe.
using command_args = std::vector<std::string>;

/// Commands already in RESP form, back to back: for hot paths that format a
/// batch straight into one buffer (no command_args per command) and may send
/// it again after a broken connection. Per command: begin(argument count),
/// arg() for each argument, end().
struct formatted_commands {
  std::string wire = {};
  std::vector<std::size_t> ends = {};  ///< where each command ends in `wire`

  void begin(std::size_t args);
  void arg(std::string_view a);
  void end();

 private:
  void append_count(std::size_t n);
};

struct command_batch;  // connection.cpp

class connection {
 public:
  /// Starts connecting at once (in the background). Never throws for an
  /// unreachable server: commands report it.
  connection(runtime& rt, endpoint ep, connection_options options = {});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Sends one command; the receiver yields its reply (a server error is a
  /// reply of kind error) or a transport error. `timeout` 0: the default.
  [[nodiscard]] oneshot_receiver<result<reply>> command(const command_args& args,
                                                        std::chrono::milliseconds timeout = {}) const;

  /// Like command(), but a non-error reply is handed to `parse` on the
  /// reactor thread, straight from hiredis (valid only during the call),
  /// instead of being copied into a reply tree; the receiver then yields a
  /// nil reply. Error replies and transport errors arrive as with command().
  /// For hot paths whose replies are large (XREADGROUP): `parse` stores what
  /// it needs where the awaiting coroutine will find it (the receiver's
  /// completion orders its writes before the caller's reads). It must be
  /// quick and must not throw.
  [[nodiscard]] oneshot_receiver<result<reply>> command_parsed(const command_args& args,
                                                               std::function<void(const ::redisReply&)> parse,
                                                               std::chrono::milliseconds timeout = {}) const;

  /// Sends several commands back to back; yields their replies in order, or
  /// one transport error for the whole batch.
  [[nodiscard]] oneshot_receiver<result<std::vector<reply>>> pipeline(const std::vector<command_args>& commands,
                                                                      std::chrono::milliseconds timeout = {}) const;

  /// The same for commands formatted beforehand; `commands` is shared, not
  /// copied, so a caller can keep it to send again.
  [[nodiscard]] oneshot_receiver<result<std::vector<reply>>> pipeline(
      std::shared_ptr<const formatted_commands> commands, std::chrono::milliseconds timeout = {}) const;

  /// The endpoint (for messages: use endpoint().to_string()).
  [[nodiscard]] const redis::endpoint& endpoint() const noexcept;
  /// Successful connects so far (1 after the first; more after reconnects).
  [[nodiscard]] std::uint64_t connects() const noexcept;
  /// Connection attempts so far, failed ones included (backoff visibility).
  [[nodiscard]] std::uint64_t connect_attempts() const noexcept;

  /// Fire-and-forget form of pipeline(): `done` runs on the reactor thread
  /// with the outcome; it must be quick and must not throw.
  void send(const std::vector<command_args>& commands, std::chrono::milliseconds timeout,
            std::function<void(result<std::vector<reply>>)> done) const;
  /// The same for commands formatted beforehand (hot paths: no command_args).
  void send(std::shared_ptr<const formatted_commands> commands, std::chrono::milliseconds timeout,
            std::function<void(result<std::vector<reply>>)> done) const;

  struct state;

 private:
  void start_batch(std::shared_ptr<command_batch> b) const;

  std::shared_ptr<state> m_state;
};

}  // namespace sluice::redis
