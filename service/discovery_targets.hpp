// Which controllers --attach brings up from one Discovery Log Page.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "nvmecuse/ctrlr/discovery.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::service {

/// Controllers attached from one Discovery Log Page at most. A discovery
/// controller is a remote party: a log of 4096 records (what
/// ctrlr::read_discovery_log() reads at most) would otherwise make the
/// daemon connect to, and serve CUSE nodes for, all of them. 64 covers a
/// host with a port per subsystem on a large target; more takes one
/// --attach per subsystem. Those past it are dropped with a warning.
inline constexpr std::size_t max_discovered_controllers = 64;

/// The controllers to attach from a discovery log.
struct DiscoveryTargets {
    std::vector<transport::TransportId> targets; ///< in log order
    std::size_t dropped = 0; ///< distinct NVM subsystem ports past the cap
};

/// The NVM subsystem ports (SUBTYPE 2h) among `records`, each with the host
/// identity (hostnqn, hostid) of the discovery controller `discovery`,
/// duplicates (same traddr, trsvcid and subnqn) dropped, the first `max`
/// kept. Pure; any thread.
[[nodiscard]] DiscoveryTargets
discovery_targets(const transport::TransportId& discovery,
                  std::span<const ctrlr::DiscoveredSubsystem> records,
                  std::size_t max = max_discovered_controllers);

/// `ports` (one log's targets), then those of `more` (other logs': the
/// discovery controllers it refers to) that are not among them already
/// (same traddr, trsvcid and subnqn), up to `max` in all; `dropped` counts
/// the distinct ones of `more` past it. Pure; any thread.
[[nodiscard]] DiscoveryTargets merged_targets(std::vector<transport::TransportId> ports,
                                              std::span<const transport::TransportId> more,
                                              std::size_t max = max_discovered_controllers);

} // namespace nvmecuse::service
