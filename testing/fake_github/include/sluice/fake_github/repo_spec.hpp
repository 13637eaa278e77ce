#pragma once
// Description of one fake GitHub repository: what the generator produces for
// it and how the fake server treats it (pagination style, scripted errors).

#include <cstdint>
#include <string>

namespace sluice::fake_github {

/// How list endpoints paginate.
enum class pagination_mode {
  /// `page=N` links with rel="prev", "next", "last" and "first", as GitHub
  /// does for ordinary repositories.
  numbered,
  /// `page=N` links but never rel="last" (clients must walk rel="next").
  numbered_no_last,
  /// Opaque `after=`/`before=` cursors, no rel="last" or rel="first", and
  /// `page=` deeper than `server_options::cursor_max_page` answers 422, as
  /// GitHub does for large data sets.
  cursor,
};

/// One repository the fake server serves.
///
/// `issues` + `pulls` items appear in `/issues` (pull requests carry a
/// `pull_request` key there), and the `pulls` pull requests also in `/pulls`.
/// Everything generated is a pure function of this struct: the same spec gives
/// byte-identical items on every run and machine.
struct repo_spec {
  std::string owner{};
  std::string name{};
  int issues = 0;          ///< plain issues (not pull requests)
  int pulls = 0;           ///< pull requests
  std::uint64_t seed = 1;  ///< varies titles, states, times, labels, authors
  /// Repository id (used by `/repositories/{id}/...` links); 0 derives a stable
  /// id from owner/name.
  std::int64_t id = 0;
  int label_pool = 12;   ///< distinct labels drawn from (1..14)
  int author_pool = 12;  ///< distinct authors drawn from (1..32)

  // --- Server behaviour (the generator ignores these) ---------------------
  /// Non-zero: every request for this repository answers this status with
  /// GitHub's message: 404 (missing or private), 409 (empty repository),
  /// 410 (issues disabled), 451 (access blocked), 403, 422, 500...
  int error_status = 0;
  /// Non-empty "owner/name": the repository was renamed; every request answers
  /// 301 with a `Location` on `/repositories/{id of the target}/...`, keeping
  /// the rest of the path and the query. The target must be served too.
  std::string renamed_to{};
  /// Pagination style for this repository's list endpoints.
  pagination_mode pagination = pagination_mode::numbered;

  [[nodiscard]] std::string full_name() const { return owner + "/" + name; }
};

}  // namespace sluice::fake_github
