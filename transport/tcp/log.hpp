// The "tcp" log category of the NVMe/TCP host.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace nvmecuse::transport::tcp {

/// The shared logger; created on first use. Thread-safe.
[[nodiscard]] spdlog::logger& log();

} // namespace nvmecuse::transport::tcp
