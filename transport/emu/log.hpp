// The "emu" log category of the emulated controller.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace nvmecuse::emu {

/// The shared logger; created on first use. Thread-safe.
[[nodiscard]] spdlog::logger& log();

} // namespace nvmecuse::emu
