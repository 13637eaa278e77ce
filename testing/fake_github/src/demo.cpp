#include "sluice/fake_github/demo.hpp"

namespace sluice::fake_github {

std::vector<repo_spec> demo_repos() {
  std::vector<repo_spec> repos{
      {.owner = "acme", .name = "rocket", .issues = 180, .pulls = 120, .seed = 1},
      {.owner = "acme", .name = "launchpad", .issues = 0, .pulls = 0, .seed = 2},  // no issues at all
      {.owner = "acme", .name = "single", .issues = 1, .pulls = 0, .seed = 3},
      {.owner = "acme", .name = "thirty", .issues = 20, .pulls = 10, .seed = 4},  // one default-size page
      {.owner = "acme", .name = "hundred", .issues = 70, .pulls = 30, .seed = 5},
      {.owner = "acme", .name = "hundred-and-one", .issues = 60, .pulls = 41, .seed = 6},
      {.owner = "octo-org", .name = "parser", .issues = 260, .pulls = 140, .seed = 7},
      {.owner = "octo-org", .name = "docs", .issues = 45, .pulls = 12, .seed = 8, .label_pool = 6},
      {.owner = "octo-org", .name = "legacy-tool", .seed = 9, .renamed_to = "octo-org/modern-tool"},
      {.owner = "octo-org", .name = "modern-tool", .issues = 25, .pulls = 15, .seed = 9},
      {.owner = "bots-inc",
       .name = "deps",
       .issues = 15,
       .pulls = 220,
       .seed = 10,
       .author_pool = 4,
       .pagination = pagination_mode::numbered_no_last},
      {.owner = "big-co",
       .name = "monorepo",
       .issues = 700,
       .pulls = 300,
       .seed = 11,
       .pagination = pagination_mode::cursor},
      {.owner = "i18n-lab", .name = "babel", .issues = 90, .pulls = 30, .seed = 12, .author_pool = 20},
      // Scripted failures (see demo_failing_repo_names); "acme/does-not-exist" is simply not served.
      {.owner = "acme", .name = "blank", .seed = 13, .error_status = 409},
      {.owner = "acme", .name = "quiet", .issues = 10, .seed = 14, .error_status = 410},
      {.owner = "acme", .name = "blocked", .issues = 10, .seed = 15, .error_status = 451},
  };
  return repos;
}

std::vector<std::string> demo_repo_names() {
  return {"acme/rocket",          "acme/launchpad",       "acme/single",     "acme/thirty",
          "acme/hundred",         "acme/hundred-and-one", "octo-org/parser", "octo-org/docs",
          "octo-org/legacy-tool", "bots-inc/deps",        "big-co/monorepo", "i18n-lab/babel"};
}

std::vector<std::string> demo_failing_repo_names() {
  return {"acme/does-not-exist", "acme/blank", "acme/quiet", "acme/blocked"};
}

}  // namespace sluice::fake_github
