// NVMe over Fabrics command capsules the host sends on every fabric:
// Connect, Property Get, Property Set, and the SGL descriptors a fabric
// command's data pointer holds (NVMe Base 2.0, 6 "Fabrics Command Set":
// 6.3 Connect, 6.5 Property Get, 6.6 Property Set; NVMe-oF 1.1, 3.3 and
// Figures 19-21; NVMe/TCP Transport 1.0, 3.6.2.6 "SGL usage").
//
// Each command struct overlays the 64-byte SQE (std::bit_cast to and from
// SubmissionQueueEntry), with the spec's field names. Header-only.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "bits.hpp"
#include "command.hpp"
#include "opcodes.hpp"
#include "registers.hpp"

namespace nvme::fabrics {

/// Opcode of every Fabrics command; FCTYPE says which one.
inline constexpr uint8_t opcode = 0x7f;

// ---------------------------------------------------------------------------
// SGL descriptors of fabrics capsules (NVMe Base 2.0, 4.1.2; TCP 1.0, 3.6.2.6)
// ---------------------------------------------------------------------------

/// SGL Identifier byte: descriptor type 7:4, subtype 3:0.
namespace sgl_id {
/// Data Block, subtype Offset: in-capsule data at ADDR bytes into the
/// capsule's data area (what NVMe/TCP uses for in-capsule data).
inline constexpr uint8_t data_block_offset = 0x01;
/// Transport SGL Data Block, subtype Transport specific (0Ah): data moved
/// by the transport itself (C2HData, R2T + H2CData for NVMe/TCP).
inline constexpr uint8_t transport_data_block = 0x5a;
} // namespace sgl_id

/// SQE byte 1 for a command whose data pointer is SGL1 (PSDT 01b).
inline constexpr uint8_t flags_sgl = 0x40;

// ---------------------------------------------------------------------------
// Connect (NVMe Base 2.0, 6.3; NVMe-oF 1.1, Figures 19-21)
// ---------------------------------------------------------------------------

/// Connect command SQE.
struct ConnectCommand {
    uint8_t opcode;
    uint8_t flags; ///< PSDT in 7:6
    uint16_t cid;
    uint8_t fctype; ///< FabricsCommandType::connect
    std::array<uint8_t, 19> rsvd5;
    SglDescriptor sgl1; ///< the 1024-byte ConnectData
    uint16_t recfmt;    ///< Record Format: 0
    uint16_t qid;       ///< 0 = admin queue
    uint16_t sqsize;    ///< 0's based; admin at least 31 (32 entries)
    uint8_t cattr;      ///< connect_attributes bits
    uint8_t rsvd51;
    uint32_t kato; ///< Keep Alive Timeout in ms, admin queue only; 0 = none
    std::array<uint8_t, 12> rsvd56;
};
static_assert(sizeof(ConnectCommand) == 64);
static_assert(std::is_trivially_copyable_v<ConnectCommand> &&
              std::is_standard_layout_v<ConnectCommand>);
static_assert(offsetof(ConnectCommand, fctype) == 4 && offsetof(ConnectCommand, sgl1) == 24);
static_assert(offsetof(ConnectCommand, recfmt) == 40 && offsetof(ConnectCommand, qid) == 42);
static_assert(offsetof(ConnectCommand, sqsize) == 44 && offsetof(ConnectCommand, cattr) == 46);
static_assert(offsetof(ConnectCommand, kato) == 48);

/// CATTR bits.
namespace connect_attributes {
/// Bits 1:0, priority class of an I/O queue (weighted round robin).
using Priority = Field<0, 2, uint8_t>;
/// The host disables SQ flow control (SQHD in completions is then reserved).
inline constexpr uint8_t disable_sq_flow_control = 1u << 2;
} // namespace connect_attributes

/// CNTLID asking the subsystem to allocate any controller (dynamic model).
inline constexpr uint16_t cntlid_dynamic = 0xffff;

/// Data of the Connect command, 1024 bytes (NVMe-oF 1.1, Figure 20).
struct ConnectData {
    std::array<uint8_t, 16> hostid;
    uint16_t cntlid; ///< cntlid_dynamic on the admin queue; the granted one on I/O queues
    std::array<uint8_t, 238> rsvd18;
    std::array<char, 256> subnqn;  ///< NUL-terminated UTF-8
    std::array<char, 256> hostnqn; ///< NUL-terminated UTF-8
    std::array<uint8_t, 256> rsvd768;
};
static_assert(sizeof(ConnectData) == 1024);
static_assert(std::is_trivially_copyable_v<ConnectData> && std::is_standard_layout_v<ConnectData>);
static_assert(offsetof(ConnectData, cntlid) == 16 && offsetof(ConnectData, subnqn) == 256);
static_assert(offsetof(ConnectData, hostnqn) == 512 && offsetof(ConnectData, rsvd768) == 768);

/// Completion DW0 of a successful Connect (NVMe Base 2.0, Figure 547):
/// CNTLID 15:0, AUTHREQ 31:16 (non-zero: authentication required).
namespace connect_response {
using Cntlid = Field<0, 16>;
using Authreq = Field<16, 16>;
} // namespace connect_response
/// AUTHREQ bits: ATR, authentication transaction required (NVMe Base 2.0,
/// 8.13.5); ASCR, secure channel concatenation required (TLS after it).
inline constexpr uint32_t authreq_atr = 1u << 1;
inline constexpr uint32_t authreq_ascr = 1u << 2;

/// Completion DW0 of a Connect failing with Connect Invalid Parameters:
/// IATTR 0 = the bad field is in the SQE, 1 = in the data; IPO its byte offset.
namespace connect_invalid_parameters {
using Ipo = Field<0, 16>;
using Iattr = Field<16, 8>;
} // namespace connect_invalid_parameters

// ---------------------------------------------------------------------------
// Property Get / Property Set (NVMe Base 2.0, 6.5, 6.6)
// ---------------------------------------------------------------------------

/// ATTRIB.SIZE: the property's width.
enum class PropertySize : uint8_t { four_bytes = 0, eight_bytes = 1 };

/// Property Get SQE; the value comes back in completion DW0 (and DW1 for 8 bytes).
struct PropertyGetCommand {
    uint8_t opcode;
    uint8_t rsvd1;
    uint16_t cid;
    uint8_t fctype; ///< FabricsCommandType::property_get
    std::array<uint8_t, 35> rsvd5;
    uint8_t attrib; ///< PropertySize in bits 2:0
    std::array<uint8_t, 3> rsvd41;
    uint32_t ofst; ///< property offset, reg_offset:: in registers.hpp
    std::array<uint8_t, 16> rsvd48;
};
static_assert(sizeof(PropertyGetCommand) == 64);
static_assert(offsetof(PropertyGetCommand, attrib) == 40 &&
              offsetof(PropertyGetCommand, ofst) == 44);

/// Property Set SQE.
struct PropertySetCommand {
    uint8_t opcode;
    uint8_t rsvd1;
    uint16_t cid;
    uint8_t fctype; ///< FabricsCommandType::property_set
    std::array<uint8_t, 35> rsvd5;
    uint8_t attrib; ///< PropertySize in bits 2:0
    std::array<uint8_t, 3> rsvd41;
    uint32_t ofst;
    uint64_t value; ///< the low 4 bytes only for a 4-byte property
    std::array<uint8_t, 8> rsvd56;
};
static_assert(sizeof(PropertySetCommand) == 64);
static_assert(offsetof(PropertySetCommand, attrib) == 40 &&
              offsetof(PropertySetCommand, ofst) == 44 &&
              offsetof(PropertySetCommand, value) == 48);

static_assert(std::is_trivially_copyable_v<PropertyGetCommand> &&
              std::is_trivially_copyable_v<PropertySetCommand>);

/// The 8-byte value of a Property Get completion: DW0 low, DW1 high.
[[nodiscard]] constexpr uint64_t property_value(const CompletionQueueEntry& c) noexcept
{
    return static_cast<uint64_t>(c.dw0) | (static_cast<uint64_t>(c.dw1) << 32);
}

/// A fabrics command struct seen as the SQE it is on the wire.
template <class Command>
[[nodiscard]] constexpr SubmissionQueueEntry to_sqe(const Command& c) noexcept
{
    static_assert(sizeof(Command) == sizeof(SubmissionQueueEntry));
    return std::bit_cast<SubmissionQueueEntry>(c);
}

/// Property Get of the register at `offset`, its width as the register has it.
[[nodiscard]] constexpr SubmissionQueueEntry property_get_sqe(uint32_t offset) noexcept
{
    PropertyGetCommand c{};
    c.opcode = fabrics::opcode;
    c.fctype = static_cast<uint8_t>(FabricsCommandType::property_get);
    c.attrib = static_cast<uint8_t>(reg_offset::is_64bit(offset) ? PropertySize::eight_bytes
                                                                  : PropertySize::four_bytes);
    c.ofst = offset;
    return to_sqe(c);
}

/// Property Set of the register at `offset` (the low 4 bytes of `value`
/// for a 4-byte register).
[[nodiscard]] constexpr SubmissionQueueEntry property_set_sqe(uint32_t offset,
                                                              uint64_t value) noexcept
{
    PropertySetCommand c{};
    c.opcode = fabrics::opcode;
    c.fctype = static_cast<uint8_t>(FabricsCommandType::property_set);
    const bool wide = reg_offset::is_64bit(offset);
    c.attrib = static_cast<uint8_t>(wide ? PropertySize::eight_bytes : PropertySize::four_bytes);
    c.ofst = offset;
    c.value = wide ? value : (value & 0xffffffffu);
    return to_sqe(c);
}

} // namespace nvme::fabrics
