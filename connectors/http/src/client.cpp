#include "sluice/http/client.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <initializer_list>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "curl_share.hpp"
#include "sluice/core/detail/resume.hpp"
#include "sluice/core/trace.hpp"
#include "sluice/core/wait_note.hpp"
#include "sluice/http/redact.hpp"

namespace sluice::http {

namespace {

error make_error(error::kind what, std::string_view url, std::string message, int curl_code = 0) {
  return error{what, redact_url(url), std::move(message), curl_code};
}

error::kind classify(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return error::kind::timeout;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return error::kind::invalid;
    default:
      return error::kind::transport;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// The host (and port) of a URL, as written: what traces and dumps show.
std::string_view host_of(std::string_view url) {
  auto begin = url.find("://");
  begin = begin == std::string_view::npos ? 0 : begin + 3;
  auto end = url.find_first_of("/?#", begin);
  auto host = url.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
  if (auto at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  return host;
}

std::string_view kind_name(error::kind what) {
  switch (what) {
    case error::kind::transport:
      return "transport error";
    case error::kind::timeout:
      return "timeout";
    case error::kind::cancelled:
      return "cancelled";
    case error::kind::invalid:
      return "invalid request";
    case error::kind::too_large:
      return "body too large";
  }
  return "error";
}

// The scheme libcurl will use: https only when the URL says so (in any
// case); a URL without a scheme is taken as http, as libcurl guesses.
bool is_https(std::string_view url) { return url.size() >= 6 && headers::iequals(url.substr(0, 6), "https:"); }

long to_long(std::size_t n) { return static_cast<long>(std::min<std::size_t>(n, 0x7fffffff)); }

// Why `name: value` must not be sent, or nullopt (defined below).
std::optional<std::string> header_problem(std::string_view name, std::string_view value);

// libcurl's body and header callbacks (defined below); their user pointer is
// the handle's easy_slot, whose `current` is the transfer.
std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user);
std::size_t on_header_line(char* data, std::size_t size, std::size_t count, void* user);

}  // namespace

namespace detail {

struct transfer;

// An easy handle and what this client has set on it. The callbacks' and
// libcurl's pointers (CURLOPT_PRIVATE, WRITEDATA, HEADERDATA, ERRORBUFFER)
// point here, set once when the handle is made, and `current` names the
// transfer using the handle; the per-request options remember the value the
// handle holds, so prepare() calls curl_easy_setopt only for what differs
// from the handle's last request (libcurl keeps every option until it is
// set again, and changes none of these itself). A plain GET then costs one
// setopt (the URL) instead of fifteen, and leaves the rest of the handle's
// option block untouched on the sending thread's core.
struct easy_slot {
  explicit easy_slot(CURL* e) noexcept : easy(e) {}
  ~easy_slot() { curl_easy_cleanup(easy); }
  easy_slot(const easy_slot&) = delete;
  easy_slot& operator=(const easy_slot&) = delete;

  CURL* const easy;
  transfer* current = nullptr;  // set by prepare() (sending thread) before the transfer is submitted
  char error_text[CURL_ERROR_SIZE] = {};

  // The per-request options as the handle holds them; k_unset: not yet
  // set by us (libcurl's default, whatever it is), so the next request sets it.
  static constexpr long k_unset = -1;
  long pipewait = k_unset;
  long connect_timeout_ms = k_unset;
  long timeout_ms = k_unset;
  long low_speed_limit = k_unset;
  long low_speed_time = k_unset;
  const std::string* proxy = nullptr;  // one of the client's proxy strings, when set per request
  bool plain_get = false;              // the method options are those of a GET without a body
  bool headers_set = false;
  curl_slist* headers = nullptr;
};

// One request from send() to the resumption of its awaiter. Owned jointly by
// the awaiting coroutine, the client state while the transfer is queued or
// running, and the stop callback.
struct transfer {
  // Where the transfer is; read and written on the reactor thread only.
  enum class phase { created, queued, running, done };

  transfer(client::state* owner_state, sluice::reactor* io, request r)
      : owner(owner_state), reactor(io), req(std::move(r)) {}
  ~transfer() { release_curl(); }
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  void release_curl() noexcept {
    easy = nullptr;
    delete std::exchange(slot, nullptr);
    if (header_list) curl_slist_free_all(std::exchange(header_list, nullptr));
  }

