// The Discovery Log Page (Log Identifier 70h) a discovery controller returns:
// one 1024-byte header, then NUMREC 1024-byte entries, one per NVM subsystem
// port (or referral) the host may connect to (NVMe Base 2.0, "Discovery Log
// Page"; NVMe over Fabrics 1.1, 5.3). Every multi-byte field is little
// endian; the string fields are ASCII padded with spaces (TRSVCID, TRADDR)
// or NUL-terminated UTF-8 (SUBNQN).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "bits.hpp"

namespace nvme {

/// Transport Type (TRTYPE).
enum class TransportType : uint8_t {
    rdma = 0x01,
    fibre_channel = 0x02,
    tcp = 0x03,
    intra_host = 0xfe, ///< the kernel's "loop"
};

/// Address Family (ADRFAM).
enum class AddressFamily : uint8_t {
    ipv4 = 0x01,
    ipv6 = 0x02,
    infiniband = 0x03,
    fibre_channel = 0x04,
    intra_host = 0xfe,
};

/// Subsystem Type (SUBTYPE) of an entry.
enum class DiscoverySubsystemType : uint8_t {
    referral = 0x01,          ///< another discovery subsystem (a referral)
    nvm = 0x02,               ///< an NVM subsystem: I/O controllers
    current_discovery = 0x03, ///< the discovery subsystem returning the log page
};

/// Transport Requirements (TREQ) bits.
namespace treq {
/// Bits 1:0, secure channel requirement.
using SecureChannel = Field<0, 2, uint8_t>;
inline constexpr uint8_t secure_channel_not_specified = 0;
inline constexpr uint8_t secure_channel_required = 1;
inline constexpr uint8_t secure_channel_not_required = 2;
/// Bit 2: the controller may run with SQ flow control disabled.
inline constexpr uint8_t sq_flow_control_disable = 1u << 2;
} // namespace treq

/// Entry Flags (EFLAGS) bits.
namespace eflags {
/// Duplicate Returned Information: other ports of this discovery
/// subsystem return the same log page (only with SUBTYPE 3h).
inline constexpr uint16_t dupretinfo = 1u << 0;
/// Explicit Persistent Connection Support for Discovery.
inline constexpr uint16_t epcsd = 1u << 1;
/// No CDC Connectivity (centralized discovery controllers only).
inline constexpr uint16_t ncc = 1u << 2;
} // namespace eflags

/// CNTLID of an entry for a subsystem with the dynamic controller model.
inline constexpr uint16_t cntlid_dynamic = 0xffff;
/// CNTLID asking the host to remember the one Connect returns (static model).
inline constexpr uint16_t cntlid_static_remember = 0xfffe;

/// NVMe/TCP Transport Specific Address Subtype (TSAS), byte 0: SECTYPE.
enum class TcpSecurityType : uint8_t {
    none = 0x00,
    tls12 = 0x01,
    tls13 = 0x02,
};

/// One Discovery Log Page Entry.
struct DiscoveryLogEntry {
    uint8_t trtype;  ///< TransportType
    uint8_t adrfam;  ///< AddressFamily
    uint8_t subtype; ///< DiscoverySubsystemType
    uint8_t treq;    ///< treq:: bits
    uint16_t portid;
    uint16_t cntlid; ///< cntlid_dynamic for the dynamic controller model
    uint16_t asqsz;  ///< Admin Max SQ Size, at least 32
    uint16_t eflags; ///< eflags:: bits
    std::array<uint8_t, 20> rsvd12;
    std::array<char, 32> trsvcid; ///< port, space-padded ASCII ("4420")
    std::array<uint8_t, 192> rsvd64;
    std::array<char, 256> subnqn;  ///< NUL-terminated
    std::array<char, 256> traddr;  ///< address, space-padded ASCII ("127.0.0.1")
    std::array<uint8_t, 256> tsas; ///< transport specific; TCP: byte 0 TcpSecurityType
};
static_assert(sizeof(DiscoveryLogEntry) == 1024);
static_assert(std::is_trivially_copyable_v<DiscoveryLogEntry> &&
              std::is_standard_layout_v<DiscoveryLogEntry>);
static_assert(offsetof(DiscoveryLogEntry, treq) == 3 && offsetof(DiscoveryLogEntry, portid) == 4 &&
              offsetof(DiscoveryLogEntry, cntlid) == 6 && offsetof(DiscoveryLogEntry, asqsz) == 8 &&
              offsetof(DiscoveryLogEntry, eflags) == 10 &&
              offsetof(DiscoveryLogEntry, trsvcid) == 32 &&
              offsetof(DiscoveryLogEntry, subnqn) == 256 &&
              offsetof(DiscoveryLogEntry, traddr) == 512 &&
              offsetof(DiscoveryLogEntry, tsas) == 768);

/// The Discovery Log Page header; the entries follow at byte 1024.
struct DiscoveryLogHeader {
    uint64_t genctr; ///< Generation Counter: changes whenever the log changes
    uint64_t numrec; ///< Number of Records
    uint16_t recfmt; ///< Record Format, discovery_record_format
    std::array<uint8_t, 1006> rsvd18;
};
static_assert(sizeof(DiscoveryLogHeader) == 1024);
static_assert(std::is_trivially_copyable_v<DiscoveryLogHeader> &&
              std::is_standard_layout_v<DiscoveryLogHeader>);
static_assert(offsetof(DiscoveryLogHeader, numrec) == 8 &&
              offsetof(DiscoveryLogHeader, recfmt) == 16);

/// The only Record Format defined.
inline constexpr uint16_t discovery_record_format = 0;

} // namespace nvme
