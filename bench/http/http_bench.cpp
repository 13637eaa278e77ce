// sluice::http::client against a minimal hand-written libcurl multi loop,
// same server, same concurrency, same options.
//
//  * latency_bound: N = 2000 requests, the server answers after 50 ms, 100 at
//    a time. The best any client can do is ceil(N/100) x 50 ms = 1 s; the
//    counter `sluice_x_ideal` is wall time over that (aim: <= 1.1).
//  * throughput: the same N with no server delay; `req_per_s` for both, and
//    for sluice `x_curl_loop` = its rate over the hand-written loop's rate
//    (aim: >= 0.95). The two clients alternate and medians are compared.
//
// Both report `*_cpu_us_per_req`: the client's CPU time (user + system, every
// thread of this process) per request, median over the rounds,
// `*_csw_per_req`, context switches per request, and `*_vcsw_per_req`, the
// voluntary ones among them (blocking waits; the rest are preemptions). The loopback server runs in
// a child process forked before any thread starts, so these are the
// clients' own costs, including what idle arena workers spend spinning
// before they sleep. On a loaded machine CPU per request is the steadier
// figure: wall time there mostly measures the scheduler.
//
// The server is cpp-httplib on loopback with a thread per connection, sized
// above the concurrency so it is not the bottleneck. Run in Release; numbers
// on a shared machine are noisy, so compare the two clients within one run.
#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <signal.h>
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
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loopback_server.hpp"

namespace {

constexpr int total_requests = 2000;
constexpr int concurrency = 100;
constexpr auto server_delay = std::chrono::milliseconds(50);

// Set by main() from the server child's report.
int g_server_port = 0;

std::string server_url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(g_server_port) + path; }

sluice::test::loopback_server& server() {
  // cpp-httplib holds a thread per keep-alive connection, and both clients keep
  // `concurrency` connections open: size the pool for both plus slack.
  static sluice::test::loopback_server s(3 * concurrency + 20);
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
  curl_multi_loop() : m_multi(curl_multi_init()) {
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
    }
  }
  ~curl_multi_loop() {
    for (auto& s : m_slots) curl_easy_cleanup(s->easy);
    curl_multi_cleanup(m_multi);
  }
  curl_multi_loop(const curl_multi_loop&) = delete;
  curl_multi_loop& operator=(const curl_multi_loop&) = delete;

  // Performs `n` GETs of `url`, `concurrency` at a time; returns the number of 200s.
  int run(const std::string& url, int n) {
    int started = 0;
    int finished = 0;
    int ok = 0;
    for (auto& s : m_slots) {
      if (started == n) break;
      start(*s, url);
      ++started;
    }
    while (finished < n) {
      int running = 0;
      curl_multi_perform(m_multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(m_multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* easy = msg->easy_handle;
        long status = 0;
        if (msg->data.result == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        ok += status == 200 ? 1 : 0;
        ++finished;
        curl_multi_remove_handle(m_multi, easy);
        void* owner = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &owner);
        if (started < n) {
          start(*static_cast<slot*>(owner), url);
          ++started;
        }
      }
      if (finished < n) curl_multi_poll(m_multi, nullptr, 0, 1000, nullptr);
    }
    return ok;
  }

 private:
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

  CURLM* m_multi;
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
};

