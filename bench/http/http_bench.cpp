// sluice::http::client against a minimal hand-written libcurl multi loop,
// same server, same concurrency, same connection reuse (both keep 100
// connections open and reuse their easy handles).
//
//  * latency_bound: N = 2000 requests, the server answers after 50 ms, 100 at
//    a time. The best any client can do is ceil(N/100) x 50 ms = 1 s; the
//    counter `sluice_x_ideal` is wall time over that (aim: <= 1.05).
//  * throughput: the same N with no server delay; `req_per_s` for each, and
//    for sluice `x_curl_loop` = its rate over the hand-written loop's rate
//    (aim: >= 0.95). A second loop, `curl_loop_same_options`, sets once per
//    handle the options http::client's defaults give every request (stall
//    check, connect timeout, User-Agent, share, ...): `x_curl_loop_same_options`
//    separates what those options cost libcurl from what sluice's own
//    machinery costs. A third, `curl_socket_loop`, drives the same
//    options through the interface sluice uses, curl_multi_socket_action on
//    an epoll set, on one thread: `x_curl_socket_loop` is sluice against a
//    hand-written loop on the same libcurl interface (its reactor plus the
//    hand-offs to and from the arena), and curl_socket_loop's own rate
//    against the multi_perform loop's is what that interface costs libcurl
//    here. The clients alternate and medians are compared.
//
// All report `*_cpu_us_per_req`: the client's CPU time (user + system, every
// thread of this process) per request, median over the rounds,
// `*_csw_per_req`, context switches per request, and `*_vcsw_per_req`, the
// voluntary ones among them (blocking waits; the rest are preemptions), and
// `*_server_cpu_us_per_req`, the server's CPU per request while that client
// ran: client and server share the two cores, so a client that makes the
// server work harder loses throughput at equal CPU of its own. The loopback
// server runs in a child process forked before any thread starts, so the
// client figures are the clients' own costs, including what idle arena
// workers spend spinning before they sleep. On a loaded machine CPU per
// request is the steadier figure: wall time there mostly measures the
// scheduler.
//
// The server is cpp-httplib on loopback with a thread per connection, sized
// above the concurrency so it is not the bottleneck. Its keep-alive wait
// polls an idle connection every 10 ms and sleeps 1 ms in between (0.11's
// keep_alive()), so the other clients' idle connections are a background
// load every client runs against alike (a five-round throughput run under
// strace -f, which slows it, made about 470,000 of those sleeps). Run in Release; numbers
// on a shared machine are noisy, so compare the clients within one run.
#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sluice/core/runtime.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "child_cpu.hpp"
#include "loopback_server.hpp"
#include "median.hpp"

namespace {

constexpr int total_requests = 2000;
constexpr int concurrency = 100;
constexpr auto server_delay = std::chrono::milliseconds(50);

// Set by main() from the server child's report.
int g_server_port = 0;
pid_t g_server_pid = 0;

std::string server_url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(g_server_port) + path; }

sluice::test::loopback_server& server() {
  // cpp-httplib holds a thread per keep-alive connection, and each of the
  // four clients keeps `concurrency` connections open: size the pool for all
  // of them plus slack.
  static sluice::test::loopback_server s(4 * concurrency + 20);
  static const bool started = [] {
    s.routes().Get("/delay", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(server_delay);
      res.set_content("ok", "application/octet-stream");
    });
    s.routes().Get("/fast", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "application/octet-stream");
    });
    s.start();
    return true;
  }();
  (void)started;
  return s;
}

// ---- the hand-written baseline: one multi handle, curl_multi_perform/poll ----

