#include "sluice/redis/connection.hpp"

#include "reply_arena.hpp"
#include "sluice/core/retry.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <charconv>
#include <deque>
#include <functional>
#include <future>
#include <utility>

namespace sluice::redis {
namespace {

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = reply::kind::nil;
  }
  return out;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The addresses of `host` as IP literals, IPv4 first (hiredis's own
// preference), at most 16. Blocks (DNS): runs on the blocking pool.
result<std::vector<std::string>> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    std::string why = rc == EAI_SYSTEM ? std::string("system error") : std::string(gai_strerror(rc));
    return error{error::kind::connection, "cannot resolve host name: " + why};
  }
  std::vector<std::string> v4, v6;
  for (addrinfo* a = found; a && v4.size() + v6.size() < 16; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(a->ai_addr);
      if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) v4.emplace_back(text);
    } else if (a->ai_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ai_addr);
      if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text)) v6.emplace_back(text);
    }
  }
  freeaddrinfo(found);
  v4.insert(v4.end(), std::make_move_iterator(v6.begin()), std::make_move_iterator(v6.end()));
  if (v4.empty()) return error{error::kind::connection, "cannot resolve host name: no IPv4 or IPv6 address"};
  return v4;
}

}  // namespace

bool is_transient(const reply& r) noexcept {
  if (!r.is_error()) return false;
  auto t = r.text();
  return t.starts_with("LOADING") || t.starts_with("BUSY ") || t.starts_with("TRYAGAIN") || t.starts_with("MASTERDOWN");
}

