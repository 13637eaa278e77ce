// The anchor of scripts/compile_cost.sh: pipeline30.cpp's program written
// by hand with tbb::parallel_pipeline (the same filter, maps, text and
// output), compiled with the same flags.
#include <oneapi/tbb/parallel_pipeline.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

std::string describe(int n) { return "item " + std::to_string(n); }

int main() {
  std::vector<int> input(1000);
  for (int i = 0; i < 1000; ++i) input[static_cast<std::size_t>(i)] = i;
  std::vector<std::string> out;
  std::size_t next = 0;
  tbb::parallel_pipeline(
      8, tbb::make_filter<void, int>(tbb::filter_mode::serial_in_order, [&](tbb::flow_control& fc) {
           while (next < input.size() && input[next] % 3 == 0) ++next;
           if (next == input.size()) {
             fc.stop();
             return 0;
           }
           return input[next++] * 2;
         }) & tbb::make_filter<int, std::string>(tbb::filter_mode::parallel, [](int n) {
           return describe(n + 1);
         }) & tbb::make_filter<std::string, void>(tbb::filter_mode::serial_in_order, [&](std::string s) {
           out.push_back(std::move(s));
         }));
  std::printf("%zu items\n", out.size());
  return out.size() == 666 ? 0 : 1;
}
