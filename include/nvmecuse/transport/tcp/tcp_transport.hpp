#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "nvmecuse/transport/transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

/// The NVMe/TCP host: reaches a controller of a remote (or local nvmet)
/// subsystem over TCP (NVMe/TCP Transport Specification 1.0, NVMe-oF 1.1).
namespace nvmecuse::transport::tcp {

/// Connection and recovery settings, named after the kernel's nvme-fabrics
/// options (`nvme connect --kato --reconnect-delay --ctrl-loss-tmo
/// --fast_io_fail_tmo --hdr-digest --data-digest --nr-io-queues --queue-size`).
struct TcpOptions {
    std::string hostnqn;                          ///< empty: derived from the host id
    std::array<std::uint8_t, 16> hostid{};        ///< all zero: generated once per process
    std::chrono::milliseconds kato{5'000};        ///< Keep Alive Timeout; Keep Alive sent at KATO/2
    std::chrono::milliseconds connect_timeout{3'000};
    std::chrono::seconds reconnect_delay{10};
    std::chrono::seconds ctrl_loss_tmo{600};      ///< negative or zero: see the kernel's semantics
    std::chrono::seconds fast_io_fail_tmo{-1};    ///< -1: off (kernel default)
    bool header_digest = false;
    bool data_digest = false;
    std::uint16_t io_queues = 1;
    std::uint16_t queue_size = 128;
};

/// Connects the admin queue of the controller `id` names (TCP connect,
/// ICReq/ICResp, Fabrics Connect, Property Get CAP and VS) and returns it as
/// a Transport that ctrlr::Controller::start() then enables. Errors:
/// connection_refused / host_unreachable / timed_out when the target cannot
/// be reached, protocol_error for a target that breaks the protocol,
/// invalid_argument for an id that is not tcp. Any thread.
[[nodiscard]] std::expected<std::unique_ptr<Transport>, std::error_code>
connect(const TransportId& id, const TcpOptions& options);

/// One record of a Discovery Log Page, reduced to what attaching needs.
struct DiscoveredSubsystem {
    std::uint8_t subtype = 0;     ///< 1 = referral/discovery, 2 = NVM subsystem, 3 = current discovery
    TransportId id;               ///< trtype/adrfam/traddr/trsvcid/subnqn of the entry
};

/// Connects to the discovery controller `id` names and reads the whole
/// Discovery Log Page, re-reading while its generation counter moves.
[[nodiscard]] std::expected<std::vector<DiscoveredSubsystem>, std::error_code>
discover(const TransportId& id, const TcpOptions& options);

} // namespace nvmecuse::transport::tcp