std::string describe(const reply& r) {
  static constexpr const char* names[] = {"string", "status", "error", "integer", "nil", "array"};
  std::string out = names[static_cast<int>(r.type)];
  if (r.type == reply::kind::integer) return out + " " + std::to_string(r.integer);
  if (r.type == reply::kind::array) return out + " of " + std::to_string(r.elements.size());
  if (r.text().empty()) return out;
  out += " \"";
  std::size_t n = 0;
  for (unsigned char c : r.text()) {
    if (++n > 200) {
      out += "...";
      break;
    }
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void formatted_commands::begin(std::size_t args) {
  wire += '*';
  append_count(args);
  wire += "\r\n";
}

void formatted_commands::arg(std::string_view a) {
  wire += '$';
  append_count(a.size());
  wire += "\r\n";
  wire += a;
  wire += "\r\n";
}

void formatted_commands::end() { ends.push_back(wire.size()); }

void formatted_commands::append_count(std::size_t n) {
  char buf[24];
  auto [last, ec] = std::to_chars(buf, buf + sizeof buf, n);
  wire.append(buf, last);
}

// A group of commands sent back to back and answered as one.
struct command_batch {
  std::shared_ptr<const formatted_commands> commands;  // RESP, back to back
  std::vector<reply> replies;
  // Delivers the outcome once (pipeline: all replies; command: the first).
  std::function<void(result<std::vector<reply>>)> deliver;
  // Set: non-error replies go here (reactor thread) instead of `replies`.
  std::function<void(const redisReply&)> parse;
  std::chrono::milliseconds timeout{0};
  reactor::timer_id timer = 0;
  bool has_timer = false;
  bool sent = false;
  bool done = false;  // reactor thread only
};

struct connection::state : std::enable_shared_from_this<connection::state> {
  runtime* m_rt;
  redis::endpoint m_endpoint;
  const std::string m_where;  // m_endpoint.to_string() (no password): in errors and wait labels
  connection_options m_options;
  std::atomic<std::uint64_t> m_connects{0};
  std::atomic<std::uint64_t> m_connect_attempts{0};

  // Reactor thread only.
  redisAsyncContext* m_ac = nullptr;
  std::uint64_t m_generation = 0;
  bool m_ready = false;
  bool m_closing = false;
  bool m_resolving = false;
  std::uint64_t m_attempts = 0;
  int m_fd = -1;
  std::uint32_t m_mask = 0;
  std::deque<std::shared_ptr<command_batch>> m_waiting;
  // Reconnect delays: the project's one backoff (retry.hpp), jittered so
  // workers that lost the same server do not reconnect in lockstep.
  retry_policy<error> m_reconnect_policy;
  std::size_t m_failed_attempts = 0;  // since the last successful connect
  reactor::timer_id m_reconnect_timer = 0;
  bool m_reconnect_armed = false;
  std::string m_last_error = "not connected yet";
  // The current context's reply objects (reply_arena.hpp): one per context,
  // so a reply hiredis 0.14 never frees (an unexpected error reply before a
  // disconnect) pins only its own context's arena.
  detail::reply_arena* m_arena = nullptr;

  state(runtime& rt, redis::endpoint ep, connection_options options)
      : m_rt(&rt),
        m_endpoint(std::move(ep)),
        m_where(m_endpoint.to_string()),
        m_options(std::move(options)),
        m_reconnect_policy{.base_delay = m_options.reconnect_initial, .max_delay = m_options.reconnect_max} {}
  ~state() {
    if (m_arena) m_arena->release();
  }
  state(const state&) = delete;
  state& operator=(const state&) = delete;

  reactor& io() const { return m_rt->io(); }
  const std::string& where() const noexcept { return m_where; }
  std::string clean(std::string text) const {
    return redact(redact(std::move(text), m_endpoint.password), m_endpoint.user.size() > 3 ? m_endpoint.user : "");
  }

  // --- batches ---------------------------------------------------------

  void finish(const std::shared_ptr<command_batch>& b, result<std::vector<reply>> r) {
    if (b->done) return;
    b->done = true;
    if (b->has_timer) io().cancel_timer(b->timer);
    auto deliver = std::move(b->deliver);
    deliver(std::move(r));
  }

  void fail(const std::shared_ptr<command_batch>& b, error::kind kind, std::string message) {
    finish(b, error{kind, clean(std::move(message))});
  }

  // One per batch, shared by its commands' callbacks: hiredis calls every
  // registered callback exactly once (with a null reply when the context
  // goes away), and the last one frees it.
  struct callback_ref {
    std::shared_ptr<command_batch> batch;
    std::shared_ptr<state> owner;
    std::size_t outstanding = 0;
  };

  static void on_reply(redisAsyncContext*, void* r, void* privdata) {
    auto* raw = static_cast<callback_ref*>(privdata);
    std::unique_ptr<callback_ref> last(--raw->outstanding == 0 ? raw : nullptr);
    callback_ref* ref = raw;
    auto& b = ref->batch;
    if (b->done) return;
    if (!r) {
      ref->owner->fail(b, error::kind::connection,
                       "redis " + ref->owner->where() + ": connection lost with the command in flight (" +
                           ref->owner->m_last_error + ")");
      return;
    }
    const auto* rr = static_cast<const redisReply*>(r);
    if (b->parse && rr->type != REDIS_REPLY_ERROR) {
      b->parse(*rr);
      b->replies.emplace_back();  // nil: the caller has what parse kept
    } else {
      b->replies.push_back(convert(rr));
    }
    if (b->replies.size() < b->commands->ends.size()) return;
    for (const auto& one : b->replies) {
      if (is_transient(one)) {
        ref->owner->fail(b, error::kind::unavailable, "redis " + ref->owner->where() + ": " + describe(one));
        return;
      }
    }
    ref->owner->finish(b, std::move(b->replies));
  }

  // A command's timeout: its own, or the connection's default (0: none given).
  [[nodiscard]] std::chrono::milliseconds timeout_or_default(std::chrono::milliseconds own) const noexcept {
    return own.count() > 0 ? own : m_options.timeout;
  }

  void arm_timer(const std::shared_ptr<command_batch>& b) {
    const auto timeout = timeout_or_default(b->timeout);
    std::weak_ptr<command_batch> weak_batch = b;
    std::weak_ptr<state> weak_self = weak_from_this();
    b->has_timer = true;
    b->timer = io().add_timer(reactor::clock::now() + timeout, [weak_batch, weak_self, timeout] {
      auto batch = weak_batch.lock();
      auto self = weak_self.lock();
      if (!batch || !self || batch->done) return;
      batch->has_timer = false;
      bool was_sent = batch->sent;
      self->fail(batch, error::kind::timeout,
                 "redis " + self->where() + ": no reply within " + std::to_string(timeout.count()) + " ms" +
                     (self->m_ready ? "" : " (not connected: " + self->m_last_error + ")"));
      // The late reply would be taken for the next command's: start afresh.
      if (was_sent) self->reset("command timed out");
    });
  }

  void start(std::shared_ptr<command_batch> b) {
    if (m_closing) {
      fail(b, error::kind::closed, "redis " + where() + ": connection closed");
      return;
    }
    arm_timer(b);
    if (m_ready) {
      send(b);
    } else {
      m_waiting.push_back(std::move(b));
    }
  }

  void send(const std::shared_ptr<command_batch>& b) {
    if (b->done) return;
    b->sent = true;
    const auto& wire = b->commands->wire;
    const auto& ends = b->commands->ends;
    const std::size_t n = ends.size();
    auto* ref = new callback_ref{b, shared_from_this(), n};
    std::size_t begin = 0;
    for (std::size_t k = 0; k < n; ++k) {
      if (redisAsyncFormattedCommand(m_ac, &state::on_reply, ref, wire.data() + begin, ends[k] - begin) != REDIS_OK) {
        // Commands 0..k-1 are registered and will be called back; the rest never.
        ref->outstanding -= n - k;
        if (ref->outstanding == 0) delete ref;
        fail(b, error::kind::connection, "redis " + where() + ": connection is shutting down");
        return;
      }
      begin = ends[k];
    }
  }

  // --- hiredis event hooks -> reactor watches ---------------------------

  // hiredis toggles write interest around every send: rearm/park keep the
  // one registration (no allocation, no epoll_ctl when unchanged). hiredis
  // calls cleanup (unwatch) before it closes the fd, as park() requires.
  void update_watch() {
    if (m_fd < 0) return;
    if (m_mask == 0) {
      io().park(m_fd);
      return;
    }
    if (io().rearm(m_fd, m_mask)) return;
    std::weak_ptr<state> weak_self = weak_from_this();
    auto generation = m_generation;
    io().watch(m_fd, m_mask, [weak_self, generation](std::uint32_t events) {
      auto self = weak_self.lock();
      if (!self || !self->m_ac || self->m_generation != generation) return;
      redisAsyncContext* ac = self->m_ac;
      if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) redisAsyncHandleRead(ac);
      // The read may have freed the context (server closed the connection).
      if ((events & EPOLLOUT) && self->m_ac == ac && self->m_generation == generation) redisAsyncHandleWrite(ac);
    });
  }
  static state* of(void* data) { return static_cast<state*>(data); }
  static void add_read(void* d) {
    of(d)->m_mask |= EPOLLIN;
    of(d)->update_watch();
  }
  static void del_read(void* d) {
    of(d)->m_mask &= ~static_cast<std::uint32_t>(EPOLLIN);
    of(d)->update_watch();
  }
  static void add_write(void* d) {
    of(d)->m_mask |= EPOLLOUT;
    of(d)->update_watch();
  }
  static void del_write(void* d) {
    of(d)->m_mask &= ~static_cast<std::uint32_t>(EPOLLOUT);
    of(d)->update_watch();
  }
  static void cleanup(void* d) {
    auto* s = of(d);
    if (s->m_fd >= 0) s->io().unwatch(s->m_fd);
    s->m_mask = 0;
    s->m_fd = -1;
  }

  // --- connection lifecycle ---------------------------------------------

  // A host name is resolved on the runtime's blocking pool (getaddrinfo
  // blocks, up to the resolver's timeouts), never on the reactor thread;
  // hiredis then connects to an IP literal, which it parses without a lookup.
  // Every attempt resolves afresh (the name may move after a failover) and
  // takes the next of the addresses, so a dead address is not retried forever.
  void connect() {
    m_reconnect_armed = false;
    if (m_closing || m_ac || m_resolving) return;
    ++m_attempts;
    m_connect_attempts.fetch_add(1, std::memory_order_relaxed);
    if (m_endpoint.is_unix()) {
      connect_to(nullptr);
    } else if (is_ip_literal(m_endpoint.host)) {
      connect_to(m_endpoint.host.c_str());
    } else {
      resolve_then_connect();
    }
  }

  void resolve_then_connect() {
    m_resolving = true;
    m_last_error = "resolving " + m_endpoint.host;
    std::weak_ptr<state> weak_self = weak_from_this();
    // The reactor outlives the blocking pool's jobs (runtime member order).
    reactor* reactor_ptr = &io();
    auto done = m_rt->spawn_blocking([weak_self, reactor_ptr, host = m_endpoint.host] {
      auto addresses = resolve_host(host);
      reactor_ptr->post([weak_self, addresses = std::move(addresses)]() mutable {
        if (auto self = weak_self.lock()) self->resolved(std::move(addresses));
      });
    });
    (void)done;  // the job reports through the post above
  }

  void resolved(result<std::vector<std::string>> addresses) {
    m_resolving = false;
    if (m_closing || m_ac) return;
    if (!addresses) {
      m_last_error = clean(addresses.error().message + " (" + m_endpoint.host + ")");
      schedule_reconnect();
      return;
    }
    const auto& list = *addresses;
    connect_to(list[(m_attempts - 1) % list.size()].c_str());
  }

  // `ip` null: the endpoint's unix socket.
  void connect_to(const char* ip) {
    redisAsyncContext* ac =
        ip ? redisAsyncConnect(ip, m_endpoint.port) : redisAsyncConnectUnix(m_endpoint.unix_path.c_str());
    if (!ac) {
      m_last_error = "out of memory";
      schedule_reconnect();
      return;
    }
    if (ac->err) {
      m_last_error = clean(ac->errstr);
      redisAsyncFree(ac);
      schedule_reconnect();
      return;
    }
    ++m_generation;
    m_ac = ac;
    m_fd = ac->c.fd;
    if (m_arena) m_arena->release();
    m_arena = new detail::reply_arena();
    m_arena->attach(ac->c.reader);
    m_mask = 0;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = &state::add_read;
    ac->ev.delRead = &state::del_read;
    ac->ev.addWrite = &state::add_write;
    ac->ev.delWrite = &state::del_write;
    ac->ev.cleanup = &state::cleanup;
    redisAsyncSetDisconnectCallback(ac, &state::on_disconnect);
    redisAsyncSetConnectCallback(ac, &state::on_connect);  // arms the write watch
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto* s = of(ac->data);
    if (s->m_ac != ac) return;
    if (status != REDIS_OK) {
      // hiredis frees the context after this callback.
      s->m_last_error = s->clean(ac->errstr);
      s->m_ac = nullptr;
      s->m_ready = false;
      s->schedule_reconnect();
      return;
    }
    s->m_failed_attempts = 0;
    s->m_connects.fetch_add(1, std::memory_order_relaxed);
    s->send_preamble();
    s->m_ready = true;
    s->m_last_error = "connected";
    while (!s->m_waiting.empty()) {
      auto b = std::move(s->m_waiting.front());
      s->m_waiting.pop_front();
      s->send(b);
      if (!s->m_ready) break;
    }
  }

  // AUTH, CLIENT SETNAME and SELECT go first; their errors become the
  // connection's last error (a later command then reports NOAUTH itself).
  void send_preamble() {
    auto issue = [this](std::vector<std::string> args) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      redisAsyncCommandArgv(m_ac, &state::on_preamble_reply, this, static_cast<int>(argv.size()), argv.data(),
                            lens.data());
    };
    if (!m_endpoint.password.empty()) {
      if (m_endpoint.user.empty()) {
        issue({"AUTH", m_endpoint.password});
      } else {
        issue({"AUTH", m_endpoint.user, m_endpoint.password});
      }
    }
    if (!m_options.client_name.empty()) issue({"CLIENT", "SETNAME", m_options.client_name});
    if (m_endpoint.db != 0) issue({"SELECT", std::to_string(m_endpoint.db)});
  }

  static void on_preamble_reply(redisAsyncContext*, void* r, void* privdata) {
    auto* s = of(privdata);
    auto* rep = static_cast<redisReply*>(r);
    if (rep && rep->type == REDIS_REPLY_ERROR) s->m_last_error = s->clean(std::string(rep->str, rep->len));
  }

  static void on_disconnect(const redisAsyncContext* ac, int status) {
    auto* s = of(ac->data);
    if (s->m_ac != ac) return;  // a reset we started ourselves
    s->m_last_error = status == REDIS_OK ? "server closed the connection" : s->clean(ac->errstr);
    s->m_ac = nullptr;
    s->m_ready = false;
    s->schedule_reconnect();
  }

  // Drops the current context (failing what is in flight) and reconnects.
  void reset(const char* why) {
    if (!m_ac) return;
    redisAsyncContext* ac = std::exchange(m_ac, nullptr);
    m_ready = false;
    m_last_error = why;
    redisAsyncFree(ac);  // in-flight callbacks run with a null reply
    schedule_reconnect();
  }

  void schedule_reconnect() {
    if (m_closing || m_reconnect_armed) return;
    m_reconnect_armed = true;
    std::weak_ptr<state> weak_self = weak_from_this();
    const auto delay = m_reconnect_policy.backoff(++m_failed_attempts, sluice::detail::retry_random_unit());
    m_reconnect_timer = io().add_timer(reactor::clock::now() + delay, [weak_self] {
      if (auto self = weak_self.lock()) self->connect();
    });
  }

  void close() {
    m_closing = true;
    if (m_reconnect_armed) io().cancel_timer(m_reconnect_timer);
    m_reconnect_armed = false;
    if (m_ac) {
      redisAsyncContext* ac = std::exchange(m_ac, nullptr);
      m_ready = false;
      m_last_error = "connection closed";
      redisAsyncFree(ac);
    }
    while (!m_waiting.empty()) {
      auto b = std::move(m_waiting.front());
      m_waiting.pop_front();
      fail(b, error::kind::closed, "redis " + where() + ": connection closed");
    }
  }
};

