#pragma once
// The demo data set: what `fake-github-server --demo` serves and the README's
// main command fetches.

#include <string>
#include <vector>

#include "sluice/fake_github/repo_spec.hpp"

namespace sluice::fake_github {

/// Every repository the demo server serves: the twelve of demo_repo_names(),
/// the target of the renamed one, and the scripted failures of
/// demo_failing_repo_names().
[[nodiscard]] std::vector<repo_spec> demo_repos();

/// The twelve "OWNER/REPO" names the demo fetches, all of which succeed:
/// sizes 0, 1, 30, 100, 101, a few hundred and 1000 items, a renamed
/// repository (301 to its new name), a cursor-paginated one and a repository
/// whose Link headers have no rel="last".
[[nodiscard]] std::vector<std::string> demo_repo_names();

/// Served names that fail as GitHub would: missing (404), empty (409),
/// issues disabled (410), blocked (451). For showing error reporting.
[[nodiscard]] std::vector<std::string> demo_failing_repo_names();

}  // namespace sluice::fake_github