  client::state* owner;  // valid while `stage` is queued or running
  sluice::reactor* reactor;
  request req;
  response resp;
  easy_slot* slot = nullptr;  // owned while set; the handle goes back to the client's idle list after a response
  CURL* easy = nullptr;       // slot->easy
  curl_slist* header_list = nullptr;
  std::optional<http::error> failure;
  sluice::detail::suspended_coroutine waiter;
  std::atomic<bool> cancel_requested{false};
  phase stage = phase::created;
  std::size_t body_limit = 0;                         // 0: none; written before the transfer starts
  bool over_limit = false;                            // set by the write/header callbacks (reactor thread)
  std::chrono::steady_clock::time_point submitted{};  // for the trace span
  std::int64_t first_byte_us = -1;                    // time to first byte, when libcurl knew it
  std::string header_lines;  // the final response's header lines, kept by on_header_line (reactor thread)
  // While running: the client's list of running transfers holds this
  // reference and the links (reactor thread only). An intrusive list instead
  // of a map keyed by easy handle: no node allocation per request, and the
  // transfer is found from its easy handle through CURLINFO_PRIVATE.
  std::shared_ptr<transfer> running_ref;
  transfer* running_prev = nullptr;
  transfer* running_next = nullptr;
};

}  // namespace detail

using detail::transfer;

class client::state {
 public:
  state(sluice::runtime& rt, client_options options)
      : m_runtime(rt),
        m_reactor(rt.io()),
        m_options(std::move(options)),
        m_default_header_problem(default_header_problem(m_options)),
        m_proxies(proxy_settings::of(m_options)),
        m_share(detail::curl_share::acquire()) {
    make_default_headers();
    m_multi = curl_multi_init();
    if (!m_multi) throw std::runtime_error("sluice::http::client: curl_multi_init failed");
    curl_multi_setopt(m_multi, CURLMOPT_SOCKETFUNCTION, &state::on_socket_change);
    curl_multi_setopt(m_multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(m_multi, CURLMOPT_TIMERFUNCTION, &state::on_timer_change);
    curl_multi_setopt(m_multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(m_multi, CURLMOPT_PIPELINING, uses_http2() ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
    curl_multi_setopt(m_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, to_long(m_options.max_connections));
    curl_multi_setopt(m_multi, CURLMOPT_MAX_HOST_CONNECTIONS, to_long(m_options.max_connections_per_host));
    // libcurl's default idle pool is 4x the handles currently added, which
    // shrinks to nothing between bursts and closes warm connections.
    if (m_options.max_connections) curl_multi_setopt(m_multi, CURLMOPT_MAXCONNECTS, to_long(m_options.max_connections));
  }
  ~state() { curl_slist_free_all(m_default_headers); }  // shutdown() has run: no easy handle points at it
  state(const state&) = delete;
  state& operator=(const state&) = delete;

  // Any thread: builds the easy handle for `t`. Returns an error for
  // requests libcurl refuses outright.
  std::optional<error> prepare(transfer& t);

  // Any thread: hands `t` to the reactor. Submissions are batched: the
  // first one into an empty batch posts one job that starts them all, so a
  // round of arena work that sends fifty requests costs the reactor one
  // post (one allocation, one lock, at most one eventfd write), not fifty.
  void submit(const std::shared_ptr<transfer>& t) {
    bool post_needed = false;
    {
      std::lock_guard lock(m_submit_mutex);
      m_submitted.push_back(t);
      post_needed = !std::exchange(m_submit_posted, true);
    }
    m_queued.fetch_add(1, std::memory_order_relaxed);
    if (!post_needed) return;
    try {
      m_reactor.post([this, alive = m_alive] {
        if (*alive) start_submitted();
      });
    } catch (...) {
      // Out of memory: take this transfer back (the caller sees the
      // exception, as from any failed post) so that nothing waits on a
      // post that was never made; the next submit posts for the rest.
      std::lock_guard lock(m_submit_mutex);
      m_submit_posted = false;
      std::erase(m_submitted, t);
      m_queued.fetch_sub(1, std::memory_order_relaxed);
      throw;
    }
  }

  // Reactor thread: starts every transfer submitted since the last batch.
  void start_submitted() {
    {
      std::lock_guard lock(m_submit_mutex);
      m_starting.swap(m_submitted);  // both keep their capacity: no allocation per batch
      m_submit_posted = false;
    }
    for (auto& t : m_starting) start(std::move(t));
    m_starting.clear();
  }

  // Reactor thread: cancels `t` if it is still queued or running.
  void cancel(std::shared_ptr<transfer> t, std::string_view why) {  // by value: may erase its owner
    if (t->stage == transfer::phase::queued) {
      std::erase(m_queue, t);
      m_queued.fetch_sub(1, std::memory_order_relaxed);
    } else if (t->stage == transfer::phase::running) {
      detach(*t, false);
    } else {
      return;
    }
    t->failure = make_error(error::kind::cancelled, t->req.url, std::string(why));
    complete(t);
    launch_queued();
  }

  // Reactor thread: cancels everything and frees the multi handle.
  void shutdown() {
    m_closed = true;
    start_submitted();  // each one fails as cancelled
    while (!m_queue.empty()) cancel(m_queue.front(), "cancelled: client destroyed");
    while (m_running_head) cancel(m_running_head->running_ref, "cancelled: client destroyed");
    curl_multi_cleanup(std::exchange(m_multi, nullptr));
    {
      std::lock_guard lock(m_idle_mutex);
      for (detail::easy_slot* idle : m_idle_easy) delete idle;
      m_idle_easy.clear();
    }
    for (int fd : m_watched) m_reactor.unwatch(fd);
    m_watched.clear();
    if (m_timer) m_reactor.cancel_timer(std::exchange(m_timer, 0));
    resume_completed();  // the posted hand-over will find the client gone
    *m_alive = false;
  }

  client_stats stats() const noexcept {
    return {m_in_flight.load(std::memory_order_relaxed), m_queued.load(std::memory_order_relaxed),
            m_completed.load(std::memory_order_relaxed), m_connections.load(std::memory_order_relaxed),
            m_handles_created.load(std::memory_order_relaxed)};
  }

  sluice::runtime& m_runtime;
  sluice::reactor& m_reactor;

 private:
  // Reactor thread: a transfer arrives from submit().
  void start(std::shared_ptr<transfer> t) {
    m_queued.fetch_sub(1, std::memory_order_relaxed);
    if (m_closed || t->cancel_requested.load(std::memory_order_acquire)) {
      t->failure = make_error(error::kind::cancelled, t->req.url,
                              m_closed ? "cancelled: client destroyed" : "cancelled by stop token");
      complete(t);
      return;
    }
    if (m_options.max_in_flight && m_running_count >= m_options.max_in_flight) {
      t->stage = transfer::phase::queued;
      m_queued.fetch_add(1, std::memory_order_relaxed);
      m_queue.push_back(std::move(t));
      return;
    }
    launch(std::move(t));
  }

  void launch(std::shared_ptr<transfer> t) {
    CURL* easy = t->easy;
    t->stage = transfer::phase::running;
    link_running(t);
    m_in_flight.fetch_add(1, std::memory_order_relaxed);
    if (CURLMcode rc = curl_multi_add_handle(m_multi, easy); rc != CURLM_OK) {
      detach(*t, false);
      t->failure = make_error(error::kind::transport, t->req.url,
                              std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
      complete(t);
    }
  }

  void launch_queued() {
    while (!m_queue.empty() && !m_closed && (!m_options.max_in_flight || m_running_count < m_options.max_in_flight)) {
      auto t = std::move(m_queue.front());
      m_queue.pop_front();
      m_queued.fetch_sub(1, std::memory_order_relaxed);
      launch(std::move(t));
    }
  }

  void link_running(const std::shared_ptr<transfer>& t) {
    t->running_ref = t;
    t->running_prev = nullptr;
    t->running_next = m_running_head;
    if (m_running_head) m_running_head->running_prev = t.get();
    m_running_head = t.get();
    ++m_running_count;
  }

  // The caller holds its own reference: this drops the list's.
  void unlink_running(transfer& t) {
    if (t.running_prev)
      t.running_prev->running_next = t.running_next;
    else
      m_running_head = t.running_next;
    if (t.running_next) t.running_next->running_prev = t.running_prev;
    t.running_prev = t.running_next = nullptr;
    --m_running_count;
    t.running_ref.reset();
  }

  // Takes `t` out of libcurl; its easy handle goes back to the idle list
  // when `reusable` (the transfer ended with a response), and is freed
  // otherwise. Connections stay in the pool either way.
  void detach(transfer& t, bool reusable) {
    long connects = 0;
    if (curl_easy_getinfo(t.easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
      m_connections.fetch_add(static_cast<std::uint64_t>(connects), std::memory_order_relaxed);
    curl_multi_remove_handle(m_multi, t.easy);
    unlink_running(t);
    m_in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (reusable) recycle(std::exchange(t.slot, nullptr));
    t.release_curl();
  }

  // Easy handles are reused: curl_easy_init allocates and clears a large
  // struct and the first transfer allocates its buffers, a measurable share
  // of a small request. A handle keeps the client-wide options it was made
  // with (set_client_options(), once per handle) and prepare() gives it every
  // per-request option on every request, the request's value or libcurl's
  // default (calling setopt only where the handle holds another value, see
  // easy_slot), so nothing of one request (its method, body, headers,
  // Authorization included, or timeouts) carries over into the next. There is
  // no curl_easy_reset: libcurl starts each transfer's own state afresh
  // (Curl_pretransfer), and a reset would drop the client-wide options too,
  // which then cost about 25 setopt calls and their string copies to set
  // again per request. A handle whose transfer failed or was cancelled is
  // freed rather than reused (detach): a fresh one costs a few microseconds,
  // only on that rare path, and no half-finished state can reach the next
  // request. An idle handle's body and header-list options may point into
  // its finished request (freed): prepare() replaces them (the slot records
  // them as not a plain GET, or as a list other than the next one) before
  // the handle is used, and curl_easy_cleanup reads none of them. Runs on
  // the sending thread.
  detail::easy_slot* acquire_easy(CURLcode& rc) {
    rc = CURLE_OK;
    {
      std::lock_guard lock(m_idle_mutex);
      if (!m_idle_easy.empty()) {
        detail::easy_slot* idle = m_idle_easy.back();
        m_idle_easy.pop_back();
        return idle;
      }
    }
    CURL* easy = curl_easy_init();
    if (!easy) return nullptr;
    m_handles_created.fetch_add(1, std::memory_order_relaxed);
    auto* made = new (std::nothrow) detail::easy_slot(easy);
    if (!made) {
      curl_easy_cleanup(easy);
      rc = CURLE_OUT_OF_MEMORY;
      return nullptr;
    }
    if (rc = set_client_options(*made); rc != CURLE_OK) {
      delete made;
      return nullptr;
    }
    return made;
  }

  // The options every request of this client shares, set once per handle.
  // Whatever prepare() sets must not be set here, and the other way round.
  CURLcode set_client_options(detail::easy_slot& slot) const {
    CURLcode rc = CURLE_OK;
    CURL* e = slot.easy;
    auto set = [&](CURLoption option, auto value) {
      if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value);
    };
    // First: anything libcurl reports from here on goes to the slot's buffer.
    set(CURLOPT_ERRORBUFFER, slot.error_text);
    set(CURLOPT_PRIVATE, static_cast<void*>(&slot));
    set(CURLOPT_WRITEDATA, static_cast<void*>(&slot));
    set(CURLOPT_HEADERDATA, static_cast<void*>(&slot));
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_WRITEFUNCTION, &on_body);
    set(CURLOPT_HEADERFUNCTION, &on_header_line);
    // Connection sockets are opened and closed through these (see on_open_socket).
    set(CURLOPT_OPENSOCKETFUNCTION, &state::on_open_socket);
    set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(const_cast<state*>(this)));
    set(CURLOPT_CLOSESOCKETFUNCTION, &state::on_close_socket);
    set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(const_cast<state*>(this)));
    set(CURLOPT_SHARE, m_share->handle());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_HTTP_VERSION, m_options.http2 ? long{CURL_HTTP_VERSION_2TLS} : long{CURL_HTTP_VERSION_1_1});
    // Set even when the header itself is one of m_default_headers: libcurl
    // decodes a response's Content-Encoding only with this option set.
    if (m_options.send_accept_encoding) set(CURLOPT_ACCEPT_ENCODING, m_options.accept_encoding.c_str());
    if (!m_defaults_as_headers && !m_options.user_agent.empty()) set(CURLOPT_USERAGENT, m_options.user_agent.c_str());
    set(CURLOPT_FOLLOWLOCATION, m_options.follow_redirects ? 1L : 0L);
    if (m_options.follow_redirects) {
      set(CURLOPT_MAXREDIRS, m_options.max_redirects);
      set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
      set(CURLOPT_UNRESTRICTED_AUTH, 0L);  // never hand Authorization to another host
    }
    set(CURLOPT_SSL_VERIFYPEER, m_options.verify_tls ? 1L : 0L);
    set(CURLOPT_SSL_VERIFYHOST, m_options.verify_tls ? 2L : 0L);
    // Set, even to "", so that libcurl does not read the environment per transfer.
    if (m_proxies.no_proxy) set(CURLOPT_NOPROXY, m_proxies.no_proxy->c_str());
    if (m_proxies.how == proxy_settings::mode::one) set(CURLOPT_PROXY, m_proxies.http.c_str());
    return rc;
  }

  void recycle(detail::easy_slot* slot) {
    slot->current = nullptr;
    {
      std::lock_guard lock(m_idle_mutex);
      if (m_idle_easy.size() < k_max_idle_easy) {
        m_idle_easy.push_back(slot);
        return;
      }
    }
    delete slot;
  }

  // Queues the awaiter to be resumed on its own runtime (never run user code
  // here). The queue is handed over once per reactor round (see
  // resume_completed): a round that finishes fifty transfers wakes the arena
  // once, not fifty times.
  void complete(const std::shared_ptr<transfer>& t) {
    t->stage = transfer::phase::done;
    if (auto* tracer = trace_active()) [[unlikely]]
      trace_request(*tracer, *t);
    m_completed.fetch_add(1, std::memory_order_relaxed);
    m_completed_waiters.push_back(t->waiter);
    if (std::exchange(m_resume_posted, true)) return;
    try {
      // Runs after the rest of this round's socket events (posted work runs
      // before the reactor waits again).
      m_reactor.post([this, alive = m_alive] {
        if (*alive) resume_completed();
      });
    } catch (...) {
      resume_completed();  // out of memory: hand this one over now
    }
  }

  // Reactor thread: resumes every completed transfer's awaiter, grouped by
  // runtime.
  void resume_completed() {
    m_resume_posted = false;
    auto waiters = std::exchange(m_completed_waiters, {});
    while (!waiters.empty()) {
      sluice::runtime* home = waiters.front().home ? waiters.front().home : &m_runtime;
      std::vector<std::coroutine_handle<>> batch;
      batch.reserve(waiters.size());
      std::erase_if(waiters, [&](const sluice::detail::suspended_coroutine& w) {
        if ((w.home ? w.home : &m_runtime) != home) return false;
        batch.push_back(w.handle);
        return true;
      });
      home->post_batch(std::move(batch));
    }
  }

  // Reactor thread: collects the transfers libcurl has finished.
  void collect_finished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(m_multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURLcode code = msg->data.result;  // msg dies with remove_handle
      // Every easy handle in this multi handle is a running transfer's, its
      // CURLOPT_PRIVATE the handle's slot, which names the transfer.
      void* owner = nullptr;
      if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &owner) != CURLE_OK || !owner) continue;
      auto* running = static_cast<detail::easy_slot*>(owner)->current;
      if (!running || running->stage != transfer::phase::running || running->easy != msg->easy_handle) continue;
      auto t = running->running_ref;
      // Only the trace span shows it: not asked for per request otherwise.
      if (trace_active()) [[unlikely]] {
        curl_off_t first_byte = 0;
        if (curl_easy_getinfo(t->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte) == CURLE_OK && first_byte > 0)
          t->first_byte_us = static_cast<std::int64_t>(first_byte);
      }
      if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        t->resp.status = status;
        char* effective = nullptr;
        // Usually the URL asked for: then perform() moves that one in on
        // the awaiting thread, rather than a copy being allocated here.
        if (curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective &&
            t->req.url != effective)
          t->resp.effective_url = effective;
        long version = 0;
        if (curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK)
          t->resp.http_version = http_version_number(version);
      } else if (t->over_limit) {
        t->failure = make_error(error::kind::too_large, t->req.url,
                                "response body larger than the limit of " + std::to_string(t->body_limit) +
                                    " bytes (after decompression); transfer aborted");
      } else {
        std::string message = curl_easy_strerror(code);
        if (t->slot->error_text[0] != '\0') message += std::string(": ") + t->slot->error_text;
        t->failure = make_error(classify(code), t->req.url, std::move(message), static_cast<int>(code));
      }
      detach(*t, code == CURLE_OK);
      complete(t);
    }
    launch_queued();
  }

  void on_socket_ready(int fd, std::uint32_t events) {
    reactor_span span("libcurl socket");
    int flags = 0;
    if (events & (EPOLLIN | EPOLLHUP)) flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    int running = 0;
    curl_multi_socket_action(m_multi, fd, flags, &running);
    collect_finished();
  }

  void on_timeout() {
    reactor_span span("libcurl timer");
    int running = 0;
    curl_multi_socket_action(m_multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_finished();
  }

  // CURLMOPT_SOCKETFUNCTION: runs on the reactor thread, inside libcurl.
  // A connection's socket going back to the pool is parked, not unwatched,
  // and the next request on it re-arms the same watch: no epoll_ctl and no
  // callback allocation per request (see reactor::park).
  static int on_socket_change(CURL*, curl_socket_t fd, int what, void* self_ptr, void*) {
    auto* self = static_cast<state*>(self_ptr);
    if (what == CURL_POLL_REMOVE) {
      if (self->m_sockets.contains(fd)) {
        self->m_reactor.park(fd);  // on_close_socket unwatches it
      } else {
        self->m_reactor.unwatch(fd);  // not ours to track (a resolver's fd): its closing is not reported
        self->m_watched.erase(fd);
      }
      return 0;
    }
    std::uint32_t events = 0;
    if (what & CURL_POLL_IN) events |= EPOLLIN;
    if (what & CURL_POLL_OUT) events |= EPOLLOUT;
    try {
      if (self->m_watched.contains(fd) && self->m_reactor.rearm(fd, events)) return 0;
      self->m_reactor.watch(fd, events, [self, fd](std::uint32_t ready) { self->on_socket_ready(fd, ready); });
      self->m_watched.insert(fd);
    } catch (...) {
      return -1;  // libcurl fails the transfers on this socket
    }
    return 0;
  }

  // Connection sockets are opened and closed through these two (set once
  // per easy handle in set_client_options), so that a parked watch is
  // always removed before its fd is closed (and the number can be reused),
  // and so that they are close-on-exec: a child process must not keep a
  // connection (or its epoll registration) alive.
  static curl_socket_t on_open_socket(void* self_ptr, curlsocktype, curl_sockaddr* address) {
    auto* self = static_cast<state*>(self_ptr);
    int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    self->m_sockets.insert(fd);
    return fd;
  }

  static int on_close_socket(void* self_ptr, curl_socket_t fd) {
    auto* self = static_cast<state*>(self_ptr);
    if (self->m_watched.erase(fd)) self->m_reactor.unwatch(fd);
    self->m_sockets.erase(fd);
    return ::close(fd);
  }

  // CURLMOPT_TIMERFUNCTION: libcurl wants on_timeout() after `timeout_ms`
  // (-1: never). At most one timer per client is armed.
  // "Now" (0 ms, what every new transfer asks for) is a post, not a timer,
  // and one post serves all the transfers started in the same reactor round.
  // A later deadline does not move the armed timer: libcurl pushes its
  // earliest deadline back about once per request (each transfer's
  // low-speed check is re-armed a second ahead), and a cancel plus a new
  // timer each time would cost the reactor two locked map updates and a
  // timerfd_settime per request. The armed timer fires early instead and
  // re-arms itself for the deadline libcurl asked for last (on_timer_fired).
  static int on_timer_change(CURLM*, long timeout_ms, void* self_ptr) {
    auto* self = static_cast<state*>(self_ptr);
    if (timeout_ms < 0 || self->m_closed) {
      self->m_deadline.reset();
      if (self->m_timer) self->m_reactor.cancel_timer(std::exchange(self->m_timer, 0));
      return 0;
    }
    try {
      if (timeout_ms == 0) {
        self->m_deadline.reset();  // an armed timer then fires as a no-op
        if (!std::exchange(self->m_timeout_posted, true)) {
          self->m_reactor.post([self, alive = self->m_alive] {
            if (!*alive) return;  // the client was destroyed on the reactor thread meanwhile
            self->m_timeout_posted = false;
            self->on_timeout();
          });
        }
        return 0;
      }
      const auto deadline = reactor::clock::now() + std::chrono::milliseconds(timeout_ms);
      self->m_deadline = deadline;
      if (self->m_timer && self->m_timer_at <= deadline) return 0;  // fires early, then re-arms
      self->arm_timer(deadline);
    } catch (...) {
      return -1;
    }
    return 0;
  }

  void arm_timer(reactor::clock::time_point deadline) {
    if (m_timer) m_reactor.cancel_timer(std::exchange(m_timer, 0));
    m_timer = m_reactor.add_timer(deadline, [this] { on_timer_fired(); });
    m_timer_at = deadline;
  }

  void on_timer_fired() {
    m_timer = 0;
    if (!m_deadline) return;  // libcurl asked for "now" or "never" since
    if (*m_deadline > reactor::clock::now()) {
      try {
        arm_timer(*m_deadline);
        return;
      } catch (...) {
        // Out of memory: run libcurl's timeout handling early instead; it
        // asks again for what is left.
      }
    }
    m_deadline.reset();
    on_timeout();
  }

  // The reactor's work for this client, as a complete span on its track when tracing.
  class reactor_span {
   public:
    explicit reactor_span(const char* name) noexcept : m_name(name), m_trace(trace_active()) {
      if (m_trace) m_start = std::chrono::steady_clock::now();
    }
    ~reactor_span() {
      if (!m_trace) return;
      try {
        m_trace->complete("http", m_name, m_start, std::chrono::steady_clock::now());
      } catch (...) {
        // Out of memory while tracing: the span is lost.
      }
    }
    reactor_span(const reactor_span&) = delete;
    reactor_span& operator=(const reactor_span&) = delete;

   private:
    const char* m_name;
    sluice::detail::trace_recorder* m_trace;
    std::chrono::steady_clock::time_point m_start{};
  };

  // One async span per request, from send() to completion, on the reactor's
  // track. The URL loses its userinfo and secret-looking query values.
  static void trace_request(sluice::detail::trace_recorder& tracer, const transfer& t) noexcept {
    try {
      const auto url = redact_url_secrets(t.req.url);
      const auto method = t.req.method.empty() ? std::string("GET") : t.req.method;
      std::string outcome = t.failure ? std::string(kind_name(t.failure->what)) : std::string("response");
      tracer.async_span("http", method + " " + std::string(host_of(url)), t.submitted, std::chrono::steady_clock::now(),
                        {trace_arg::str("method", method), trace_arg::str("url", url),
                         trace_arg::num("status", t.failure ? 0 : t.resp.status),
                         trace_arg::num("bytes", static_cast<std::int64_t>(t.resp.body.size())),
                         trace_arg::num("time_to_first_byte_us", t.first_byte_us), trace_arg::str("outcome", outcome)});
    } catch (...) {
      // Out of memory while tracing: the span is lost.
    }
  }

  client_options m_options;
  // Checked once: the User-Agent and Accept-Encoding values are the same for every request.
  std::optional<std::string> m_default_header_problem;

  static std::optional<std::string> default_header_problem(const client_options& o) {
    if (auto problem = header_problem("User-Agent", o.user_agent)) return *problem + " (client_options::user_agent)";
    if (o.send_accept_encoding)
      if (auto problem = header_problem("Accept-Encoding", o.accept_encoding))
        return *problem + " (client_options::accept_encoding)";
    return std::nullopt;
  }

  // The User-Agent and Accept-Encoding lines go out as ordinary request
  // headers (this list, or appended to a request's own list in prepare())
  // rather than through CURLOPT_USERAGENT and the Accept-Encoding libcurl
  // builds from CURLOPT_ACCEPT_ENCODING: libcurl formats those two again for
  // every request with its own printf (about 4.7 k instructions a request on
  // the reactor thread, 6% of its work for a small GET), while a header from
  // the list is copied once. The bytes on the wire are the same, and a
  // request's own User-Agent or Accept-Encoding header replaces the client's,
  // as libcurl does. Not when a proxy may be used: libcurl sends
  // CURLOPT_USERAGENT in a CONNECT to the proxy too, and custom headers not.
  bool m_defaults_as_headers = false;
  curl_slist* m_default_headers = nullptr;  // owned; null when there are none
  std::string m_user_agent_line;            // "User-Agent: ...", empty when not sent this way
  std::string m_accept_encoding_line;       // "Accept-Encoding: ...", likewise

  void make_default_headers() {
    m_defaults_as_headers = m_proxies.how == proxy_settings::mode::one && m_proxies.http.empty();
    if (!m_defaults_as_headers || m_default_header_problem) return;  // a problem: prepare() refuses every request
    if (!m_options.user_agent.empty()) m_user_agent_line = "User-Agent: " + m_options.user_agent;
    if (m_options.send_accept_encoding)
      m_accept_encoding_line =
          "Accept-Encoding: " + (m_options.accept_encoding.empty() ? supported_encodings() : m_options.accept_encoding);
    for (const std::string* line : {&m_user_agent_line, &m_accept_encoding_line}) {
      if (line->empty()) continue;
      curl_slist* grown = curl_slist_append(m_default_headers, line->c_str());
      if (!grown) throw std::bad_alloc();
      m_default_headers = grown;
    }
  }

  // What libcurl offers for CURLOPT_ACCEPT_ENCODING "": every decoder it was
  // built with, in its own order (content_encoding.c), or "identity".
  static std::string supported_encodings() {
    const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
    std::string list;
    auto add = [&](const char* name) { list += list.empty() ? name : std::string(", ") + name; };
    if (v->features & CURL_VERSION_LIBZ) {
      add("deflate");
      add("gzip");
    }
    if (v->features & CURL_VERSION_BROTLI) add("br");
    if (v->features & CURL_VERSION_ZSTD) add("zstd");
    return list.empty() ? "identity" : list;
  }

  // The request's own header list, in t.header_list: its fields, then the
  // client's User-Agent and Accept-Encoding lines unless the request has its
  // own, then "Expect:" for a body. False when out of memory.
  bool build_header_list(transfer& t) const {
    bool has_user_agent = false, has_accept_encoding = false, has_expect = false;
    auto append = [&t](const char* line) {
      curl_slist* grown = curl_slist_append(t.header_list, line);
      if (grown) t.header_list = grown;
      return grown != nullptr;
    };
    for (const auto& field : t.req.headers) {
      has_user_agent = has_user_agent || headers::iequals(field.name, "user-agent");
      has_accept_encoding = has_accept_encoding || headers::iequals(field.name, "accept-encoding");
      has_expect = has_expect || headers::iequals(field.name, "expect");
      // "Name;" is libcurl's spelling of a header with an empty value.
      std::string line = field.value.empty() ? field.name + ";" : field.name + ": " + field.value;
      if (!append(line.c_str())) return false;
    }
    if (!has_user_agent && !m_user_agent_line.empty() && !append(m_user_agent_line.c_str())) return false;
    if (!has_accept_encoding && !m_accept_encoding_line.empty() && !append(m_accept_encoding_line.c_str()))
      return false;
    // "Expect:" stops the 100-continue round trip on large bodies.
    return has_expect || t.req.body.empty() || append("Expect:");
  }

  // The proxies, from the options or read from the environment once (see
  // client_options::proxy): libcurl reads five variables per transfer
  // otherwise, on the reactor thread (about 1.5 k instructions a request).
  struct proxy_settings {
    enum class mode {
      one,        // `http` serves every scheme ("" = no proxy): set once per handle
      by_scheme,  // http:// URLs use `http`, https:// ones `https`: set per request
      libcurl,    // they differ and redirects may change the scheme: libcurl reads the environment per transfer
    };
    mode how = mode::one;
    std::string http, https;
    std::optional<std::string> no_proxy;  // unset only in mode::libcurl, without client_options::no_proxy

    static proxy_settings of(const client_options& o) {
      auto env = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): as libcurl itself does
        return v ? std::optional<std::string>(v) : std::nullopt;
      };
      auto first = [&](std::initializer_list<const char*> names) -> std::optional<std::string> {
        for (const char* n : names)
          if (auto v = env(n)) return v;
        return std::nullopt;
      };
      proxy_settings p;
      // "" when neither says anything: CURLOPT_NOPROXY is then still set,
      // so that libcurl does not read no_proxy and NO_PROXY per transfer.
      p.no_proxy = o.no_proxy ? o.no_proxy : first({"no_proxy", "NO_PROXY"}).value_or("");
      if (o.proxy) {
        p.http = p.https = *o.proxy;
        return p;
      }
      auto all = first({"all_proxy", "ALL_PROXY"});
      p.http = first({"http_proxy"}).value_or(all.value_or(""));  // never HTTP_PROXY (libcurl's rule)
      p.https = first({"https_proxy", "HTTPS_PROXY"}).value_or(all.value_or(""));
      if (p.http != p.https) p.how = o.follow_redirects ? mode::libcurl : mode::by_scheme;
      if (p.how == mode::libcurl && !o.no_proxy) p.no_proxy.reset();
      return p;
    }
  };
  proxy_settings m_proxies;

  [[nodiscard]] bool uses_http2() const noexcept { return m_options.http2; }

  static int http_version_number(long curl_version) noexcept {
    switch (curl_version) {
      case CURL_HTTP_VERSION_1_0:
        return 10;
      case CURL_HTTP_VERSION_1_1:
        return 11;
      case CURL_HTTP_VERSION_2_0:
        return 20;
      case CURL_HTTP_VERSION_3:
        return 30;
      default:
        return 0;
    }
  }
  std::shared_ptr<detail::curl_share> m_share;  // outlives every easy handle
  CURLM* m_multi = nullptr;

  // Idle easy handles with the client-wide options set (see acquire_easy); any thread.
  static constexpr std::size_t k_max_idle_easy = 256;
  std::mutex m_idle_mutex;
  std::vector<detail::easy_slot*> m_idle_easy;  // owned

  // Reactor thread only.
  transfer* m_running_head = nullptr;  // running transfers, linked through running_prev/next
  std::size_t m_running_count = 0;
  std::vector<std::shared_ptr<transfer>> m_starting;  // the batch start_submitted() is starting
  std::deque<std::shared_ptr<transfer>> m_queue;
  std::unordered_set<int> m_watched;  // fds with a reactor watch, active or parked
  std::unordered_set<int> m_sockets;  // connection sockets libcurl opened through on_open_socket
  reactor::timer_id m_timer = 0;
  reactor::clock::time_point m_timer_at{};                               // when m_timer fires
  std::optional<reactor::clock::time_point> m_deadline;                  // libcurl's last deadline, if it asked for one
  bool m_timeout_posted = false;                                         // an on_timeout() post is queued
  std::vector<sluice::detail::suspended_coroutine> m_completed_waiters;  // to resume this round
  bool m_resume_posted = false;                                          // a resume_completed() post is queued
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);          // false once shut down; read by posts
  bool m_closed = false;

  // Any thread: submit() -> start_submitted().
  std::mutex m_submit_mutex;
  std::vector<std::shared_ptr<transfer>> m_submitted;
  bool m_submit_posted = false;  // a start_submitted() post is queued

  // Any thread (stats).
  std::atomic<std::size_t> m_in_flight{0};
  std::atomic<std::size_t> m_queued{0};
  std::atomic<std::uint64_t> m_completed{0};
  std::atomic<std::uint64_t> m_connections{0};
  std::atomic<std::uint64_t> m_handles_created{0};
};

