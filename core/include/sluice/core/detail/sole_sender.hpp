// The sole-sender gate of a channel's tail: lets one thread claim ring
// slots (a bounded channel) or list positions (an unbounded one; each lane
// of a per-sender channel has a tail and a gate of its own) with plain
// stores of the tail instead of a CAS.
//
// A CAS on the tail (a locked instruction, 11-15 ns on the project's VM) is
// most of a single send's cost; a producer that is the only writer of the
// tail could claim with a load and a store. The gate decides who that is.
//
// Ownership is per *thread*, not per handle: one handle may be shared by
// several threads, so the sender count cannot tell that a send has no
// concurrent rival. The gate's state is one of
//   unclaimed  nobody owns the tail yet;
//   <token>    the thread with this token (this_thread_token()) owns it: it
//              alone writes the tail with plain stores, inside enter()/leave();
//   revoking   the owner is being demoted (transient);
//   shared     everybody claims with a CAS, for good.
// The owner claims the gate once (unclaimed -> token, a CAS). Every other
// writer of the tail (another sender thread, a waker sending on a parked
// waiter's behalf, close()) calls before_shared_write() before its CAS or
// fetch_or; if the gate is owned by someone else that demotes the owner
// (share()): an asymmetric Dekker between the owner's `inside` flag and the
// state. The owner: plain store inside = true, compiler barrier, load the
// state, plain writes of the tail if it is still its token, release store
// inside = false. The demoter: state = revoking, heavy_barrier(), wait for
// inside == false, state = shared. Either the owner's load sees `revoking`
// (it falls back to the CAS) or the demoter sees `inside` and waits for the
// owner's plain op to finish; after that the owner never writes the tail
// without a CAS again. Without membarrier (heavy_barrier_available() false)
// the gate is never claimed.
//
// Exceptions to demotion: the owner itself may always use the CAS path (it
// is not inside then), and so may a waker sending for the owner's own
// parked thread (the owner is blocked in that send, so it cannot be inside;
// it resumes through the channel's mutex, after the waker's CAS).
//
// Parking. The channel's waiter protocol needs a StoreLoad order on the
// sender: its claim of the tail before its load of the receivers' waiting
// count, which the seq_cst CAS gave. The owner's plain store does not
// (x86 lets the load pass the store), so a receiver about to park calls
// before_waiter_looks() between its increment of the count and its last
// look at the ring: a heavy barrier while the gate may have an owner. Then
// either the owner's count load sees the increment, or the owner's tail and
// stamp stores (before its load in program order) are visible to the
// receiver's look. The barrier is skipped when the state is `shared` (read
// seq_cst: share() stored it after the owner's last plain op ended, so
// those stores happen before the look; later sends CAS) or `unclaimed` (a
// later claim is a seq_cst CAS that follows the receiver's increment, so
// the owner's seq_cst count loads after it see it).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "sluice/core/detail/heavy_barrier.hpp"

namespace sluice::detail {

/// A token unique to the calling thread for the process's lifetime (never
/// reused after the thread exits), never 0-3.
inline std::uint64_t this_thread_token() noexcept {
  constexpr std::uint64_t first_token = 4;
  static constinit std::atomic<std::uint64_t> next{first_token};
  static constinit thread_local std::uint64_t token = 0;
  if (token == 0) [[unlikely]]
    token = next.fetch_add(1, std::memory_order_relaxed);
  return token;
}

class sole_sender_gate {
 public:
  static constexpr std::uint64_t unclaimed = 0;
  static constexpr std::uint64_t shared = 1;
  static constexpr std::uint64_t revoking = 2;

