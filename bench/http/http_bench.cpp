// sluice::http::client against a minimal hand-written libcurl multi loop,
// same server, same concurrency, same options.
//
//  * latency_bound: N = 2000 requests, the server answers after 50 ms, 100 at
//    a time. The best any client can do is ceil(N/100) x 50 ms = 1 s; the
//    counter `x_ideal` is wall time over that (aim: <= 1.1).
//  * throughput: the same N with no server delay; `req_per_s` for both, and
//    for sluice `x_curl_loop` = its rate over the hand-written loop's rate
//    measured just before (aim: >= 0.9).
//
// The server is cpp-httplib on loopback with a thread per connection, sized
// above the concurrency so it is not the bottleneck. Run in Release; numbers
// on a shared machine are noisy, so compare the two clients within one run.
#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <sluice/core/runtime.hpp>
#include <sluice/core/when_all.hpp>
#include <sluice/http/client.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loopback_server.hpp"

namespace {

constexpr int total_requests = 2000;
constexpr int concurrency = 100;
constexpr auto server_delay = std::chrono::milliseconds(50);

sluice::test::loopback_server& server() {
  static sluice::test::loopback_server s(concurrency + 60);  // one thread per keep-alive connection
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

double g_curl_loop_rate = 0;  // requests/s of the baseline, measured first

using seconds = std::chrono::duration<double>;

void check(benchmark::State& state, int ok, int n) {
  if (ok != n) state.SkipWithError(("only " + std::to_string(ok) + " of " + std::to_string(n) + " OK").c_str());
}

void curl_loop_throughput(benchmark::State& state) {
  curl_multi_loop loop;
  auto url = server().url("/fast");
  loop.run(url, concurrency);  // warm: open the connections
  double elapsed = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    int ok = loop.run(url, total_requests);
    elapsed += seconds(std::chrono::steady_clock::now() - t0).count();
    check(state, ok, total_requests);
  }
  g_curl_loop_rate = static_cast<double>(total_requests) * static_cast<double>(state.iterations()) / elapsed;
  state.counters["req_per_s"] = g_curl_loop_rate;
}

void sluice_throughput(benchmark::State& state) {
  auto& s = sluice_side();
  auto url = server().url("/fast");
  s.rt.block_on(run_sluice(s.client, url, concurrency));  // warm
  double elapsed = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    int ok = s.rt.block_on(run_sluice(s.client, url, total_requests));
    elapsed += seconds(std::chrono::steady_clock::now() - t0).count();
    check(state, ok, total_requests);
  }
  double rate = static_cast<double>(total_requests) * static_cast<double>(state.iterations()) / elapsed;
  state.counters["req_per_s"] = rate;
  if (g_curl_loop_rate > 0) state.counters["x_curl_loop"] = rate / g_curl_loop_rate;
}

template <typename Run>
void report_latency_bound(benchmark::State& state, Run run) {
  const double ideal = seconds(server_delay).count() * ((total_requests + concurrency - 1) / concurrency);
  double elapsed = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    int ok = run();
    elapsed += seconds(std::chrono::steady_clock::now() - t0).count();
    check(state, ok, total_requests);
  }
  state.counters["x_ideal"] = elapsed / static_cast<double>(state.iterations()) / ideal;
}

void curl_loop_latency_bound(benchmark::State& state) {
  curl_multi_loop loop;
  auto url = server().url("/delay");
  loop.run(url, concurrency);
  report_latency_bound(state, [&] { return loop.run(url, total_requests); });
}

void sluice_latency_bound(benchmark::State& state) {
  auto& s = sluice_side();
  auto url = server().url("/delay");
  s.rt.block_on(run_sluice(s.client, url, concurrency));
  report_latency_bound(state, [&] { return s.rt.block_on(run_sluice(s.client, url, total_requests)); });
}

// Registration order is run order: each baseline runs before the sluice
// benchmark that divides by it.
BENCHMARK(curl_loop_throughput)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(sluice_throughput)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(curl_loop_latency_bound)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(sluice_latency_bound)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