namespace {

// Extra capacity reserved past Content-Length (simdjson::SIMDJSON_PADDING is 64).
constexpr std::size_t k_body_slack = 64;
// Most reserved up front on a server's word (Content-Length).
constexpr std::size_t k_max_reserve = std::size_t{16} << 20;
// A body this short is kept inside its std::string (the SSO capacity of
// libstdc++ and libc++ is at least this).
constexpr std::size_t k_inline_body = 15;

// libcurl hands over decompressed bytes, so the limit bounds what a
// compressed "bomb" expands to. Returning less than given aborts the transfer
// (CURLE_WRITE_ERROR), before anything past the limit is stored.
std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<detail::easy_slot*>(user)->current;
  const std::size_t n = size * count;
  if (t.body_limit != 0 && n > t.body_limit - std::min(t.body_limit, t.resp.body.size())) {
    t.over_limit = true;
    return 0;
  }
  try {
    t.resp.body.append(data, n);
  } catch (const std::bad_alloc&) {
    t.over_limit = true;  // out of memory below the limit: report it as too large, never abort
    return 0;
  }
  return n;
}

// A header field name is an RFC 9110 token; a value may hold visible
// characters, spaces and tabs, and obs-text (bytes >= 0x80), but no control
// character: CR or LF would end the field and let the rest forge headers.
bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Why `name: value` must not be sent, or nullopt. Never quotes the value.
std::optional<std::string> header_problem(std::string_view name, std::string_view value) {
  if (name.empty()) return "a header with an empty name";
  for (unsigned char c : name)
    if (!is_token_char(c)) {
      std::string shown;
      for (unsigned char k : name) shown += is_control(k) ? '?' : static_cast<char>(k);
      return "header name \"" + shown + "\" contains a character not allowed in a field name";
    }
  for (unsigned char c : value)
    if (is_control(c) && c != '\t') {
      char code[8];
      std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned>(c));
      return "header \"" + std::string(name) + "\" value contains the control character " + code;
    }
  return std::nullopt;
}

