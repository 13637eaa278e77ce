// Regression tests read the inputs a fuzzer once failed on from
// tests/fuzz/regressions/<harness>/<name> (scripts/fuzz.sh also feeds them
// back to the fuzzers). Tests using this define SLUICE_FUZZ_REGRESSION_DIR.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::testing {

/// The bytes of tests/fuzz/regressions/<harness>/<name>; throws when missing.
inline std::string fuzz_regression_input(std::string_view harness, std::string_view name) {
  const std::string path =
      std::string(SLUICE_FUZZ_REGRESSION_DIR) + "/" + std::string(harness) + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fuzz regression input " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace sluice::testing
