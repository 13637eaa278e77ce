# Every dependency is a Debian package installed by scripts/setup.sh.
find_package(Threads REQUIRED)
find_package(TBB REQUIRED COMPONENTS tbb)

# libconcurrentqueue-dev ships headers only, no CMake config. Benchmarks only
# (moodycamel is an anchor in bench/); nothing installed links it.
find_path(SLUICE_CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue/concurrentqueue.h REQUIRED)
if(NOT TARGET sluice_concurrentqueue)
  add_library(sluice_concurrentqueue INTERFACE IMPORTED)
  set_target_properties(sluice_concurrentqueue PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SLUICE_CONCURRENTQUEUE_INCLUDE_DIR}")
endif()
