// A user's own stage is a plain struct: give it `process` (sync or async,
// per item) or `process_batch`, and it plugs into a pipeline like the
// built-in stages. A struct that fits none of these fails to compile with
// one message saying what a stage needs.
#include <sluice/sluice.hpp>

#include <cctype>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

// Sync, per item: called inline, in order.
struct word_count {
  static constexpr const char* name = "word_count";
  std::size_t process(const std::string& line) const {
    std::size_t words = 0;
    bool in_word = false;
    for (unsigned char c : line) {
      bool letter = std::isalnum(c) != 0;
      if (letter && !in_word) ++words;
      in_word = letter;
    }
    return words;
  }
};

// Async, per item: up to `.concurrency` calls in flight (e.g. a lookup service).
struct slow_lookup {
  sluice::task<std::size_t> process(std::size_t words) const {
    co_await sluice::sleep_for(std::chrono::milliseconds(1));
    co_return words * 10;
  }
};

// Batch: one call per chunk of items (e.g. a bulk insert).
struct running_total {
  std::size_t total = 0;
  std::vector<std::size_t> process_batch(std::vector<std::size_t>& scores) {
    std::vector<std::size_t> out;
    for (auto s : scores) out.push_back(total += s);
    return out;
  }
};

int main() {
  sluice::runtime rt;
  std::vector<std::string> lines = {"the quick brown fox", "jumps over", "the lazy dog", "sluice pipelines"};
  std::vector<std::size_t> totals;

  auto pipeline = sluice::from(lines)                                                  //
                  | word_count{}                                                       //
                  | sluice::stage(slow_lookup{}, {.concurrency = 8, .ordered = true})  //
                  | running_total{}                                                    //
                  | sluice::to_vector(totals);
  std::cout << pipeline.describe();
  auto report = sluice::run(rt, std::move(pipeline));

  for (auto t : totals) std::cout << t << '\n';
  std::cout << report.describe();
  return totals.size() == lines.size() ? 0 : 1;
}