// URLs come from callers and from servers (Link, Location): a space or a
// control character in one is refused rather than escaped or sent.
std::optional<std::string> url_problem(std::string_view url) {
  for (unsigned char c : url)
    if (is_control(c) || c == ' ') {
      char code[8];
      std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned>(c));
      return std::string("URL contains the control character or space ") + code + "; not sent";
    }
  return std::nullopt;
}

// Runs on the reactor thread, the client's bottleneck under load: it only
// keeps the lines (one buffer, no allocation per field) and acts on
// Content-Length; parse_header_lines() splits them into fields (and trims
// them) on the awaiting coroutine's thread. Only "Content-Length:" with
// nothing before the colon is read, as libcurl reads it: a name with
// whitespace before the colon is not a field libcurl acts on either.
std::size_t on_header_line(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<detail::easy_slot*>(user)->current;
  const std::size_t length = size * count;
  const std::string_view line(data, length);
  if (line.starts_with("HTTP/")) {
    // A new status line: interim 1xx responses and redirects start over.
    t.header_lines.clear();
    return length;
  }
  if (line == "\r\n" || line == "\n") return length;  // the blank line ending the block
  constexpr std::string_view content_length = "content-length:";
  if (length > content_length.size() && (data[0] | 0x20) == 'c' &&
      headers::iequals(line.substr(0, content_length.size()), content_length)) {
    const auto value = trim(line.substr(content_length.size()));
    // Any number of digits: saturate instead of wrapping.
    std::size_t n = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      const auto d = static_cast<std::size_t>(c - '0');
      n = n > (SIZE_MAX - d) / 10 ? SIZE_MAX : n * 10 + d;
    }
    // A declared length past the limit fails now, before any body byte
    // (returning short from a header callback aborts the transfer). Over
    // http the length is of the encoded body, a lower bound of the decoded one.
    if (digits && t.body_limit != 0 && n > t.body_limit) {
      t.over_limit = true;
      return 0;
    }
    // Avoid regrowing large bodies; capped so a lying server cannot make us
    // allocate much. The slack lets parsers that need padding past the end
    // (simdjson) pad in place instead of reallocating and copying the whole
    // body. A body that fits in the string itself (SSO) allocates nothing:
    // padding those few bytes later costs less than an allocation here and
    // its free on another thread.
    if (digits && n > k_inline_body) t.resp.body.reserve(std::min(n, k_max_reserve) + k_body_slack);
  }
  try {
    t.header_lines.append(line);
    if (!line.ends_with('\n')) t.header_lines += '\n';  // libcurl passes whole lines; keep them apart regardless
  } catch (const std::bad_alloc&) {
    return 0;  // out of memory: abort the transfer (a transport error), never throw into libcurl
  }
  return size * count;
}

