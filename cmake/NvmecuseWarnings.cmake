# Warning flags shared by every nvmecuse target; -Werror in CI (NVMECUSE_WERROR).
add_library(nvmecuse_warnings INTERFACE)
target_compile_options(nvmecuse_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2
  $<$<BOOL:${NVMECUSE_WERROR}>:-Werror>)
add_library(nvmecuse::warnings ALIAS nvmecuse_warnings)
