// The stage index that marks the run's own wait for its stages.
//
// pipeline_state::join() awaits every stage's join handle; a stall dump,
// which lists what a run awaits, would otherwise end every time with that
// wait, as old as the run and saying nothing the dump does not already say.
// join() gives its waits this index (as their item's stage) and the
// watchdog leaves them out.
#pragma once

#include <cstddef>

namespace sluice::detail {

inline constexpr std::size_t k_run_join_stage = static_cast<std::size_t>(-1);

}  // namespace sluice::detail
