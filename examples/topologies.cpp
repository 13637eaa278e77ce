// Fan-in, partition by key and fan-out in one pipeline.
//
//   example_topologies
//
// Two sources of orders (say, two shops) are merged; a partition by
// customer keeps a running total per customer in each lane without locks
// (every order of one customer goes, in order, to the same lane); the
// updated totals go both to an archive and, through a filter, to a list of
// big spenders. The program prints the graph (describe(), and the dot text
// with `--dot`) and the report.
#include <sluice/sluice.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct order {
  std::string customer;
  double amount = 0;
};

struct running_total {
  std::string customer;
  double total = 0;
};

std::vector<order> shop(std::string_view prefix, int n) {
  std::vector<order> orders;
  for (int i = 0; i < n; ++i)
    orders.push_back({std::string(prefix) + std::to_string(i % 7), 10.0 + static_cast<double>(i % 13)});
  return orders;
}

int main(int argc, char** argv) {
  sluice::runtime rt;
  std::vector<running_total> archive, big_spenders;

  auto pipeline = sluice::merge(sluice::from(shop("north-", 500), {.name = "north"}),
                                sluice::from(shop("south-", 300), {.name = "south"})) |
                  sluice::partition([](const order& o) { return o.customer; }, 4,
                                    sluice::map([totals = std::unordered_map<std::string, double>{}](order o) mutable {
                                      double& total = totals[o.customer];  // this lane's customers only: no lock
                                      total += o.amount;
                                      return running_total{std::move(o.customer), total};
                                    })) |
                  sluice::broadcast(sluice::to_vector(archive), [&](auto totals) {
                    return std::move(totals) | sluice::filter([](const running_total& t) { return t.total > 1000; }) |
                           sluice::to_vector(big_spenders);
                  });

  std::cout << pipeline.describe() << "\n";
  if (argc > 1 && std::string_view(argv[1]) == "--dot") std::cout << pipeline.to_dot() << "\n";
  auto report = sluice::run(rt, std::move(pipeline));
  std::cout << report.describe() << "\n";
  std::printf("%zu totals archived, %zu over 1000\n", archive.size(), big_spenders.size());
  return report.balanced() && archive.size() == 800 ? 0 : 1;
}
