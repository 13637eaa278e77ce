// Compile-check input for check_compile_error.cmake: `not_a_stage` lacks
// process(); built with -DSLUICE_GOOD_STAGE it has it and must compile.
#include <sluice/sluice.hpp>

#include <vector>

struct not_a_stage {
#ifdef SLUICE_GOOD_STAGE
  int process(int x) const { return x; }
#else
  int transform(int x) const { return x; }
#endif
};

int main() {
  std::vector<int> in{1, 2, 3}, out;
  auto p = sluice::from(in) | not_a_stage{} | sluice::to_vector(out);
  return static_cast<int>(p.stages().size());
}
