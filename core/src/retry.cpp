#include "sluice/core/retry.hpp"

#include <random>

namespace sluice {

template struct retry_policy<std::exception_ptr>;

}  // namespace sluice

namespace sluice::detail {

double retry_random_unit() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace sluice::detail