std::size_t append_to(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

class curl_multi_loop {
 public:
  enum class options {
    minimal,          // only what the workload needs: the anchor of issue 13
    sluice_defaults,  // also what http::client sets by default (see below)
  };
  // How the loop drives libcurl.
  enum class driver {
    perform,        // curl_multi_perform + curl_multi_poll: every handle visited per call
    socket_action,  // curl_multi_socket_action per ready socket on an epoll set, as http::client does
  };

  explicit curl_multi_loop(options which = options::minimal, driver how = driver::perform)
      : m_multi(curl_multi_init()) {
    if (how == driver::socket_action) {
      m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
      if (m_epoll < 0) throw std::runtime_error("curl_multi_loop: epoll_create1 failed");
      curl_multi_setopt(m_multi, CURLMOPT_SOCKETFUNCTION, &curl_multi_loop::on_socket);
      curl_multi_setopt(m_multi, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
      curl_multi_setopt(m_multi, CURLMOPT_TIMERFUNCTION, &curl_multi_loop::on_timer);
      curl_multi_setopt(m_multi, CURLMOPT_TIMERDATA, static_cast<void*>(this));
    }
    if (which == options::sluice_defaults) {
      // A DNS and TLS-session share, as every http::client uses.
      m_share = curl_share_init();
      curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt(m_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
      // User-Agent and Accept-Encoding as header lines, as http::client
      // sends them when no proxy is in use (libcurl's own would be
      // formatted again per request).
      m_headers = curl_slist_append(m_headers, "User-Agent: sluice-http/0.1");
      m_headers = curl_slist_append(m_headers, "Accept-Encoding: deflate, gzip, br, zstd");
    }
    for (int i = 0; i < concurrency; ++i) {
      m_slots.push_back(std::make_unique<slot>());
      slot& s = *m_slots.back();
      s.easy = curl_easy_init();
      curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(s.easy, CURLOPT_ACCEPT_ENCODING, "");
      curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, &append_to);
      curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, static_cast<void*>(&s.body));
      curl_easy_setopt(s.easy, CURLOPT_HEADERFUNCTION, &append_to);
      curl_easy_setopt(s.easy, CURLOPT_HEADERDATA, static_cast<void*>(&s.headers));
      curl_easy_setopt(s.easy, CURLOPT_PRIVATE, static_cast<void*>(&s));
      if (which == options::sluice_defaults) set_sluice_defaults(s.easy);
    }
  }
  ~curl_multi_loop() {
    for (auto& s : m_slots) curl_easy_cleanup(s->easy);
    curl_multi_cleanup(m_multi);
    if (m_epoll >= 0) ::close(m_epoll);
    if (m_share) curl_share_cleanup(m_share);
    curl_slist_free_all(m_headers);
  }
  curl_multi_loop(const curl_multi_loop&) = delete;
  curl_multi_loop& operator=(const curl_multi_loop&) = delete;

  // Performs `n` GETs of `url`, `concurrency` at a time; returns the number of 200s.
  int run(const std::string& url, int n) {
    progress p{url, n};
    for (auto& s : m_slots) {
      if (p.started == n) break;
      start(*s, url);
      ++p.started;
    }
    if (m_epoll >= 0) {
      drive_sockets(p);
    } else {
      while (p.finished < n) {
        int running = 0;
        curl_multi_perform(m_multi, &running);
        collect(p);
        if (p.finished < n) curl_multi_poll(m_multi, nullptr, 0, 1000, nullptr);
      }
    }
    return p.ok;
  }

 private:
  struct progress {
    const std::string& url;
    int n;
    int started = 0;
    int finished = 0;
    int ok = 0;
  };

  // Takes the finished transfers out and starts the next ones on their handles.
  void collect(progress& p) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(m_multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      long status = 0;
      if (msg->data.result == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      p.ok += status == 200 ? 1 : 0;
      ++p.finished;
      curl_multi_remove_handle(m_multi, easy);
      void* owner = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &owner);
      if (p.started < p.n) {
        start(*static_cast<slot*>(owner), p.url);
        ++p.started;
      }
    }
  }

  // The socket interface, as a single-threaded program would write it: one
  // epoll_wait, then curl_multi_socket_action for each ready socket (or for
  // the timeout libcurl asked for), then the finished transfers.
  void drive_sockets(progress& p) {
    epoll_event ready[64];
    while (p.finished < p.n) {
      int running = 0;
      if (m_timeout_ms == 0) {  // "now": what every added transfer asks for
        m_timeout_ms = -1;
        curl_multi_socket_action(m_multi, CURL_SOCKET_TIMEOUT, 0, &running);
        collect(p);
        continue;
      }
      const int wait_ms = m_timeout_ms < 0 ? 1000 : static_cast<int>(std::min(m_timeout_ms, 1000L));
      const int count = ::epoll_wait(m_epoll, ready, 64, wait_ms);
      if (count <= 0) {
        m_timeout_ms = -1;
        curl_multi_socket_action(m_multi, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      for (int i = 0; i < count; ++i) {
        const std::uint32_t events = ready[i].events;
        const int flags = ((events & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0) |
                          ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) | ((events & EPOLLERR) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(m_multi, ready[i].data.fd, flags, &running);
      }
      collect(p);
    }
  }

  // CURLMOPT_SOCKETFUNCTION: keeps each socket in the epoll set with the
  // events libcurl wants, changed only when they change.
  static int on_socket(CURL*, curl_socket_t fd, int what, void* self_ptr, void*) {
    auto& self = *static_cast<curl_multi_loop*>(self_ptr);
    if (what == CURL_POLL_REMOVE) {
      ::epoll_ctl(self.m_epoll, EPOLL_CTL_DEL, fd, nullptr);
      self.m_registered.erase(fd);
      return 0;
    }
    const std::uint32_t events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    epoll_event ev{};
    ev.data.fd = fd;
    ev.events = events;
    auto [it, added] = self.m_registered.try_emplace(fd, events);
    if (added) return ::epoll_ctl(self.m_epoll, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -1;
    if (it->second == events) return 0;
    it->second = events;
    return ::epoll_ctl(self.m_epoll, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -1;
  }

  // CURLMOPT_TIMERFUNCTION: libcurl's next timeout, -1 for none.
  static int on_timer(CURLM*, long timeout_ms, void* self_ptr) {
    static_cast<curl_multi_loop*>(self_ptr)->m_timeout_ms = timeout_ms;
    return 0;
  }

  struct slot {
    CURL* easy = nullptr;
    std::string body;
    std::string headers;
  };
  void start(slot& s, const std::string& url) {
    s.body.clear();
    s.headers.clear();
    curl_easy_setopt(s.easy, CURLOPT_URL, url.c_str());
    curl_multi_add_handle(m_multi, s.easy);
  }

  // The options client_options' defaults give every http::client request
  // that change what libcurl does per transfer: the stall check (low-speed
  // limit 1 byte/s over 60 s, re-armed a second ahead on every pass), the
  // connect timeout, the User-Agent and Accept-Encoding header lines, the
  // proxy settings read once (no proxy: libcurl then reads no environment
  // per transfer), TCP keep-alive, the protocol allow-list, TLS verification
  // and the share. Set once per handle, as a hand-written loop for one fixed
  // request would (http::client, too, sets only what differs from the
  // handle's last request).
  void set_sluice_defaults(CURL* e) const {
    curl_easy_setopt(e, CURLOPT_SHARE, m_share);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_2TLS});
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, m_headers);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }

  CURLM* m_multi;
  int m_epoll = -1;                                               // driver::socket_action only
  long m_timeout_ms = -1;                                         // the latest CURLMOPT_TIMERFUNCTION value
  std::unordered_map<curl_socket_t, std::uint32_t> m_registered;  // fd -> epoll events
  CURLSH* m_share = nullptr;
  curl_slist* m_headers = nullptr;
  std::vector<std::unique_ptr<slot>> m_slots;
};

// ---- sluice ----

sluice::task<int> worker(sluice::http::client& c, const std::string& url, int count) {
  int ok = 0;
  for (int i = 0; i < count; ++i) {
    auto r = co_await c.get(url);
    ok += (r && r->status == 200) ? 1 : 0;
  }
  co_return ok;
}

sluice::task<int> run_sluice(sluice::http::client& c, const std::string& url, int n) {
  std::vector<sluice::task<int>> workers;
  for (int i = 0; i < concurrency; ++i) workers.push_back(worker(c, url, n / concurrency + (i < n % concurrency)));
  int ok = 0;
  for (int done : co_await sluice::when_all(std::move(workers))) ok += done;
  co_return ok;
}

struct sluice_setup {
  sluice::runtime rt;
  sluice::http::client client{rt, {.max_in_flight = concurrency}};
};

sluice_setup& sluice_side() {
  static sluice_setup s;
  return s;
}

using seconds = std::chrono::duration<double>;

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct switches {
  double all = 0;
  double voluntary = 0;  // the thread blocked (futex, epoll_wait, poll); the rest are preemptions
};

switches process_context_switches() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return {static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw), static_cast<double>(usage.ru_nvcsw)};
}

