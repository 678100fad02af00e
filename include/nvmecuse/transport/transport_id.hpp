#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

/// Where a fabrics controller lives, as SPDK writes it
/// ("trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn...").
namespace nvmecuse::transport {

struct TransportId {
    std::string trtype;  ///< "tcp" or "pcie" (lower-cased)
    std::string adrfam;  ///< "ipv4" or "ipv6" (lower-cased); default ipv4
    std::string traddr;  ///< address: "127.0.0.1", "::1", a host name; a PCI address for pcie
    std::string trsvcid; ///< port: "4420" (I/O), "8009" (discovery)
    std::string subnqn;  ///< subsystem NQN; empty or the discovery NQN = discovery controller
    std::string hostnqn; ///< optional; empty = the daemon's default host NQN
    std::string hostid;  ///< optional host identifier (UUID text); empty = derived

    /// "tcp 127.0.0.1:4420 nqn.…" ("tcp [::1]:8009 discovery" for a
    /// discovery controller) for messages and logs.
    [[nodiscard]] std::string describe() const;

    /// True when `subnqn` names a discovery controller: empty or the
    /// well-known discovery NQN (never for pcie).
    [[nodiscard]] bool is_discovery() const;
};

/// The well-known discovery subsystem NQN.
inline constexpr std::string_view discovery_nqn = "nqn.2014-08.org.nvmexpress.discovery";

/// Longest NQN in bytes, without the terminating NUL (NVMe Base 2.0, 4.5).
inline constexpr std::size_t max_nqn_length = 223;

/// The IANA ports of NVMe over TCP: 4420 for I/O controllers, 8009 for
/// discovery controllers (NVMe/TCP Transport Specification 1.0).
inline constexpr std::string_view default_io_trsvcid = "4420";
inline constexpr std::string_view default_discovery_trsvcid = "8009";

/// Parses an SPDK-style transport ID string: key:value pairs separated by
/// whitespace. Keys are case-insensitive and take ':' or '=' (the first one
/// splits, so "traddr:::1" and "subnqn:nqn.x:y" work); trtype and adrfam
/// values are lower-cased. trtype:pcie takes traddr only, a PCI address
/// ("0000:00:04.0" or "00:04.0", normalized to the former). Keys: trtype (required, "tcp"), traddr
/// (required), adrfam (ipv4 | ipv6; default ipv6 when traddr holds a ':',
/// ipv4 otherwise), trsvcid (1..65535), subnqn, hostnqn (each at most
/// max_nqn_length bytes), hostid (a UUID).
///
/// A missing trsvcid defaults as nvme-cli does (libnvme
/// nvmf_get_default_trsvcid): 8009 for a discovery controller (no subnqn, or
/// the discovery NQN), 4420 for an I/O controller. The kernel's own
/// nvme-tcp, given no trsvcid, uses 8009 for both.
///
/// Errors are one line naming the offending part ("trid 'x': unknown key
/// 'foo'"); unknown, duplicate and empty keys or values are errors.
[[nodiscard]] std::expected<TransportId, std::string> parse_transport_id(std::string_view text);

/// "0000:00:04.0" for "00:04.0" or "0000:00:04.0" (lower-cased); empty when
/// `text` is no PCI address (domain:bus:device.function, hexadecimal). Pure.
[[nodiscard]] std::string normalize_bdf(std::string_view text);

/// Parses a host identifier in UUID text form (8-4-4-4-12 hex digits,
/// either case) into the 16 bytes the Fabrics Connect data carries
/// (NVMe-oF 1.1, Figure 20: HOSTID), in text order.
[[nodiscard]] std::expected<std::array<std::uint8_t, 16>, std::string>
parse_host_id(std::string_view text);

} // namespace nvmecuse::transport
