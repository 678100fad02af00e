#pragma once

#include <cstddef>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"
#include "nvmecuse/transport/transport_id.hpp"

/// Reading a Discovery Log Page (spec/discovery.hpp) into transport IDs,
/// shared by every fabrics transport. Pure functions, any thread.
namespace nvmecuse::transport {

/// The entries of a Discovery Log Page held in `page` (the header, then
/// NUMREC entries). Errors name the problem: a page shorter than its
/// header, a RECFMT other than 0, fewer bytes than NUMREC entries need.
[[nodiscard]] std::expected<std::vector<nvme::DiscoveryLogEntry>, std::string>
discovery_log_entries(std::span<const std::byte> page);

/// The transport ID of one entry: trtype, adrfam, traddr, trsvcid and
/// subnqn, the space-padded ASCII fields trimmed (hostnqn and hostid stay
/// empty). Errors: a transport other than TCP, an address family other
/// than IPv4/IPv6, an empty TRADDR, a TRSVCID that is not a port, an empty
/// SUBNQN.
[[nodiscard]] std::expected<TransportId, std::string>
transport_id_of(const nvme::DiscoveryLogEntry& entry);

} // namespace nvmecuse::transport