struct run_cost {
  double wall = 0;
  double cpu = 0;
  double csw = 0;
  double vcsw = 0;
  double server_cpu = 0;
};

template <typename Run>
run_cost time_run(benchmark::State& state, Run run) {
  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = process_cpu_seconds();
  const double server0 = sluice_bench::child_cpu_seconds(g_server_pid);
  const switches csw0 = process_context_switches();
  int ok = run();
  const switches csw1 = process_context_switches();
  run_cost cost{seconds(std::chrono::steady_clock::now() - t0).count(), process_cpu_seconds() - cpu0,
                csw1.all - csw0.all, csw1.voluntary - csw0.voluntary,
                sluice_bench::child_cpu_seconds(g_server_pid) - server0};
  if (ok != total_requests)
    state.SkipWithError(("only " + std::to_string(ok) + " of " + std::to_string(total_requests) + " OK").c_str());
  return cost;
}

using sluice_bench::median;

// One client's figures over the alternated rounds.
struct side {
  std::vector<double> wall, cpu, csw, vcsw, server_cpu;
};

// The clients take turns, round after round, and each reports its medians:
// on a shared machine the load drifts, and alternating exposes all of them to
// the same drift.
std::vector<side> interleaved(benchmark::State& state, int rounds, const std::vector<std::function<int()>>& clients) {
  std::vector<side> sides(clients.size());
  for (auto _ : state) {
    for (int i = 0; i < rounds; ++i) {
      for (std::size_t c = 0; c < clients.size(); ++c) {
        const run_cost cost = time_run(state, clients[c]);
        sides[c].wall.push_back(cost.wall);
        sides[c].cpu.push_back(cost.cpu);
        sides[c].csw.push_back(cost.csw);
        sides[c].vcsw.push_back(cost.vcsw);
        sides[c].server_cpu.push_back(cost.server_cpu);
      }
    }
  }
  return sides;
}

