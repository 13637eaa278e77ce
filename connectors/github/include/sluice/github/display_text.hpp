// sluice::github::escape_for_display: the core helper (sluice/core/display_text.hpp)
// under the name the GitHub connector and repo-fetcher have always used.
#pragma once

#include "sluice/core/display_text.hpp"

namespace sluice::github {

using sluice::escape_for_display;

}  // namespace sluice::github
