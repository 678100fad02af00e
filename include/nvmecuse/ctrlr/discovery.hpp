#pragma once

#include <cstdint>
#include <expected>
#include <system_error>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::ctrlr {

/// One record of a Discovery Log Page: what attaching needs, and the rest
/// of what nvme discover prints.
struct DiscoveredSubsystem {
    std::uint8_t subtype = 0;  ///< 1 = referral/discovery, 2 = NVM subsystem, 3 = current discovery
    transport::TransportId id; ///< trtype/adrfam/traddr/trsvcid/subnqn of the entry
    std::uint8_t adrfam = 0;   ///< ADRFAM as listed (nvme::AddressFamily)
    std::uint8_t treq = 0;     ///< TREQ (nvme::treq bits)
    std::uint16_t portid = 0;  ///< PORTID
    std::uint16_t eflags = 0;  ///< EFLAGS (nvme::eflags bits)
    std::uint8_t sectype = 0;  ///< TSAS byte 0 of a TCP entry (nvme::TcpSecurityType)
};

/// A Discovery Log Page as read: its generation counter and its records.
struct DiscoveryLog {
    std::uint64_t genctr = 0;
    std::vector<DiscoveredSubsystem> records;
};

/// Reads the whole Discovery Log Page of the discovery controller `ctrl`
/// drives (NVMe Base 2.0, 5.16.1.23; NVMe-oF 1.1, 5.3): the header for
/// NUMREC, then the page, re-read while GENCTR moves (10 attempts, as
/// nvme-cli). Entries that are not TCP over IPv4/IPv6 are left out
/// (logged). Any thread but the controller's owner; blocking.
/// Errors: the admin command's, `io_error` for a failed status,
/// `protocol_error` for a malformed or oversized log,
/// `resource_unavailable_try_again` when the log never held still.
[[nodiscard]] std::expected<DiscoveryLog, std::error_code> read_discovery_log(Controller& ctrl);

} // namespace nvmecuse::ctrlr