// `name`'s CPU time, context switches and voluntary context switches per request.
void report_cpu(benchmark::State& state, const std::string& name, const side& m) {
  state.counters[name + "_cpu_us_per_req"] = median(m.cpu) * 1e6 / total_requests;
  state.counters[name + "_csw_per_req"] = median(m.csw) / total_requests;
  // Voluntary ones only (blocking waits): what the design decides; the rest
  // are preemptions, which on a loaded machine dominate.
  state.counters[name + "_vcsw_per_req"] = median(m.vcsw) / total_requests;
  // One clock tick over a round of 2,000 requests is 5 us per request.
  state.counters[name + "_server_cpu_us_per_req"] = median(m.server_cpu) * 1e6 / total_requests;
}

// sluice's rate over `anchor`'s: the median, and the extremes over the rounds
// (each round's ratio within that round).
void report_ratio(benchmark::State& state, const std::string& name, const side& anchor, const side& sluice) {
  double lo = 1e300, hi = 0;
  for (std::size_t i = 0; i < anchor.wall.size(); ++i) {
    lo = std::min(lo, anchor.wall[i] / sluice.wall[i]);
    hi = std::max(hi, anchor.wall[i] / sluice.wall[i]);
  }
  state.counters[name] = median(anchor.wall) / median(sluice.wall);
  state.counters[name + "_min"] = lo;
  state.counters[name + "_max"] = hi;
}

