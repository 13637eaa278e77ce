// A source that pages through an API: an async_generator awaits each page
// (simulated with a timer that holds no thread), yields its items one by one,
// and stops early when the run is cancelled. Downstream, the items are scored
// in parallel on TBB and summed.
//
// The stop_token form of from() hands the generator a token that is stopped
// when the run is cancelled or fails, so a long wait for the next page ends
// at once instead of holding the run open.
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

struct page {
  std::vector<int> items;
  std::optional<int> next;  // the next page's number, like a Link rel="next"
};

// Stands in for an HTTP GET of one page: 20 ms of latency, 50 items a page,
// 8 pages in all. Returns nothing when stopped during the wait.
sluice::task<std::optional<page>> fetch_page(int number, std::stop_token stop) {
  if (!co_await sluice::sleep_for(20ms, stop)) co_return std::nullopt;
  page p;
  for (int i = 0; i < 50; ++i) p.items.push_back(number * 50 + i);
  if (number < 7) p.next = number + 1;
  co_return p;
}

sluice::async_generator<int> all_items(std::stop_token stop) {
  std::optional<int> number = 0;
  while (number) {
    auto fetched = co_await fetch_page(*number, stop);
    if (!fetched) co_return;  // cancelled while waiting
    for (int item : fetched->items) co_yield item;
    number = fetched->next;
  }
}

int main() {
  sluice::runtime rt;

  long total = 0;
  auto report = sluice::run(rt, sluice::from([](std::stop_token stop) { return all_items(stop); }, {.name = "pages"}) |
                                    sluice::parallel_map([](int item) { return long{item} * item; }, {.batch = 64}) |
                                    sluice::fold(total, [](long acc, long v) { return acc + v; }));
  std::printf("sum of squares of 400 paged items: %ld\n", total);
  std::printf("%s", report.describe().c_str());

  // The same source, cancelled after 50 ms: the generator's wait ends at once.
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
  });
  long partial = 0;
  auto cancelled = sluice::run(rt, sluice::from([](std::stop_token token) {
                                     return all_items(token);
                                   }) | sluice::fold(partial, [](long acc, int v) { return acc + v; }),
                               stop.get_token());
  canceller.join();
  std::printf("cancelled: %s, items seen before the stop: %llu\n", cancelled.cancelled ? "yes" : "no",
              static_cast<unsigned long long>(cancelled.stages[0].items_in));
}
