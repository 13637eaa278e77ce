// Shared by the memory-bound tests: live bytes counted by the items
// themselves (not RSS), and a coarse item that owns a counted buffer.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <utility>

namespace sluice_test {

// Live and peak bytes owned by blobs.
struct heap_meter {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> peak{0};
  static void add(long n) {
    auto now = live.fetch_add(n) + n;
    auto seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  static void reset() {
    live = 0;
    peak = 0;
  }
};

// A coarse item, e.g. a block of 4096 lines: `size` bytes on the heap,
// counted by heap_meter while they are allocated. Not filled: making one
// must be cheap even in unoptimised and sanitizer builds. A copy (a
// broadcast to several branches) owns a counted buffer of its own.
class blob {
 public:
  explicit blob(std::size_t size) : m_data(new char[size]), m_size(size) { heap_meter::add(static_cast<long>(size)); }
  blob(blob&& other) noexcept : m_data(std::move(other.m_data)), m_size(std::exchange(other.m_size, 0)) {}
  blob& operator=(blob&& other) noexcept {
    release();
    m_data = std::move(other.m_data);
    m_size = std::exchange(other.m_size, 0);
    return *this;
  }
  blob(const blob& other) : blob(other.m_size) {}
  blob& operator=(const blob& other) {
    if (this != &other) *this = blob(other.m_size);
    return *this;
  }
  ~blob() { release(); }
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }

 private:
  void release() noexcept {
    if (m_data) heap_meter::add(-static_cast<long>(m_size));
    m_data.reset();
  }
  std::unique_ptr<char[]> m_data;
  std::size_t m_size = 0;
};
// What sluice's byte bounds count for a blob (found by ADL).
inline std::size_t sluice_item_bytes(const blob& b) { return sizeof(blob) + b.size(); }

inline constexpr std::size_t blob_size = std::size_t{256} << 10;

inline long peak_blobs() { return heap_meter::peak.load() / static_cast<long>(blob_size); }

// Waits until `produced` reaches `target`, or stops growing for a second
// (the producer is held back by a bound), or `limit` passed. A bounded run
// therefore does not wait out the whole limit; an unbounded one (the
// control) reaches the target. A shorter pause cut the controls short on a
// machine loaded by parallel builds (a producer descheduled for 300 ms).
inline void wait_for_pile(const std::atomic<long>& produced, long target,
                          std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  long last = produced.load();
  auto since = std::chrono::steady_clock::now();
  while (produced.load() < target && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    const long now = produced.load();
    if (now != last) {
      last = now;
      since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - since > 1s) {
      return;
    }
  }
}

}  // namespace sluice_test
