// --attach: NVMe/TCP controllers, named directly or found by discovery.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "served_controller.hpp"

namespace nvmecused {

/// Serves every controller --attach names, in command-line order. A
/// transport ID of an I/O controller is connected as it is; one of a
/// discovery controller (no subnqn, or the discovery NQN) is replaced by
/// every NVM subsystem (SUBTYPE 2h) its Discovery Log Page lists, up to
/// max_discovered_controllers (discovery_targets.hpp; the rest are dropped
/// with a warning).
///
/// Each controller is appended to `served` as soon as it is up, so that
/// the caller can take down the ones already up when a later one fails.
/// Errors are messages naming the target (TransportId::describe()): an
/// unreachable or failing I/O controller or discovery controller, or a
/// discovery controller whose listed subsystems all failed (one that fails
/// among others that come up is a warning).
[[nodiscard]] std::expected<void, std::string>
serve_attached(const Arguments& args, std::vector<ServedController>& served);

} // namespace nvmecused