// The fields of the header lines on_header_line() kept, in order.
http::headers parse_header_lines(std::string_view lines) {
  http::headers fields;
  fields.reserve(static_cast<std::size_t>(std::count(lines.begin(), lines.end(), '\n')));  // one allocation
  while (!lines.empty()) {
    const auto end = lines.find('\n');
    const auto line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    fields.add(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return fields;
}

// Keeps the awaiting coroutine's transfer alive and asks the reactor to
// cancel it; runs on whichever thread calls request_stop().
struct stop_canceller {
  std::shared_ptr<transfer> t;
  void operator()() noexcept {
    t->cancel_requested.store(true, std::memory_order_release);
    try {
      t->reactor->post([t = t] {
        // `owner` is only valid while the transfer is queued or running.
        if (t->stage == transfer::phase::queued || t->stage == transfer::phase::running)
          t->owner->cancel(t, "cancelled by stop token");
      });
    } catch (...) {
      // Out of memory: the transfer still ends, just without early cancellation.
    }
  }
};

struct submit_awaiter {
  client::state* owner;
  std::shared_ptr<transfer> t;
  std::stop_token stop;
  std::optional<std::stop_callback<stop_canceller>> on_stop;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    t->waiter = sluice::detail::suspended_coroutine::here(h);
    // Registered before submitting: once submitted, the coroutine may be
    // resumed (and this awaiter destroyed) on another thread at any moment.
    if (stop.stop_possible()) on_stop.emplace(stop, stop_canceller{t});
    owner->submit(t);
  }
  void await_resume() const noexcept {}
};

}  // namespace