connection::connection(runtime& rt, redis::endpoint ep, connection_options options)
    : m_state(std::make_shared<state>(rt, std::move(ep), std::move(options))) {
  rt.io().post([s = m_state] { s->connect(); });
}

connection::~connection() {
  auto& io = m_state->io();
  if (io.on_reactor_thread()) {
    // Possibly inside one of this connection's own hiredis callbacks (a reply
    // callback dropped the last owner): freeing the context here would free
    // it under hiredis's feet. Close after the callback; the post keeps the
    // state alive until then.
    io.post([s = m_state] { s->close(); });
    return;
  }
  std::promise<void> closed;
  io.post([s = m_state, &closed] {
    s->close();
    closed.set_value();
  });
  closed.get_future().wait();
}

namespace {

// RESP on the caller's thread, every command of a batch into one buffer
// (hiredis copies each command's bytes from it into its output buffer).
std::shared_ptr<formatted_commands> format_all(const std::vector<command_args>& commands) {
  auto out = std::make_shared<formatted_commands>();
  std::size_t size = 0;
  for (const auto& args : commands)
    for (const auto& a : args) size += a.size() + 16;
  out->wire.reserve(size + 16 * commands.size());
  out->ends.reserve(commands.size());
  for (const auto& args : commands) {
    out->begin(args.size());
    for (const auto& a : args) out->arg(a);
    out->end();
  }
  return out;
}

// The first command's name in RESP text ("*<n>\r\n$<len>\r\n<name>\r\n"),
// empty when `wire` does not start like that.
std::string_view first_command_name(std::string_view wire) {
  const auto dollar = wire.find("\r\n$");
  if (wire.empty() || wire.front() != '*' || dollar == std::string_view::npos) return {};
  const auto length_at = dollar + 3;
  const auto length_end = wire.find("\r\n", length_at);
  std::size_t length = 0;
  if (length_end == std::string_view::npos ||
      std::from_chars(wire.data() + length_at, wire.data() + length_end, length).ptr != wire.data() + length_end)
    return {};
  const auto name_at = length_end + 2;
  if (name_at > wire.size() || length > wire.size() - name_at) return {};
  return wire.substr(name_at, length);
}

// A command's name: its first argument (empty for none).
std::string_view command_name(const command_args& args) {
  return args.empty() ? std::string_view() : std::string_view(args.front());
}

// Labels the wait of a coroutine awaiting `rx` for a stall dump: the first
// command's name (at most 32 bytes; the dump escapes it), how many follow,
// and the server (`where`: endpoint::to_string(), never the password), with
// the command's deadline (`timeout` from now: the reactor arms its timer a
// hop later, so the wait ends within a hop of it).
// Only while waits are watched: the label is read only then.
template <typename T>
void label_wait(oneshot_receiver<T>& rx, std::string_view first, std::size_t count, const std::string& where,
                std::chrono::milliseconds timeout) {
  if (!waits_watched()) return;
  std::string what(first.empty() ? std::string_view("commands") : first.substr(0, 32));
  if (count > 1) what += " and " + std::to_string(count - 1) + " more";
  what += " on " + where;
  rx.label_wait(wait_kind::redis, std::move(what), std::chrono::steady_clock::now() + timeout);
}

}  // namespace