template <typename Run>
run_cost time_run(benchmark::State& state, Run run) {
  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = process_cpu_seconds();
  const switches csw0 = process_context_switches();
  int ok = run();
  const switches csw1 = process_context_switches();
  run_cost cost{seconds(std::chrono::steady_clock::now() - t0).count(), process_cpu_seconds() - cpu0,
                csw1.all - csw0.all, csw1.voluntary - csw0.voluntary};
  if (ok != total_requests)
    state.SkipWithError(("only " + std::to_string(ok) + " of " + std::to_string(total_requests) + " OK").c_str());
  return cost;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct compared {
  double curl_time, sluice_time, curl_cpu, sluice_cpu, curl_csw, sluice_csw, curl_vcsw, sluice_vcsw;
  // Each round's sluice rate over the loop's rate in the same round.
  double min_ratio, max_ratio;
};

// The two clients take turns, round after round, and each reports its median:
// on a shared machine the load drifts, and alternating exposes both to the same drift.
template <typename RunCurl, typename RunSluice>
compared interleaved_medians(benchmark::State& state, int rounds, RunCurl curl, RunSluice sluice) {
  std::vector<double> curl_times, sluice_times, curl_cpu, sluice_cpu, curl_csw, sluice_csw, curl_vcsw, sluice_vcsw;
  for (auto _ : state) {
    for (int i = 0; i < rounds; ++i) {
      auto c = time_run(state, curl);
      auto s = time_run(state, sluice);
      curl_times.push_back(c.wall);
      curl_cpu.push_back(c.cpu);
      sluice_times.push_back(s.wall);
      sluice_cpu.push_back(s.cpu);
      curl_csw.push_back(c.csw);
      sluice_csw.push_back(s.csw);
      curl_vcsw.push_back(c.vcsw);
      sluice_vcsw.push_back(s.vcsw);
    }
  }
  double lo = 1e300, hi = 0;
  for (std::size_t i = 0; i < curl_times.size(); ++i) {
    lo = std::min(lo, curl_times[i] / sluice_times[i]);
    hi = std::max(hi, curl_times[i] / sluice_times[i]);
  }
  return {median(curl_times),
          median(sluice_times),
          median(curl_cpu),
          median(sluice_cpu),
          median(curl_csw),
          median(sluice_csw),
          median(curl_vcsw),
          median(sluice_vcsw),
          lo,
          hi};
}

void report_cpu(benchmark::State& state, const compared& m) {
  state.counters["curl_loop_cpu_us_per_req"] = m.curl_cpu * 1e6 / total_requests;
  state.counters["sluice_cpu_us_per_req"] = m.sluice_cpu * 1e6 / total_requests;
  state.counters["curl_loop_csw_per_req"] = m.curl_csw / total_requests;
  state.counters["sluice_csw_per_req"] = m.sluice_csw / total_requests;
  // Voluntary ones only (blocking waits): what the design decides; the rest
  // are preemptions, which on a loaded machine dominate.
  state.counters["curl_loop_vcsw_per_req"] = m.curl_vcsw / total_requests;
  state.counters["sluice_vcsw_per_req"] = m.sluice_vcsw / total_requests;
}

void throughput(benchmark::State& state) {
  auto& s = sluice_side();
  curl_multi_loop loop;
  auto url = server_url("/fast");
  loop.run(url, concurrency);  // warm: open the connections on both sides
  s.rt.block_on(run_sluice(s.client, url, concurrency));
  auto m = interleaved_medians(
      state, 9, [&] { return loop.run(url, total_requests); },
      [&] { return s.rt.block_on(run_sluice(s.client, url, total_requests)); });
  state.counters["curl_loop_req_per_s"] = total_requests / m.curl_time;
  state.counters["sluice_req_per_s"] = total_requests / m.sluice_time;
  state.counters["x_curl_loop"] = m.curl_time / m.sluice_time;  // sluice's rate over the loop's
  state.counters["x_curl_loop_min"] = m.min_ratio;              // over the alternated rounds
  state.counters["x_curl_loop_max"] = m.max_ratio;
  report_cpu(state, m);
}

void latency_bound(benchmark::State& state) {
  auto& s = sluice_side();
  curl_multi_loop loop;
  auto url = server_url("/delay");
  loop.run(url, concurrency);
  s.rt.block_on(run_sluice(s.client, url, concurrency));
  const double ideal = seconds(server_delay).count() * ((total_requests + concurrency - 1) / concurrency);
  auto m = interleaved_medians(
      state, 3, [&] { return loop.run(url, total_requests); },
      [&] { return s.rt.block_on(run_sluice(s.client, url, total_requests)); });
  state.counters["curl_loop_x_ideal"] = m.curl_time / ideal;
  state.counters["sluice_x_ideal"] = m.sluice_time / ideal;
  report_cpu(state, m);
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
