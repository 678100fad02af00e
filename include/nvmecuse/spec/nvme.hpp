// Umbrella header of the NVMe specification layer: structs, enums and
// constexpr accessors shared by the emulated controller and host drivers.
#pragma once

#include "bits.hpp"      // IWYU pragma: export
#include "command.hpp"   // IWYU pragma: export
#include "features.hpp"  // IWYU pragma: export
#include "identify.hpp"  // IWYU pragma: export
#include "log_pages.hpp" // IWYU pragma: export
#include "opcodes.hpp"   // IWYU pragma: export
#include "registers.hpp" // IWYU pragma: export
#include "status.hpp"    // IWYU pragma: export