void connection::send(const std::vector<command_args>& commands, std::chrono::milliseconds timeout,
                      std::function<void(result<std::vector<reply>>)> deliver) const {
  auto b = std::make_shared<command_batch>();
  b->deliver = std::move(deliver);
  b->timeout = timeout;
  b->commands = format_all(commands);
  start_batch(std::move(b));
}

void connection::send(std::shared_ptr<const formatted_commands> commands, std::chrono::milliseconds timeout,
                      std::function<void(result<std::vector<reply>>)> deliver) const {
  auto b = std::make_shared<command_batch>();
  b->deliver = std::move(deliver);
  b->timeout = timeout;
  b->commands = std::move(commands);
  start_batch(std::move(b));
}

void connection::start_batch(std::shared_ptr<command_batch> b) const {
  b->replies.reserve(b->commands->ends.size());
  if (b->commands->ends.empty()) {
    b->deliver(std::vector<reply>{});
    return;
  }
  m_state->io().post([s = m_state, b = std::move(b)] { s->start(b); });
}

oneshot_receiver<result<std::vector<reply>>> connection::pipeline(std::shared_ptr<const formatted_commands> commands,
                                                                  std::chrono::milliseconds timeout) const {
  auto [tx, rx] = oneshot<result<std::vector<reply>>>();
  auto shared_tx = std::make_shared<oneshot_sender<result<std::vector<reply>>>>(std::move(tx));
  auto b = std::make_shared<command_batch>();
  b->deliver = [shared_tx](result<std::vector<reply>> r) { shared_tx->send(std::move(r)); };
  b->timeout = timeout;
  label_wait(rx, first_command_name(commands->wire), commands->ends.size(), m_state->where(),
             m_state->timeout_or_default(timeout));
  b->commands = std::move(commands);
  start_batch(std::move(b));
  return std::move(rx);
}

