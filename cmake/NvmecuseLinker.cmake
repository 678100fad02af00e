# The linker: LLD when it is there (scripts/install-deps installs it). GNU ld
# takes about 7 s to link one test executable with its debug info and
# sanitizer runtime, LLD under 2 s, and a sanitizer build links over 100
# executables. NVMECUSE_LINKER=default keeps the compiler's own.
set(NVMECUSE_LINKER "lld" CACHE STRING "Linker for -fuse-ld= ('default': the compiler's own)")
if(NOT NVMECUSE_LINKER STREQUAL "default")
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=${NVMECUSE_LINKER}" NVMECUSE_LINKER_WORKS)
  if(NVMECUSE_LINKER_WORKS)
    add_link_options(-fuse-ld=${NVMECUSE_LINKER})
  else()
    message(STATUS "nvmecuse: -fuse-ld=${NVMECUSE_LINKER} does not link here; the compiler's own linker")
  endif()
endif()
