// A discovery controller's log, read once without attaching anything
// (nvmecusectl discover, as nvme discover).
#pragma once

#include <expected>
#include <vector>

#include "nvmecuse/ctrlr/discovery.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::service {

/// Connects the NVMe/TCP discovery controller `id` names (no subnqn, or
/// the discovery NQN) for one short association (no Keep Alive, no
/// reconnect; `tcp` gives the host NQN, host ID and DH-HMAC-CHAP secrets,
/// the transport ID's own hostnqn/hostid winning), reads its Discovery
/// Log Page (ctrlr::read_discovery_log()) and disconnects. Errors: `invalid`
/// for a transport ID of an I/O controller or of another transport,
/// `failed` (unreachable when nothing answered) naming the target. Any
/// thread; blocks while connecting.
[[nodiscard]] std::expected<ctrlr::DiscoveryLog, ManagerError>
read_discovery_log(const transport::TransportId& id, transport::tcp::TcpOptions tcp);

} // namespace nvmecuse::service