oneshot_receiver<result<std::vector<reply>>> connection::pipeline(const std::vector<command_args>& commands,
                                                                  std::chrono::milliseconds timeout) const {
  auto [tx, rx] = oneshot<result<std::vector<reply>>>();
  auto shared_tx = std::make_shared<oneshot_sender<result<std::vector<reply>>>>(std::move(tx));
  send(commands, timeout, [shared_tx](result<std::vector<reply>> r) { shared_tx->send(std::move(r)); });
  label_wait(rx, commands.empty() ? std::string_view() : command_name(commands.front()), commands.size(),
             m_state->where(), m_state->timeout_or_default(timeout));
  return std::move(rx);
}

oneshot_receiver<result<reply>> connection::command(const command_args& args, std::chrono::milliseconds timeout) const {
  auto [tx, rx] = oneshot<result<reply>>();
  auto shared_tx = std::make_shared<oneshot_sender<result<reply>>>(std::move(tx));
  std::vector<command_args> one{args};
  send(one, timeout, [shared_tx](result<std::vector<reply>> r) {
    if (!r) {
      shared_tx->send(r.error());
    } else {
      shared_tx->send(std::move(std::move(r).value().front()));
    }
  });
  label_wait(rx, command_name(args), 1, m_state->where(), m_state->timeout_or_default(timeout));
  return std::move(rx);
}

