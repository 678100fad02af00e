// --attach: NVMe/TCP and PCIe controllers, named directly or found by discovery.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "attach_retry.hpp"
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
/// An NVMe/TCP target that cannot be connected is handed to `retry`
/// (every --reconnect-delay, until --ctrl-loss-tmo; a warning says so)
/// instead of failing the start; its attempts append to `served` from the
/// retry thread, so the caller stops `retry` before it touches `served`
/// again. With --ctrl-loss-tmo 0 it is an error as any other.
/// Errors are messages naming the target (TransportId::describe()): a
/// failing I/O controller or discovery controller, or a discovery
/// controller whose listed subsystems all failed (one that fails among
/// others that come up is a warning).
[[nodiscard]] std::expected<void, std::string>
serve_attached(const Arguments& args, std::vector<ServedController>& served, AttachRetry& retry);

} // namespace nvmecused
