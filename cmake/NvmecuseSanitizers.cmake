# Applies NVMECUSE_SANITIZE globally so that tests, libraries and apps agree.
if(NVMECUSE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # Not position independent: UBSan's check data gives an executable some
  # two million relative relocations, which a PIE processes at every start
  # (0.36 s for a test on the host, 0.14 s without, and ten times that in
  # the TCG guest, where the daemon and nvmecusectl start again and again).
  add_link_options(-fsanitize=address,undefined -no-pie)
elseif(NVMECUSE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT NVMECUSE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "NVMECUSE_SANITIZE must be empty, 'address' or 'thread'")
endif()

# The fuzz tier (NVMECUSE_BUILD_FUZZ): every library gets libFuzzer's coverage
# instrumentation; tests/fuzz links the fuzzer's main into its targets only.
if(NVMECUSE_BUILD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "NVMECUSE_BUILD_FUZZ needs clang (libFuzzer): use the 'fuzz' preset")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
