// Prints the machine's one-way cache-line transfer time in ns (see
// line_transfer.hpp), for the comparison scripts to print per round next to
// their ratios.
#include <cstdio>

#include "line_transfer.hpp"

int main() {
  std::printf("%.1f\n", sluice_bench::one_way_line_transfer_ns());
  return 0;
}
