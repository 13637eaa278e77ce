// A user's program built against an installed sluice.
#include <sluice/core/core.hpp>

sluice::task<int> produce_and_sum(sluice::runtime& rt) {
  auto [tx, rx] = sluice::channel<int>(4);
  auto producer = rt.spawn([](sluice::channel_sender<int> out) -> sluice::task<void> {
    for (int i = 1; i <= 100; ++i) co_await out.send(i);
  }(std::move(tx)));
  int sum = 0;
  while (auto v = co_await rx.recv()) sum += *v;
  co_await producer;
  auto doubled = rt.offload([sum] { return 2 * sum; });
  co_return co_await doubled;
}

int main() {
  sluice::runtime rt({.threads = 2});
  return rt.block_on(produce_and_sum(rt)) == 10100 ? 0 : 1;
}
