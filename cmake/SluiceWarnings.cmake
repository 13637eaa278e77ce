# Warnings for sluice's own targets (never for users' code that includes us).
add_library(sluice_warnings INTERFACE)
target_compile_options(sluice_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual
  $<$<BOOL:${SLUICE_WERROR}>:-Werror>
  # g++ 12 at -O2 reports impossible overlaps inside libstdc++'s
  # `"literal" + std::string&&` (GCC PR 105329), which breaks -Werror release builds.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)

# Sanitizer builds: the presets set SLUICE_SANITIZE to "address;undefined" or "thread".
set(SLUICE_SANITIZE "" CACHE STRING "Sanitizers to enable (address;undefined or thread)")
if(SLUICE_SANITIZE)
  list(JOIN SLUICE_SANITIZE "," _sluice_san)
  add_compile_options(-fsanitize=${_sluice_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_sluice_san})
  if("thread" IN_LIST SLUICE_SANITIZE)
    # oneTBB is not instrumented: sluice annotates its own hand-offs (see
    # core/include/sluice/core/detail/tsan.hpp); suppressions cover TBB internals.
    add_compile_definitions(SLUICE_TSAN=1)
    # moodycamel and oneTBB headers use std::atomic_thread_fence, which TSan
    # does not model; g++ warns about every use.
    add_compile_options(-Wno-tsan)
  endif()
endif()
