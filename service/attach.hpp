// Attaching NVMe/TCP and PCIe controllers, named directly or found by discovery.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nvmecuse/service/serve_options.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

#include "discovery_targets.hpp"
#include "served_controller.hpp"

namespace nvmecuse::service {

/// Why a target did not come up; `unreachable` when connecting failed
/// (nothing listens, no route, no answer in time: worth retrying), not a
/// later step.
struct AttachError {
    std::string message;
    bool unreachable = false;
};

/// Receives each controller as soon as it is up, with the transport ID it
/// was connected with (a discovered subsystem's, not the discovery
/// controller's).
using ServedSink = std::function<void(ServedController, const transport::TransportId&)>;

/// Brings up what `id` names. A transport ID of an I/O controller is
/// connected as it is; one of a discovery controller (no subnqn, or the
/// discovery NQN) is replaced by every NVM subsystem (SUBTYPE 2h) its
/// Discovery Log Page lists, and every one the discovery controllers it
/// refers to (SUBTYPE 1h) list, as connect-all follows referrals
/// (discovery_referrals.hpp; each connected once and let go), up to
/// max_discovered_controllers (discovery_targets.hpp; the rest are dropped
/// with a warning). `tcp` is
/// overridden by the transport ID's own hostnqn/hostid. Errors name the
/// target (TransportId::describe()): a failing I/O controller or discovery
/// controller, or a discovery controller whose listed subsystems all
/// failed (one that fails among others that come up is a warning). Any
/// thread; blocks while connecting.
[[nodiscard]] std::expected<void, AttachError>
attach_target(const transport::TransportId& id, const transport::tcp::TcpOptions& tcp,
              const ServeOptions& serving, bool nodes, const ServedSink& sink);

/// Connects the discovery controller `id` names (subnqn empty or the
/// discovery NQN) without I/O queues. With `tcp.persistent` it keeps Keep
/// Alive (tcp.kato when tcp.kato_set, else persistent_discovery_kato) and
/// reconnects after a loss as the options say;
/// otherwise it has neither (a short-lived association). Any thread;
/// blocks while connecting.
[[nodiscard]] std::expected<std::unique_ptr<ctrlr::Controller>, AttachError>
connect_discovery(const transport::TransportId& id, const transport::tcp::TcpOptions& tcp);

/// Reads the Discovery Log Page of `discovery` (the controller of `id`)
/// and returns discovery_targets() of it, logging how many were listed and
/// warning about those dropped past `max`. With `referrals`, the records
/// of other discovery controllers (SUBTYPE 1h) go there, as listed. Errors
/// name `id`. Any thread but the controller's owner; blocks.
[[nodiscard]] std::expected<std::vector<transport::TransportId>, std::string>
listed_targets(ctrlr::Controller& discovery, const transport::TransportId& id,
               std::size_t max = max_discovered_controllers,
               std::vector<transport::TransportId>* referrals = nullptr);

} // namespace nvmecuse::service
