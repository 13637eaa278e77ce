// A typical 30-line user pipeline (compile-time measurement).
#include <sluice/sluice.hpp>

#include <cstdio>
#include <string>
#include <vector>

sluice::task<std::string> describe(int n) {
  co_await sluice::yield_now();
  co_return "item " + std::to_string(n);
}

int main() {
  sluice::runtime rt({.threads = 2});
  std::vector<int> input(1000);
  for (int i = 0; i < 1000; ++i) input[static_cast<std::size_t>(i)] = i;
  std::vector<std::string> out;
  auto p = sluice::from(std::move(input)) | sluice::filter([](int n) { return n % 3 != 0; }) |
           sluice::map([](int n) { return n * 2; }) | sluice::parallel_map([](int n) { return n + 1; }, {.batch = 64}) |
           sluice::async_map(describe, {.concurrency = 8}) | sluice::to_vector(out);
  auto report = sluice::run(rt, std::move(p));
  std::printf("%zu items, %s\n", out.size(), report.balanced() ? "balanced" : "unbalanced");
  return out.size() == 666 ? 0 : 1;
}
