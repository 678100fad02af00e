// NVMe/TCP Protocol Data Units as data: the common header, every PDU-specific
// header with the spec's field names, flag bits and the per-type rules the
// encoder and the parser share (NVM Express TCP Transport Specification 1.0,
// "TCP 1.0" below: 2 "Transport Overview", 3.3 "Data Transfer Model",
// 3.6.2 "NVMe/TCP PDUs"; layouts cross-checked against Linux and SPDK).
//
// Everything here is little-endian on the wire and mirrors the wire layout
// exactly (spec/bits.hpp refuses big-endian hosts). Header-only, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "nvmecuse/spec/bits.hpp"
#include "nvmecuse/spec/command.hpp"

namespace nvmecuse::transport::tcp {

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// PDU Format Version 1.0, the only one defined (ICReq/ICResp PFV).
inline constexpr uint16_t pfv_1_0 = 0;
/// Length of HDGST and DDGST: one CRC32C (TCP 1.0, 3.3.1.1).
inline constexpr uint32_t digest_length = 4;
/// ICReq and ICResp are exactly 128 bytes: HLEN = PLEN = 128, PDO = 0.
inline constexpr uint8_t ic_pdu_length = 128;
/// Largest HPDA/CPDA value; 0's based dwords, so 128-byte alignment.
inline constexpr uint8_t max_pda = 31;
/// Smallest MAXH2CDATA a controller should report (TCP 1.0, 3.6.2.3).
inline constexpr uint32_t min_maxh2cdata = 4096;
/// A TermReq carries at most 128 bytes of the offending PDU header, so its
/// PLEN is 24..152; a TermReq outside that is ignored and the connection
/// dropped (TCP 1.0, 3.5 "Transport Error Handling", 3.6.2.4, 3.6.2.5).
inline constexpr uint32_t term_req_max_data = 128;
inline constexpr uint32_t term_req_max_plen = 24 + term_req_max_data;

/// Data alignment in bytes that an HPDA or CPDA value asks for: (pda + 1)
/// dwords, so 4, 8, 12, ... 128 - not necessarily a power of two (TCP 1.0, 3.6.2.2).
[[nodiscard]] constexpr uint32_t pda_alignment(uint8_t pda) noexcept
{
    return (uint32_t{pda} + 1u) * 4u;
}

// ---------------------------------------------------------------------------
// PDU types and flags (TCP 1.0, Figure 10 "NVMe/TCP PDU Types", 3.6.2.1)
// ---------------------------------------------------------------------------

/// PDU-Type. Bit 0 is the direction: 0b host to controller, 1b controller
/// to host; a PDU received in the wrong direction is a fatal error (3.3).
enum class PduType : uint8_t {
    ic_req = 0x00,
    ic_resp = 0x01,
    h2c_term_req = 0x02,
    c2h_term_req = 0x03,
    capsule_cmd = 0x04,
    capsule_resp = 0x05,
    h2c_data = 0x06,
    c2h_data = 0x07,
    r2t = 0x09,
};

/// FLAGS bits of the common header. HDGSTF/DDGSTF say whether the digest is
/// present in this PDU; LAST_PDU and SUCCESS are defined for data PDUs only
/// (TCP 1.0, Figures 24-28).
namespace pdu_flags {
inline constexpr uint8_t hdgstf = 1u << 0;
inline constexpr uint8_t ddgstf = 1u << 1;
inline constexpr uint8_t last_pdu = 1u << 2;
inline constexpr uint8_t success = 1u << 3;
} // namespace pdu_flags

/// DGST bits of ICReq/ICResp (TCP 1.0, 3.6.2.2, 3.6.2.3).
namespace dgst_bits {
inline constexpr uint8_t hdgst_enable = 1u << 0;
inline constexpr uint8_t ddgst_enable = 1u << 1;
} // namespace dgst_bits

/// Fatal Error Status of H2CTermReq/C2HTermReq (TCP 1.0, Figures 22 and 23).
/// 05h means "R2T Limit Exceeded" when the host sends it (an R2T beyond
/// MAXR2T) and "Data Transfer Limit Exceeded" when the controller does (an
/// H2CData longer than MAXH2CDATA).
enum class FatalErrorStatus : uint16_t {
    invalid_pdu_header_field = 0x01,
    pdu_sequence_error = 0x02,
    header_digest_error = 0x03,
    data_transfer_out_of_range = 0x04,
    r2t_limit_exceeded = 0x05,           ///< in an H2CTermReq
    data_transfer_limit_exceeded = 0x05, ///< in a C2HTermReq
    unsupported_parameter = 0x06,
};

/// Which side sends a PDU type.
enum class Direction : uint8_t { host_to_controller, controller_to_host };

/// Where a PDU type carries data, if at all.
enum class DataPlacement : uint8_t {
    none,            ///< ICReq, ICResp, CapsuleResp, R2T: PLEN = HLEN (+ HDGST)
    after_header,    ///< TermReqs: the offending header right after HLEN, PDO 0, no digests
    optional_at_pdo, ///< CapsuleCmd: in-capsule data at PDO, or none (PDO 0)
    required_at_pdo, ///< H2CData, C2HData: data at PDO, never empty
};

/// The per-type rules: the one place that says which HLEN, flags and data
/// layout a type has. Encoder and parser both read it.
struct PduTypeInfo {
    PduType type;
    std::string_view name; ///< the spec's name ("CapsuleCmd")
    uint8_t hlen;          ///< the only valid HLEN
    uint8_t valid_flags;   ///< FLAGS bits that may be set
    Direction direction;
    DataPlacement data;
    bool digests; ///< header/data digests apply once negotiated
};

inline constexpr uint8_t digest_flags = pdu_flags::hdgstf | pdu_flags::ddgstf;

inline constexpr std::array<PduTypeInfo, 9> pdu_type_table{{
    {PduType::ic_req, "ICReq", 128, 0, Direction::host_to_controller, DataPlacement::none, false},
    {PduType::ic_resp, "ICResp", 128, 0, Direction::controller_to_host, DataPlacement::none, false},
    {PduType::h2c_term_req, "H2CTermReq", 24, 0, Direction::host_to_controller,
     DataPlacement::after_header, false},
    {PduType::c2h_term_req, "C2HTermReq", 24, 0, Direction::controller_to_host,
     DataPlacement::after_header, false},
    {PduType::capsule_cmd, "CapsuleCmd", 72, digest_flags, Direction::host_to_controller,
     DataPlacement::optional_at_pdo, true},
    {PduType::capsule_resp, "CapsuleResp", 24, pdu_flags::hdgstf, Direction::controller_to_host,
     DataPlacement::none, true},
    {PduType::h2c_data, "H2CData", 24, digest_flags | pdu_flags::last_pdu,
     Direction::host_to_controller, DataPlacement::required_at_pdo, true},
    {PduType::c2h_data, "C2HData", 24, digest_flags | pdu_flags::last_pdu | pdu_flags::success,
     Direction::controller_to_host, DataPlacement::required_at_pdo, true},
    {PduType::r2t, "R2T", 24, pdu_flags::hdgstf, Direction::controller_to_host, DataPlacement::none,
     true},
}};

/// The rules of a raw PDU-Type byte; nullptr for a type the spec does not define.
[[nodiscard]] constexpr const PduTypeInfo* find_pdu_type(uint8_t raw) noexcept
{
    for (const auto& info : pdu_type_table)
        if (static_cast<uint8_t>(info.type) == raw) return &info;
    return nullptr;
}
[[nodiscard]] constexpr const PduTypeInfo& pdu_type_info(PduType type) noexcept
{
    return *find_pdu_type(static_cast<uint8_t>(type)); // every enumerator is in the table
}

// ---------------------------------------------------------------------------
// Wire structures
// ---------------------------------------------------------------------------

/// The 8-byte common header (CH) that starts every PDU (TCP 1.0, 3.6.2.1, Figure 19).
struct CommonHeader {
    uint8_t pdu_type;
    uint8_t flags;
    uint8_t hlen;  ///< PDU header length, without HDGST
    uint8_t pdo;   ///< offset of the data from the start of the PDU; 0 when none
    uint32_t plen; ///< whole PDU on the wire: header, HDGST, pad, data, DDGST
};
static_assert(sizeof(CommonHeader) == 8);
static_assert(offsetof(CommonHeader, flags) == 1 && offsetof(CommonHeader, hlen) == 2);
static_assert(offsetof(CommonHeader, pdo) == 3 && offsetof(CommonHeader, plen) == 4);

/// Initialize Connection Request (TCP 1.0, 3.6.2.2, Figure 20).
struct ICReq {
    static constexpr PduType type = PduType::ic_req;
    CommonHeader ch;
    uint16_t pfv;
    uint8_t hpda;    ///< host PDU data alignment, 0's based dwords (0..31)
    uint8_t dgst;    ///< dgst_bits the host asks for
    uint32_t maxr2t; ///< outstanding R2Ts per command, 0's based
    std::array<uint8_t, 112> rsvd;
};
static_assert(sizeof(ICReq) == 128);
static_assert(offsetof(ICReq, pfv) == 8 && offsetof(ICReq, hpda) == 10);
static_assert(offsetof(ICReq, dgst) == 11 && offsetof(ICReq, maxr2t) == 12);

/// Initialize Connection Response (TCP 1.0, 3.6.2.3, Figure 21).
struct ICResp {
    static constexpr PduType type = PduType::ic_resp;
    CommonHeader ch;
    uint16_t pfv;
    uint8_t cpda;        ///< controller PDU data alignment, 0's based dwords (0..31)
    uint8_t dgst;        ///< dgst_bits enabled for the connection
    uint32_t maxh2cdata; ///< largest DATAL of one H2CData PDU, bytes
    std::array<uint8_t, 112> rsvd;
};
static_assert(sizeof(ICResp) == 128);
static_assert(offsetof(ICResp, pfv) == 8 && offsetof(ICResp, cpda) == 10);
static_assert(offsetof(ICResp, dgst) == 11 && offsetof(ICResp, maxh2cdata) == 12);

/// H2CTermReq / C2HTermReq header (TCP 1.0, 3.6.2.4, 3.6.2.5). FEI sits at
/// byte 10, unaligned; up to 128 bytes of the offending PDU header follow
/// as data right after HLEN (PDO reserved, no digests).
struct TermReqHeader {
    CommonHeader ch;
    uint16_t fes;                  ///< FatalErrorStatus
    nvme::Unaligned<uint32_t> fei; ///< field offset for 01h/06h, received HDGST for 03h
    std::array<uint8_t, 10> rsvd;
};
static_assert(sizeof(TermReqHeader) == 24);
static_assert(offsetof(TermReqHeader, fes) == 8 && offsetof(TermReqHeader, fei) == 10);
static_assert(offsetof(TermReqHeader, rsvd) == 14);

struct H2CTermReqHeader : TermReqHeader {
    static constexpr PduType type = PduType::h2c_term_req;
};
struct C2HTermReqHeader : TermReqHeader {
    static constexpr PduType type = PduType::c2h_term_req;
};
static_assert(sizeof(H2CTermReqHeader) == 24 && sizeof(C2HTermReqHeader) == 24);

/// Command capsule: the 64-byte SQE, CCSQE (TCP 1.0, 3.6.2.6); in-capsule data at PDO.
struct CapsuleCmdHeader {
    static constexpr PduType type = PduType::capsule_cmd;
    CommonHeader ch;
    nvme::SubmissionQueueEntry sqe;
};
static_assert(sizeof(CapsuleCmdHeader) == 72 && offsetof(CapsuleCmdHeader, sqe) == 8);

/// Response capsule: the 16-byte CQE, RCCQE (TCP 1.0, 3.6.2.7).
struct CapsuleRespHeader {
    static constexpr PduType type = PduType::capsule_resp;
    CommonHeader ch;
    nvme::CompletionQueueEntry cqe;
};
static_assert(sizeof(CapsuleRespHeader) == 24 && offsetof(CapsuleRespHeader, cqe) == 8);

/// Host to controller data, answering an R2T (TCP 1.0, 3.6.2.8).
struct H2CDataHeader {
    static constexpr PduType type = PduType::h2c_data;
    CommonHeader ch;
    uint16_t cccid; ///< command capsule CID
    uint16_t ttag;  ///< transfer tag from the R2T
    uint32_t datao; ///< offset of this data in the command's data
    uint32_t datal; ///< data bytes in this PDU
    uint32_t rsvd;
};
static_assert(sizeof(H2CDataHeader) == 24);
static_assert(offsetof(H2CDataHeader, cccid) == 8 && offsetof(H2CDataHeader, ttag) == 10);
static_assert(offsetof(H2CDataHeader, datao) == 12 && offsetof(H2CDataHeader, datal) == 16);

/// Controller to host data (TCP 1.0, 3.6.2.9). Bytes 10-11 are reserved (no TTAG).
struct C2HDataHeader {
    static constexpr PduType type = PduType::c2h_data;
    CommonHeader ch;
    uint16_t cccid;
    uint16_t rsvd1;
    uint32_t datao;
    uint32_t datal;
    uint32_t rsvd2;
};
static_assert(sizeof(C2HDataHeader) == 24);
static_assert(offsetof(C2HDataHeader, cccid) == 8 && offsetof(C2HDataHeader, datao) == 12);
static_assert(offsetof(C2HDataHeader, datal) == 16);

/// Ready to Transfer: the controller asks for R2TL bytes at R2TO (TCP 1.0, 3.6.2.10).
struct R2THeader {
    static constexpr PduType type = PduType::r2t;
    CommonHeader ch;
    uint16_t cccid;
    uint16_t ttag;
    uint32_t r2to;
    uint32_t r2tl;
    uint32_t rsvd;
};
static_assert(sizeof(R2THeader) == 24);
static_assert(offsetof(R2THeader, ttag) == 10 && offsetof(R2THeader, r2to) == 12);
static_assert(offsetof(R2THeader, r2tl) == 16);

/// True for the PDU header structs above; they travel as raw bytes.
template <class H>
inline constexpr bool is_pdu_header_v =
    std::is_trivially_copyable_v<H>&& std::is_standard_layout_v<H>&& requires
{
    H::type;
}
&&sizeof(H) >= sizeof(CommonHeader);

static_assert(is_pdu_header_v<ICReq> && is_pdu_header_v<ICResp>);
static_assert(is_pdu_header_v<H2CTermReqHeader> && is_pdu_header_v<C2HTermReqHeader>);
static_assert(is_pdu_header_v<CapsuleCmdHeader> && is_pdu_header_v<CapsuleRespHeader>);
static_assert(is_pdu_header_v<H2CDataHeader> && is_pdu_header_v<C2HDataHeader>);
static_assert(is_pdu_header_v<R2THeader>);

/// Every header struct is exactly the HLEN the type table gives.
template <class H> consteval bool header_matches_table()
{
    return sizeof(H) == pdu_type_info(H::type).hlen;
}
static_assert(header_matches_table<ICReq>() && header_matches_table<ICResp>());
static_assert(header_matches_table<H2CTermReqHeader>() && header_matches_table<C2HTermReqHeader>());
static_assert(header_matches_table<CapsuleCmdHeader>() &&
              header_matches_table<CapsuleRespHeader>());
static_assert(header_matches_table<H2CDataHeader>() && header_matches_table<C2HDataHeader>());
static_assert(header_matches_table<R2THeader>());

/// Longest header (HLEN 128 of ICReq/ICResp) and the longest run of bytes
/// before data can start (PDO is one byte).
inline constexpr std::size_t max_hlen = 128;
inline constexpr std::size_t max_pdo = 255;

// ---------------------------------------------------------------------------
// Connection parameters (TCP 1.0, 3.1, 3.3.1.1, 3.6.2.2, 3.6.2.3)
// ---------------------------------------------------------------------------

/// Which digests a connection uses; both off until ICResp has been accepted.
/// A digest is on when both ICReq and ICResp set its DGST bit (3.3.1.1).
struct DigestSettings {
    bool header = false;
    bool data = false;
    friend constexpr bool operator==(DigestSettings, DigestSettings) = default;
};

/// What the host asks for in its ICReq.
struct ICReqParams {
    uint8_t hpda = 0;       ///< alignment the host wants for C2H data (0..31)
    DigestSettings digests; ///< digests the host wants
    uint32_t maxr2t = 0;    ///< 0's based
};

/// The connection as ICResp settled it.
struct NegotiatedConnection {
    DigestSettings digests;
    uint8_t cpda = 0; ///< alignment for data the host sends
    uint8_t hpda = 0; ///< alignment for data the host receives
    uint32_t maxh2cdata = 0;
};

[[nodiscard]] constexpr uint8_t dgst_of(DigestSettings d) noexcept
{
    return static_cast<uint8_t>((d.header ? dgst_bits::hdgst_enable : 0u) |
                                (d.data ? dgst_bits::ddgst_enable : 0u));
}
[[nodiscard]] constexpr DigestSettings digests_of(uint8_t dgst) noexcept
{
    return {(dgst & dgst_bits::hdgst_enable) != 0, (dgst & dgst_bits::ddgst_enable) != 0};
}

} // namespace nvmecuse::transport::tcp
