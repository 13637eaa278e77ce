// Compile-check input for check_compile_error.cmake. Each SLUICE_CASE_* is
// one misuse that must fail with sluice's static_assert first and few lines
// after it (the failed stage poisons the flow); SLUICE_GOOD_STAGE is the
// same program written correctly, which must compile.
#include <sluice/sluice.hpp>

#include <memory>
#include <string>
#include <vector>

struct not_a_stage {
#ifdef SLUICE_GOOD_STAGE
  int process(int x) const { return x; }
#else
  int transform(int x) const { return x; }
#endif
};

int main() {
  sluice::runtime rt;
  std::vector<int> in{1, 2, 3}, out;
#if defined(SLUICE_CASE_ASYNC_MAP_PLAIN_FUNCTION)
  // async_map given a function that does not return a task.
  auto p = sluice::from(in) | sluice::async_map([](int x) { return x + 1; }) |
           sluice::map([](int x) { return std::to_string(x); }) | sluice::for_each([](const std::string&) {});
#elif defined(SLUICE_CASE_UNCOPYABLE_LVALUE_RANGE)
  // from() owns its range: a generator lvalue cannot be copied.
  auto numbers = [](int n) -> sluice::generator<int> {
    for (int i = 0; i < n; ++i) co_yield i;
  }(3);
  auto p = sluice::from(numbers) | sluice::to_vector(out);
#elif defined(SLUICE_CASE_BROADCAST_UNCOPYABLE_ITEMS)
  // Two branches need a copy of each item.
  std::vector<std::unique_ptr<int> > owned;
  owned.push_back(std::make_unique<int>(1));
  auto p = sluice::from(std::move(owned)) | sluice::broadcast(sluice::for_each([](std::unique_ptr<int>) {}),
                                                              sluice::for_each([](std::unique_ptr<int>) {}));
#elif defined(SLUICE_CASE_BROADCAST_BRANCH_NOT_A_SINK)
  // A branch that does not end in a sink.
  auto p = sluice::from(in) | sluice::broadcast(sluice::to_vector(out), sluice::map([](int x) { return x; }));
#elif defined(SLUICE_CASE_PARTITION_KEY_NOT_CALLABLE)
  // The key function takes the wrong type.
  auto p = sluice::from(in) |
           sluice::partition([](const std::string& s) { return s.size(); }, 2, sluice::map([](int x) { return x; })) |
           sluice::to_vector(out);
#elif defined(SLUICE_CASE_PARTITION_NAMED_LANE)
  // Lanes share one specification: sluice::named does not name them.
  auto p = sluice::from(in) |
           sluice::partition([](int x) { return x; }, 2, sluice::named("hot", sluice::map([](int x) { return x; }))) |
           sluice::to_vector(out);
#else
  auto p = sluice::from(in) | not_a_stage{} | sluice::map([](int x) { return x * 2; }) | sluice::to_vector(out);
#endif
  auto report = sluice::run(rt, std::move(p));
  return static_cast<int>(report.stages.size() + p.stages().size());
}