oneshot_receiver<result<reply>> connection::command_parsed(const command_args& args,
                                                           std::function<void(const ::redisReply&)> parse,
                                                           std::chrono::milliseconds timeout) const {
  auto [tx, rx] = oneshot<result<reply>>();
  auto b = std::make_shared<command_batch>();
  auto shared_tx = std::make_shared<oneshot_sender<result<reply>>>(std::move(tx));
  b->deliver = [shared_tx](result<std::vector<reply>> r) {
    if (!r) {
      shared_tx->send(r.error());
    } else {
      shared_tx->send(std::move(std::move(r).value().front()));
    }
  };
  b->parse = std::move(parse);
  b->timeout = timeout;
  const std::vector<command_args> one{args};
  b->commands = format_all(one);
  start_batch(std::move(b));
  label_wait(rx, command_name(args), 1, m_state->where(), m_state->timeout_or_default(timeout));
  return std::move(rx);
}

const redis::endpoint& connection::endpoint() const noexcept { return m_state->m_endpoint; }
std::uint64_t connection::connects() const noexcept { return m_state->m_connects.load(std::memory_order_relaxed); }
std::uint64_t connection::connect_attempts() const noexcept {
  return m_state->m_connect_attempts.load(std::memory_order_relaxed);
}

}  // namespace sluice::redis
