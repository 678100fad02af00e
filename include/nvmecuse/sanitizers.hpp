// NVMECUSE_ASAN is defined when AddressSanitizer instruments this build
// (GCC's __SANITIZE_ADDRESS__, clang's __has_feature): recycling allocators
// then poison what they hold, or step aside, so a use after free is still
// reported.
#pragma once

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NVMECUSE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(NVMECUSE_ASAN)
#define NVMECUSE_ASAN 1
#endif