  /// The owner's fast path: true if thread `me` owns the gate, and is then
  /// inside (the sole writer of the tail) until leave().
  bool enter(std::uint64_t me) noexcept {
    if (m_state.load(std::memory_order_relaxed) != me) return false;
    m_inside.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the demoter's heavy barrier orders the CPU
    if (m_state.load(std::memory_order_relaxed) == me) [[likely]]
      return true;
    m_inside.store(false, std::memory_order_release);  // not leave(): no plain send happened
    return false;
  }
  /// Ends an enter() that returned true; publishes the plain writes made
  /// inside to a demoter that waits for it.
  void leave() noexcept {
    m_plain_sends.store(m_plain_sends.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // owner only
    m_inside.store(false, std::memory_order_release);
  }

  /// True if thread `me` owns the gate (a hint: it may be demoted any time).
  [[nodiscard]] bool owned_by(std::uint64_t me) const noexcept { return m_state.load(std::memory_order_relaxed) == me; }

  /// True once the gate is shared for good: every writer of the tail uses
  /// the CAS, and the last owner's plain writes are visible (acquire).
  [[nodiscard]] bool is_shared() const noexcept { return m_state.load(std::memory_order_acquire) == shared; }

  /// True while nobody owns the gate and nobody has shared it.
  [[nodiscard]] bool is_unclaimed() const noexcept { return m_state.load(std::memory_order_relaxed) == unclaimed; }

  /// Makes thread `me` the owner if the gate is unclaimed and the heavy
  /// barrier works; true if it did.
  [[gnu::cold, gnu::noinline]] bool claim(std::uint64_t me) noexcept {
    if (!heavy_barrier_available()) {
      share();
      return false;
    }
    std::uint64_t expected = unclaimed;
    return m_state.compare_exchange_strong(expected, me, std::memory_order_seq_cst);
  }

  /// Before a CAS (or fetch_or) on the tail by anyone but the owner inside:
  /// returns once no plain write can race it. `owner_ok`: the token of a
  /// thread that may own the gate without being demoted, because it is the
  /// caller or is parked in the send being made for it (0: none).
  void before_shared_write(std::uint64_t owner_ok) noexcept {
    const std::uint64_t s = m_state.load(std::memory_order_acquire);
    if (s == shared || s == owner_ok) [[likely]]
      return;
    share();
  }

  /// Demotes for good: afterwards every writer of the tail uses the CAS.
  [[gnu::cold, gnu::noinline]] void share() noexcept {
    const share_step step = begin_share();
    if (step == share_step::revoking) heavy_barrier();
    end_share(step);
  }

  /// share() in two steps, so that one heavy barrier serves several gates
  /// (close() of a channel with a gate per lane): begin_share() on each,
  /// heavy_barrier() once if any returned `revoking`, then end_share() on
  /// each with what its begin_share() returned. Per gate the demoter's
  /// order is share()'s: its store of `revoking`, the barrier, its load of
  /// `inside`. Between the steps an owner falls back to the CAS and other
  /// demoters wait, so end every begun share promptly.
  enum class share_step : std::uint8_t {
    done,      // shared now: nothing left to do
    revoking,  // this call set `revoking`: the barrier, then end_share
    awaited,   // another demoter set `revoking`: end_share waits for it
  };
  [[nodiscard]] share_step begin_share() noexcept {
    std::uint64_t s = m_state.load(std::memory_order_acquire);
    while (true) {
      if (s == shared) return share_step::done;
      if (s == revoking) return share_step::awaited;
      // The owner demoting itself is not inside: no barrier needed.
      const bool may_be_inside = s != unclaimed && s != this_thread_token();
      if (m_state.compare_exchange_weak(s, may_be_inside ? revoking : shared, std::memory_order_seq_cst))
        return may_be_inside ? share_step::revoking : share_step::done;
    }
  }
  /// The second step (see begin_share); for `revoking`, after heavy_barrier().
  void end_share(share_step step) noexcept {
    if (step == share_step::revoking) {
      while (m_inside.load(std::memory_order_acquire)) std::this_thread::yield();
      m_state.store(shared, std::memory_order_seq_cst);
    } else if (step == share_step::awaited) {
      while (m_state.load(std::memory_order_acquire) != shared)
        std::this_thread::yield();  // another demoter is waiting for the owner
    }
  }

  /// A receiver about to park calls this after incrementing its waiting
  /// count (seq_cst) and before its last look at the ring (see the file
  /// comment).
  ///
  /// A heavy barrier costs microseconds (an interrupt on every CPU running
  /// this process), the plain claim saves about ten nanoseconds a send: a
  /// channel whose receivers park more often than once per
  /// k_sends_per_barrier plain sends (a ping-pong, a consumer faster than
  /// its producer) is demoted for good instead, and parks as before the
  /// gate existed. share() is at least as strong as the barrier: after it
  /// the owner's plain writes are visible and later sends use the CAS.
  void before_waiter_looks() noexcept {
    if (waiter_needs_barrier()) heavy_barrier();
  }

  /// before_waiter_looks() without its barrier, for a receiver that looks
  /// at several gates' tails (a channel's lanes): true if the caller must
  /// issue heavy_barrier() before its look. One barrier after all the
  /// gates' calls serves them all: what matters is that it comes between
  /// the receiver's increment of the waiting count and its look.
  [[nodiscard]] bool waiter_needs_barrier() noexcept {
    const std::uint64_t s = m_state.load(std::memory_order_seq_cst);
    if (s == shared || s == unclaimed) return false;
    const std::uint64_t barriers = m_barriers.fetch_add(1, std::memory_order_relaxed) + 1;
    if (barriers >= k_min_barriers && m_plain_sends.load(std::memory_order_relaxed) < barriers * k_sends_per_barrier) {
      share();
      return false;
    }
    return true;
  }

  /// Heavy barriers issued for parking receivers so far (for tests).
  [[nodiscard]] std::uint64_t parking_barriers() const noexcept { return m_barriers.load(std::memory_order_relaxed); }

 private:
  // Read by every sender on every send, written once or twice per channel.
  alignas(64) std::atomic<std::uint64_t> m_state{unclaimed};
  // Below this many parking barriers the gate is kept whatever the rate
  // (a burst's first parks); above it, fewer plain sends than
  // k_sends_per_barrier per barrier demote it.
  static constexpr std::uint64_t k_min_barriers = 16;
  static constexpr std::uint64_t k_sends_per_barrier = 512;

  // Written by the owner twice per send; read by a demoter only.
  alignas(64) std::atomic<bool> m_inside{false};
  std::atomic<std::uint64_t> m_plain_sends{0};  // the owner's plain sends (its own line: only it writes)
  // Parking receivers' heavy barriers: written per park only.
  alignas(64) std::atomic<std::uint64_t> m_barriers{0};
};

}  // namespace sluice::detail