void throughput(benchmark::State& state) {
  auto& s = sluice_side();
  curl_multi_loop loop;
  curl_multi_loop same(curl_multi_loop::options::sluice_defaults);
  curl_multi_loop socket_loop(curl_multi_loop::options::sluice_defaults, curl_multi_loop::driver::socket_action);
  auto url = server_url("/fast");
  loop.run(url, concurrency);  // warm: open the connections on every side
  same.run(url, concurrency);
  socket_loop.run(url, concurrency);
  s.rt.block_on(run_sluice(s.client, url, concurrency));
  auto m = interleaved(state, 9,
                       {[&] { return loop.run(url, total_requests); }, [&] { return same.run(url, total_requests); },
                        [&] { return socket_loop.run(url, total_requests); },
                        [&] { return s.rt.block_on(run_sluice(s.client, url, total_requests)); }});
  state.counters["curl_loop_req_per_s"] = total_requests / median(m[0].wall);
  state.counters["curl_loop_same_options_req_per_s"] = total_requests / median(m[1].wall);
  state.counters["curl_socket_loop_req_per_s"] = total_requests / median(m[2].wall);
  state.counters["sluice_req_per_s"] = total_requests / median(m[3].wall);
  report_ratio(state, "x_curl_loop", m[0], m[3]);
  report_ratio(state, "x_curl_loop_same_options", m[1], m[3]);
  report_ratio(state, "x_curl_socket_loop", m[2], m[3]);
  report_ratio(state, "curl_socket_loop_x_curl_loop", m[0], m[2]);
  report_cpu(state, "curl_loop", m[0]);
  report_cpu(state, "curl_loop_same_options", m[1]);
  report_cpu(state, "curl_socket_loop", m[2]);
  report_cpu(state, "sluice", m[3]);
}

void latency_bound(benchmark::State& state) {
  auto& s = sluice_side();
  curl_multi_loop loop;
  auto url = server_url("/delay");
  loop.run(url, concurrency);
  s.rt.block_on(run_sluice(s.client, url, concurrency));
  const double ideal = seconds(server_delay).count() * ((total_requests + concurrency - 1) / concurrency);
  auto m = interleaved(state, 3,
                       {[&] { return loop.run(url, total_requests); },
                        [&] { return s.rt.block_on(run_sluice(s.client, url, total_requests)); }});
  state.counters["curl_loop_x_ideal"] = median(m[0].wall) / ideal;
  state.counters["sluice_x_ideal"] = median(m[1].wall) / ideal;
  report_cpu(state, "curl_loop", m[0]);
  report_cpu(state, "sluice", m[1]);
}

BENCHMARK(throughput)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(latency_bound)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

// The server runs in a child forked before any thread exists, so that the
// CPU figures above are the clients' alone. The child dies with the parent.
int main(int argc, char** argv) {
  int port_pipe[2];
  if (::pipe(port_pipe) != 0) return 1;
  const pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    ::close(port_pipe[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int port = server().port();
    if (::write(port_pipe[1], &port, sizeof port) != static_cast<ssize_t>(sizeof port)) ::_exit(1);
    ::close(port_pipe[1]);
    for (;;) ::pause();
  }
  ::close(port_pipe[1]);
  g_server_pid = child;
  const bool have_port = ::read(port_pipe[0], &g_server_port, sizeof g_server_port) == sizeof g_server_port;
  ::close(port_pipe[0]);
  int status = 1;
  if (have_port) {
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    status = 0;
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return status;
}
