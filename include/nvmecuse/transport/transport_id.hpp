#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

/// Where a fabrics controller lives, as SPDK writes it
/// ("trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn...").
namespace nvmecuse::transport {

struct TransportId {
    std::string trtype;   ///< "tcp" (lower-cased); "pcie" later
    std::string adrfam;   ///< "ipv4" or "ipv6" (lower-cased); default ipv4
    std::string traddr;   ///< address: "127.0.0.1", "::1", a host name
    std::string trsvcid;  ///< port: "4420" (I/O), "8009" (discovery)
    std::string subnqn;   ///< subsystem NQN; empty or the discovery NQN = discovery controller
    std::string hostnqn;  ///< optional; empty = the daemon's default host NQN
    std::string hostid;   ///< optional host identifier (UUID text); empty = derived

    /// "tcp 127.0.0.1:4420 nqn.…" for messages and logs.
    [[nodiscard]] std::string describe() const;
};

/// The well-known discovery subsystem NQN.
inline constexpr std::string_view discovery_nqn = "nqn.2014-08.org.nvmexpress.discovery";

/// Parses an SPDK-style transport ID string: space-separated key:value
/// pairs (keys case-insensitive, '=' accepted for ':'), unknown keys and
/// missing trtype/traddr are errors; the message names the offending part.
[[nodiscard]] std::expected<TransportId, std::string> parse_transport_id(std::string_view text);

} // namespace nvmecuse::transport
