// sluice::redis::message<T>: an item read from a stream, with what is needed
// to acknowledge it.
//
// from_stream yields message<T>. Pass it down the pipeline (m.map(f) turns
// the value into another while keeping the acknowledgement), and let a sink
// that takes it call ack(): redis::commit(fn) and redis::to_stream do so
// after fn returned / the XADD succeeded. The entry is acknowledged (XACK)
// once every item packed into it is acked. A message destroyed without
// ack() (filtered out, failed, dropped by a cancelled run) gives its entry
// back for redelivery, so nothing is lost silently: to drop an item on
// purpose, ack() it.
//
// id() ("<entry id>/<index>") is unique per item and stable across
// redeliveries: an idempotent sink keys on it (or on the item's own key).
//
// Thread-safety: a message is owned by one stage at a time (move-only);
// ack()/fail() may run on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace sluice::redis {
namespace detail {

/// Shared by the messages of one read batch (several entries, `slot` names
/// one); resolves an entry when its last item is, and acknowledges the
/// batch's entries together.
class entry_ack {
 public:
  virtual ~entry_ack() = default;
  /// One item of entry `slot` is done: taken (ok) or not (reason).
  virtual void resolve(std::uint32_t slot, bool ok, std::string_view reason) noexcept = 0;
  [[nodiscard]] virtual std::string_view entry_id(std::uint32_t slot) const noexcept = 0;
  [[nodiscard]] virtual std::uint64_t deliveries(std::uint32_t slot) const noexcept = 0;
};

}  // namespace detail

template <typename T>
class message {
 public:
  using value_type = T;

  message(T value, std::shared_ptr<detail::entry_ack> ack, std::uint32_t slot, std::uint32_t index)
      : m_value(std::move(value)), m_ack(std::move(ack)), m_slot(slot), m_index(index) {}
  message(message&&) noexcept = default;
  message& operator=(message&& other) noexcept {
    if (this != &other) {
      give_back("replaced before the sink took it");
      m_value = std::move(other.m_value);
      m_ack = std::move(other.m_ack);
      m_slot = other.m_slot;
      m_index = other.m_index;
    }
    return *this;
  }
  message(const message&) = delete;
  message& operator=(const message&) = delete;
  ~message() { give_back("dropped before a sink took it"); }

  [[nodiscard]] T& value() & noexcept { return m_value; }
  [[nodiscard]] const T& value() const& noexcept { return m_value; }
  [[nodiscard]] T&& value() && noexcept { return std::move(m_value); }

  /// "<entry id>/<index>": unique per item, stable across redeliveries.
  [[nodiscard]] std::string id() const { return std::string(entry_id()) + "/" + std::to_string(m_index); }
  /// The entry's id; valid while the message is pending (empty after ack() or fail()).
  [[nodiscard]] std::string_view entry_id() const noexcept {
    return m_ack ? m_ack->entry_id(m_slot) : std::string_view();
  }
  [[nodiscard]] std::uint32_t index() const noexcept { return m_index; }
  /// How many times the entry has been delivered (1 the first time).
  [[nodiscard]] std::uint64_t deliveries() const noexcept { return m_ack ? m_ack->deliveries(m_slot) : 0; }
  /// False after ack() or fail().
  [[nodiscard]] bool pending() const noexcept { return static_cast<bool>(m_ack); }

  /// The item is taken: its entry is acknowledged once all its items are.
  void ack() noexcept {
    if (auto a = std::exchange(m_ack, nullptr)) a->resolve(m_slot, true, {});
  }
  /// The item was not taken: the entry is delivered again later, and
  /// dead-lettered with `reason` after max_deliveries.
  void fail(std::string_view reason) noexcept { give_back(reason); }

  /// A message carrying f(value) with this message's acknowledgement.
  template <typename F>
  auto map(F&& f) && {
    using out_t = std::invoke_result_t<F, T&&>;
    // The value first: if f throws, this message still holds the ack and gives it back.
    out_t out = std::forward<F>(f)(std::move(m_value));
    return message<out_t>(std::move(out), std::exchange(m_ack, nullptr), m_slot, m_index);
  }

 private:
  void give_back(std::string_view reason) noexcept {
    if (auto a = std::exchange(m_ack, nullptr)) a->resolve(m_slot, false, reason);
  }

  T m_value;
  std::shared_ptr<detail::entry_ack> m_ack;
  std::uint32_t m_slot = 0;  // the entry within the ack's read batch
  std::uint32_t m_index = 0;
};

template <typename T>
inline constexpr bool is_message = false;
template <typename T>
inline constexpr bool is_message<message<T>> = true;

}  // namespace sluice::redis