// Gives the handle every per-request option, each the request's value or
// libcurl's default: the handle may come from an earlier request with
// another method, body, headers or timeouts (see acquire_easy). What the
// handle already holds (easy_slot) is not set again.
std::optional<error> client::state::prepare(transfer& t) {
  const request& req = t.req;
  // Checked before a handle is taken: a refused request costs none.
  if (auto problem = url_problem(req.url)) return make_error(error::kind::invalid, req.url, std::move(*problem));
  for (const auto& field : req.headers)
    if (auto problem = header_problem(field.name, field.value))
      return make_error(error::kind::invalid, req.url, *problem + "; request not sent");
  if (m_default_header_problem)
    return make_error(error::kind::invalid, req.url, *m_default_header_problem + "; request not sent");

  CURLcode rc = CURLE_OK;
  t.slot = acquire_easy(rc);
  if (!t.slot) {
    if (rc == CURLE_OK) return make_error(error::kind::transport, req.url, "curl_easy_init failed");
    return make_error(classify(rc), req.url, std::string("curl_easy_setopt: ") + curl_easy_strerror(rc),
                      static_cast<int>(rc));
  }
  // From here on a failure frees the handle with the transfer (release_curl):
  // a handle whose remembered options may be wrong is never reused.
  detail::easy_slot& slot = *t.slot;
  t.easy = slot.easy;
  slot.current = &t;
  slot.error_text[0] = '\0';
  CURL* e = slot.easy;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value);
  };
  // A long option, set only when the handle holds another value.
  auto set_long = [&](CURLoption option, long& held, long value) {
    if (held == value) return;
    set(option, value);
    held = value;
  };
  auto millis = [](std::chrono::milliseconds d) { return static_cast<long>(d.count()); };

  t.body_limit = req.max_body_bytes.value_or(m_options.max_body_bytes);
  // Allocated here, on the sending thread, which also frees it: the reactor
  // only appends (and reallocates only past this).
  t.header_lines.reserve(512);

  set(CURLOPT_URL, req.url.c_str());
  // Over https (where ALPN may pick h2) wait for the first connection's
  // handshake rather than open one connection per concurrent request. Not on
  // plain http: libcurl would hold every request behind the first response.
  set_long(CURLOPT_PIPEWAIT, slot.pipewait, uses_http2() && is_https(req.url) ? 1L : 0L);
  if (m_proxies.how == proxy_settings::mode::by_scheme) {
    const std::string* proxy = is_https(req.url) ? &m_proxies.https : &m_proxies.http;
    if (slot.proxy != proxy) set(CURLOPT_PROXY, proxy->c_str());
    slot.proxy = proxy;
  }

  set_long(CURLOPT_CONNECTTIMEOUT_MS, slot.connect_timeout_ms,
           millis(req.connect_timeout.value_or(m_options.connect_timeout)));
  set_long(CURLOPT_TIMEOUT_MS, slot.timeout_ms, millis(req.timeout.value_or(m_options.request_timeout)));
  long low_speed_limit = 0;
  long low_speed_time = 0;
  const auto inactivity = req.inactivity_timeout.value_or(m_options.inactivity_timeout);
  if (inactivity.count() > 0) {
    // libcurl's check is "fewer than LIMIT bytes/s for TIME seconds": with
    // a limit of 1 that is "no byte for TIME seconds" (rounded up).
    const auto secs = std::max<long long>(1, (inactivity.count() + 999) / 1000);
    low_speed_limit = 1;
    low_speed_time = static_cast<long>(std::min<long long>(secs, 0x7fffffff));
  } else if (m_options.low_speed_time.count() > 0) {
    low_speed_limit = to_long(m_options.low_speed_limit);
    low_speed_time = static_cast<long>(m_options.low_speed_time.count());
  }
  set_long(CURLOPT_LOW_SPEED_LIMIT, slot.low_speed_limit, low_speed_limit);
  set_long(CURLOPT_LOW_SPEED_TIME, slot.low_speed_time, low_speed_time);

  // The method. A plain GET on a handle whose last request was one needs
  // nothing; otherwise back to a plain GET first (HTTPGET also clears
  // NOBODY, which POSTFIELDS would not; POSTFIELDS(nullptr) drops the
  // pointer into the last request's freed body and is then overridden by
  // HTTPGET), then this one's.
  const bool plain_get = req.method == "GET" && req.body.empty();
  if (!plain_get || !slot.plain_get) {
    set(CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
    set(CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{-1});
    set(CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
    set(CURLOPT_HTTPGET, 1L);
    if (req.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else if (plain_get) {
      // HTTPGET above
    } else if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      set(CURLOPT_POSTFIELDS, req.body.data());
      if (req.method != "POST") set(CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else {
      set(CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    slot.plain_get = plain_get;
  }

  // The client's own list (User-Agent, Accept-Encoding; see
  // m_default_headers), shared by every request without fields or body, or
  // this request's own; nullptr: none (the last request's list is freed).
  curl_slist* header_list = m_default_headers;
  if (!req.headers.empty() || !req.body.empty()) {
    if (!build_header_list(t)) return make_error(error::kind::transport, req.url, "out of memory building headers");
    header_list = t.header_list;
  }
  if (!slot.headers_set || slot.headers != header_list) set(CURLOPT_HTTPHEADER, header_list);
  slot.headers = header_list;
  slot.headers_set = true;

  if (rc != CURLE_OK)
    return make_error(classify(rc), req.url, std::string("curl_easy_setopt: ") + curl_easy_strerror(rc),
                      static_cast<int>(rc));
  return std::nullopt;
}

client::client(sluice::runtime& rt, client_options options)
    : m_runtime(&rt), m_state(std::make_unique<state>(rt, std::move(options))) {}

client::~client() {
  if (!m_state) return;
  auto& io = m_runtime->io();
  if (io.on_reactor_thread()) {
    m_state->shutdown();
    return;
  }
  std::promise<void> done;
  io.post([&] {
    m_state->shutdown();
    done.set_value();
  });
  done.get_future().wait();
}

client_stats client::stats() const noexcept { return m_state->stats(); }

task<result<response>> client::perform(request req, std::stop_token stop) {
  if (stop.stop_requested()) co_return make_error(error::kind::cancelled, req.url, "cancelled by stop token");
  auto t = std::make_shared<transfer>(m_state.get(), &m_runtime->io(), std::move(req));
  if (auto failure = m_state->prepare(*t)) co_return std::move(*failure);
  t->submitted = std::chrono::steady_clock::now();
  // What a stall dump shows while this request is out: method and host only.
  std::optional<wait_note> note;
  if (waits_watched()) {
    const auto url = redact_url(t->req.url);
    const std::string what =
        (t->req.method.empty() ? std::string("GET") : t->req.method) + " " + std::string(host_of(url));
    auto noted = note_wait(wait_kind::http, what);  // named: see the g++ 12 note in client.hpp
    wait_note made = co_await noted;                // attributed to the item this request serves, if any
    note.emplace(std::move(made));
  }
  // A named awaiter, not a temporary: GCC 12 mishandles the lifetime of
  // non-trivial temporaries inside co_await expressions.
  submit_awaiter submit{m_state.get(), t, std::move(stop), std::nullopt};
  co_await submit;
  if (t->failure) co_return std::move(*t->failure);
  t->resp.headers = parse_header_lines(t->header_lines);
  if (t->resp.effective_url.empty()) t->resp.effective_url = std::move(t->req.url);  // see collect_finished()
  co_return std::move(t->resp);
}

// Not a coroutine: perform()'s frame takes the request, so a GET costs one
// coroutine frame (and one resumption) instead of two.
task<result<response>> client::get(std::string url, http::headers hdrs, std::stop_token stop) {
  request req;
  req.url = std::move(url);
  req.headers = std::move(hdrs);
  return perform(std::move(req), std::move(stop));
}

task<result<response>> client::get(std::string url, std::stop_token stop) {
  return get(std::move(url), http::headers(), std::move(stop));
}

task<result<response>> client::get(std::string url) { return get(std::move(url), http::headers(), {}); }

}  // namespace sluice::http
