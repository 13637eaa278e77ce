# libFuzzer builds (the `fuzz` preset): every sluice library is compiled with
# coverage instrumentation plus ASan and UBSan; only the harness executables in
# tests/fuzz link libFuzzer's main (-fsanitize=fuzzer), see sluice_add_fuzzer.
option(SLUICE_FUZZ "Build the libFuzzer harnesses in tests/fuzz (clang only)" OFF)
if(SLUICE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SLUICE_FUZZ needs clang (libFuzzer): configure with `cmake --preset fuzz`")
  endif()
  # -fno-sanitize=function: clang 14 cannot emit UBSan's function-type
  # prologue for coroutines compiled with coverage ("Cannot represent a
  # difference across sections", e.g. connectors/http/src/retry.cpp).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
