// sluice::pipeline_error: how a failing stage surfaces from run().
//
//   try { sluice::run(rt, p); }
//   catch (const sluice::pipeline_error& e) {
//     e.stage_name(); e.item_index(); e.report();
//     std::rethrow_if_nested(e);        // the user's original exception
//   }
#pragma once

#include <cstddef>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "sluice/stages/report.hpp"

namespace sluice {

/// Thrown by run() when a fail-fast stage failed. Nests the original
/// exception (std::nested_exception), so must be constructed inside a
/// handler of that exception (run does so).
class pipeline_error : public std::runtime_error, public std::nested_exception {
 public:
  /// item_index() when the failure was not tied to one item (e.g. a source's range threw).
  static constexpr std::size_t no_item = std::numeric_limits<std::size_t>::max();

  pipeline_error(std::string stage_name, std::size_t stage_index, std::size_t item_index, std::string what,
                 std::shared_ptr<const pipeline_report> report)
      : std::runtime_error(std::move(what)),
        m_stage_name(std::move(stage_name)),
        m_stage_index(stage_index),
        m_item_index(item_index),
        m_report(std::move(report)) {}

  /// The failing stage's name and position (0 = the source).
  [[nodiscard]] const std::string& stage_name() const noexcept { return m_stage_name; }
  [[nodiscard]] std::size_t stage_index() const noexcept { return m_stage_index; }
  /// The item's position in the failing stage's input, or no_item.
  [[nodiscard]] std::size_t item_index() const noexcept { return m_item_index; }
  /// The original exception (same as nested_ptr()).
  [[nodiscard]] std::exception_ptr cause() const noexcept { return nested_ptr(); }
  /// Counters of the failed run (drained, so still balanced).
  [[nodiscard]] const pipeline_report& report() const noexcept { return *m_report; }

 private:
  std::string m_stage_name;
  std::size_t m_stage_index;
  std::size_t m_item_index;
  std::shared_ptr<const pipeline_report> m_report;
};

}  // namespace sluice
