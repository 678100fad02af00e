// Submission and completion queue entries and the command dword layouts
// (NVMe Base 2.0, 4.2 "Submission Queue Entry", 4.6 "Completion Queue Entry",
// 5.x per-command sections; NVM Command Set 2.0, 3.x).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "bits.hpp"
#include "status.hpp"

namespace nvme {

/// Broadcast namespace identifier.
inline constexpr uint32_t nsid_all = 0xffffffffu;

/// 64-byte Submission Queue Entry (NVMe Base 2.0, Figure 88). Byte 1 holds
/// FUSE (1:0) and PSDT (7:6); the 16-byte Data Pointer is kept as PRP1/PRP2
/// (use dptr_sgl() when PSDT selects SGLs).
struct SubmissionQueueEntry {
    uint8_t opc;
    uint8_t flags; ///< fuse 1:0, psdt 7:6 - see sqe_flags
    uint16_t cid;
    uint32_t nsid;
    uint32_t cdw2;
    uint32_t cdw3;
    uint64_t mptr;
    uint64_t prp1;
    uint64_t prp2;
    uint32_t cdw10;
    uint32_t cdw11;
    uint32_t cdw12;
    uint32_t cdw13;
    uint32_t cdw14;
    uint32_t cdw15;
};
static_assert(sizeof(SubmissionQueueEntry) == 64);
static_assert(std::is_trivially_copyable_v<SubmissionQueueEntry> &&
              std::is_standard_layout_v<SubmissionQueueEntry>);
static_assert(offsetof(SubmissionQueueEntry, cid) == 2);
static_assert(offsetof(SubmissionQueueEntry, nsid) == 4);
static_assert(offsetof(SubmissionQueueEntry, mptr) == 16);
static_assert(offsetof(SubmissionQueueEntry, prp1) == 24);
static_assert(offsetof(SubmissionQueueEntry, cdw10) == 40);
static_assert(offsetof(SubmissionQueueEntry, cdw15) == 60);

/// Fused operation (SQE byte 1 bits 1:0).
enum class Fuse : uint8_t { normal = 0, first = 1, second = 2 };
/// PRP or SGL for Data Transfer (SQE byte 1 bits 7:6).
enum class Psdt : uint8_t { prp = 0, sgl_mptr_contiguous = 1, sgl_mptr_sgl = 2 };

namespace sqe_flags {
using FuseField = Field<0, 2, uint8_t>;
using PsdtField = Field<6, 2, uint8_t>;
} // namespace sqe_flags

[[nodiscard]] constexpr Fuse fuse(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<Fuse>(sqe_flags::FuseField::get(s.flags));
}
[[nodiscard]] constexpr Psdt psdt(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<Psdt>(sqe_flags::PsdtField::get(s.flags));
}

/// 16-byte Completion Queue Entry (NVMe Base 2.0, Figure 89). `status` is
/// DW3 bits 31:16: phase tag in bit 0, the 15-bit status field above it.
struct CompletionQueueEntry {
    uint32_t dw0; ///< command specific result
    uint32_t dw1; ///< command specific
    uint16_t sq_head;
    uint16_t sq_id;
    uint16_t cid;
    uint16_t status; ///< phase bit 0, Status::to_field() << 1
};
static_assert(sizeof(CompletionQueueEntry) == 16);
static_assert(std::is_trivially_copyable_v<CompletionQueueEntry> &&
              std::is_standard_layout_v<CompletionQueueEntry>);
static_assert(offsetof(CompletionQueueEntry, sq_head) == 8);
static_assert(offsetof(CompletionQueueEntry, cid) == 12);
static_assert(offsetof(CompletionQueueEntry, status) == 14);

[[nodiscard]] constexpr bool phase(const CompletionQueueEntry& c) noexcept
{
    return (c.status & 1u) != 0;
}
[[nodiscard]] constexpr Status status_of(const CompletionQueueEntry& c) noexcept
{
    return Status::from_cqe_status(c.status);
}
constexpr void set_status(CompletionQueueEntry& c, Status s, bool phase_tag) noexcept
{
    c.status = s.to_cqe_status(phase_tag);
}

// ---------------------------------------------------------------------------
// SGL descriptors (NVMe Base 2.0, 4.1.2)
// ---------------------------------------------------------------------------

enum class SglDescriptorType : uint8_t {
    data_block = 0x0,
    bit_bucket = 0x1,
    segment = 0x2,
    last_segment = 0x3,
    keyed_data_block = 0x4,
    transport_data_block = 0x5,
    vendor = 0xf,
};

/// Generic 16-byte SGL descriptor; `sgl_identifier` = type 7:4, subtype 3:0.
struct SglDescriptor {
    uint64_t addr;
    uint32_t length;
    std::array<uint8_t, 3> rsvd;
    uint8_t sgl_identifier;
};
static_assert(sizeof(SglDescriptor) == 16 && offsetof(SglDescriptor, sgl_identifier) == 15);

[[nodiscard]] constexpr SglDescriptorType sgl_type(const SglDescriptor& d) noexcept
{
    return static_cast<SglDescriptorType>(d.sgl_identifier >> 4);
}
[[nodiscard]] constexpr uint8_t sgl_subtype(const SglDescriptor& d) noexcept
{
    return d.sgl_identifier & 0xfu;
}

/// The Data Pointer seen as SGL1 (when psdt() != Psdt::prp).
[[nodiscard]] constexpr SglDescriptor dptr_sgl(const SubmissionQueueEntry& s) noexcept
{
    return std::bit_cast<SglDescriptor>(std::array<uint64_t, 2>{s.prp1, s.prp2});
}
constexpr void set_dptr_sgl(SubmissionQueueEntry& s, const SglDescriptor& d) noexcept
{
    const auto q = std::bit_cast<std::array<uint64_t, 2>>(d);
    s.prp1 = q[0];
    s.prp2 = q[1];
}

// ---------------------------------------------------------------------------
// Command dword fields
// ---------------------------------------------------------------------------

/// Reference to command dword Dw (2, 3, 10..15) of an SQE.
template <unsigned Dw> [[nodiscard]] constexpr uint32_t& dword(SubmissionQueueEntry& s) noexcept
{
    static_assert(Dw == 2 || Dw == 3 || (Dw >= 10 && Dw <= 15), "not a command dword");
    if constexpr (Dw == 2)
        return s.cdw2;
    else if constexpr (Dw == 3)
        return s.cdw3;
    else if constexpr (Dw == 10)
        return s.cdw10;
    else if constexpr (Dw == 11)
        return s.cdw11;
    else if constexpr (Dw == 12)
        return s.cdw12;
    else if constexpr (Dw == 13)
        return s.cdw13;
    else if constexpr (Dw == 14)
        return s.cdw14;
    else
        return s.cdw15;
}
template <unsigned Dw>
[[nodiscard]] constexpr uint32_t dword(const SubmissionQueueEntry& s) noexcept
{
    return dword<Dw>(const_cast<SubmissionQueueEntry&>(s));
}

/// A bit field in command dword Dw: `cmd::identify::Cns::get(sqe)`,
/// `cmd::identify::Cns::set(sqe, 1)`.
template <unsigned Dw, unsigned Lo, unsigned Width> struct SqeField {
    using field = Field<Lo, Width>;
    [[nodiscard]] static constexpr uint32_t get(const SubmissionQueueEntry& s) noexcept
    {
        return field::get(dword<Dw>(s));
    }
    static constexpr void set(SubmissionQueueEntry& s, uint32_t v) noexcept
    {
        uint32_t& d = dword<Dw>(s);
        d = field::set(d, v);
    }
};

/// Per-command field layouts. Values are raw (0's based where the spec says
/// so); helpers such as num_dwords() convert to counts.
namespace cmd {

/// Read, Write, Compare, Write Zeroes, Write Uncorrectable, Verify
/// (NVM Command Set 2.0, 3.2.x / 3.3.x).
namespace rw {
using Nlb = SqeField<12, 0, 16>;    ///< number of logical blocks, 0's based
using Dtype = SqeField<12, 20, 4>;  ///< directive type (write)
using Stc = SqeField<12, 24, 1>;    ///< storage tag check
using Deac = SqeField<12, 25, 1>;   ///< deallocate (write zeroes)
using Prinfo = SqeField<12, 26, 4>; ///< PRACT 3, PRCHK 2:0
using Fua = SqeField<12, 30, 1>;
using Lr = SqeField<12, 31, 1>;
using Dsm = SqeField<13, 0, 8>;     ///< dataset management hints
using Dspec = SqeField<13, 16, 16>; ///< directive specific
using Reftag = SqeField<14, 0, 32>; ///< expected initial LB reference tag
using Apptag = SqeField<15, 0, 16>;
using Appmask = SqeField<15, 16, 16>;

[[nodiscard]] constexpr uint64_t slba(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<uint64_t>(s.cdw10) | (static_cast<uint64_t>(s.cdw11) << 32);
}
constexpr void set_slba(SubmissionQueueEntry& s, uint64_t lba) noexcept
{
    s.cdw10 = static_cast<uint32_t>(lba);
    s.cdw11 = static_cast<uint32_t>(lba >> 32);
}
/// Raw NLB field (0's based).
[[nodiscard]] constexpr uint32_t nlb(const SubmissionQueueEntry& s) noexcept
{
    return Nlb::get(s);
}
/// Number of logical blocks (NLB + 1), 1..65536.
[[nodiscard]] constexpr uint32_t num_blocks(const SubmissionQueueEntry& s) noexcept
{
    return Nlb::get(s) + 1;
}
/// Set the block count (1..65536); stores count - 1.
constexpr void set_num_blocks(SubmissionQueueEntry& s, uint32_t count) noexcept
{
    Nlb::set(s, count - 1);
}
} // namespace rw

/// Get Log Page (NVMe Base 2.0, 5.16). LSP is 7 bits (14:8) since 2.0.
namespace get_log_page {
using Lid = SqeField<10, 0, 8>;
using Lsp = SqeField<10, 8, 7>;
using Rae = SqeField<10, 15, 1>;
using Numdl = SqeField<10, 16, 16>;
using Numdu = SqeField<11, 0, 16>;
using Lsi = SqeField<11, 16, 16>;
using Uuid = SqeField<14, 0, 7>;
using Ot = SqeField<14, 23, 1>; ///< offset type: 1 = LPO is an index
using Csi = SqeField<14, 24, 8>;

/// Number of dwords requested: ((NUMDU << 16) | NUMDL) + 1.
[[nodiscard]] constexpr uint32_t num_dwords(const SubmissionQueueEntry& s) noexcept
{
    return ((Numdu::get(s) << 16) | Numdl::get(s)) + 1;
}
/// Bytes requested (num_dwords * 4).
[[nodiscard]] constexpr uint64_t num_bytes(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<uint64_t>(num_dwords(s)) * 4;
}
/// Set NUMDL/NUMDU for `dwords` (>= 1) dwords.
constexpr void set_num_dwords(SubmissionQueueEntry& s, uint32_t dwords) noexcept
{
    const uint32_t n = dwords - 1;
    Numdl::set(s, n & 0xffffu);
    Numdu::set(s, n >> 16);
}
/// Log Page Offset in bytes (or index when OT is set).
[[nodiscard]] constexpr uint64_t lpo(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<uint64_t>(s.cdw12) | (static_cast<uint64_t>(s.cdw13) << 32);
}
constexpr void set_lpo(SubmissionQueueEntry& s, uint64_t off) noexcept
{
    s.cdw12 = static_cast<uint32_t>(off);
    s.cdw13 = static_cast<uint32_t>(off >> 32);
}
} // namespace get_log_page

/// Identify (NVMe Base 2.0, 5.17).
namespace identify {
using Cns = SqeField<10, 0, 8>;
using Cntid = SqeField<10, 16, 16>;
using Cnssid = SqeField<11, 0, 16>; ///< CNS specific identifier
using Csi = SqeField<11, 24, 8>;
using Uuid = SqeField<14, 0, 7>;
} // namespace identify

/// Get Features / Set Features (NVMe Base 2.0, 5.15 / 5.27). The feature
/// value itself is in cdw11 (see features.hpp).
namespace features {
using Fid = SqeField<10, 0, 8>;
using Sel = SqeField<10, 8, 3>; ///< Get Features select (FeatureSelect)
using Sv = SqeField<10, 31, 1>; ///< Set Features save
using Uuid = SqeField<14, 0, 7>;
} // namespace features

/// Namespace Management (NVMe Base 2.0, 5.20).
namespace namespace_management {
enum class Sel : uint8_t { create = 0, delete_ = 1 };
using SelField = SqeField<10, 0, 4>;
using Csi = SqeField<11, 24, 8>;
} // namespace namespace_management

/// Namespace Attachment (NVMe Base 2.0, 5.19); data is a ControllerList.
namespace namespace_attachment {
enum class Sel : uint8_t { attach = 0, detach = 1 };
using SelField = SqeField<10, 0, 4>;
} // namespace namespace_attachment

/// Format NVM (NVM Command Set 2.0 / Base 2.0, 5.14).
namespace format_nvm {
using Lbafl = SqeField<10, 0, 4>;
using Mset = SqeField<10, 4, 1>;
using Pi = SqeField<10, 5, 3>;
using Pil = SqeField<10, 8, 1>;
using Ses = SqeField<10, 9, 3>; ///< secure erase settings
using Lbafu = SqeField<10, 12, 2>;
/// Format index (LBAFU << 4 | LBAFL), 0..63.
[[nodiscard]] constexpr uint32_t lbaf_index(const SubmissionQueueEntry& s) noexcept
{
    return (Lbafu::get(s) << 4) | Lbafl::get(s);
}
constexpr void set_lbaf_index(SubmissionQueueEntry& s, uint32_t idx) noexcept
{
    Lbafl::set(s, idx & 0xfu);
    Lbafu::set(s, idx >> 4);
}
enum class SecureErase : uint8_t { none = 0, user_data_erase = 1, cryptographic_erase = 2 };
} // namespace format_nvm

/// Firmware Commit (NVMe Base 2.0, 5.11).
namespace firmware_commit {
using Fs = SqeField<10, 0, 3>; ///< firmware slot
using Ca = SqeField<10, 3, 3>; ///< commit action
using Bpid = SqeField<10, 31, 1>;
enum class CommitAction : uint8_t {
    replace = 0,
    replace_and_activate = 1,
    activate = 2,
    replace_and_activate_immediately = 3,
    replace_boot_partition = 6,
    activate_boot_partition = 7,
};
} // namespace firmware_commit

/// Firmware Image Download (NVMe Base 2.0, 5.12).
namespace firmware_image_download {
using Numd = SqeField<10, 0, 32>; ///< 0's based dword count
using Ofst = SqeField<11, 0, 32>; ///< offset in dwords
[[nodiscard]] constexpr uint64_t num_bytes(const SubmissionQueueEntry& s) noexcept
{
    return (static_cast<uint64_t>(Numd::get(s)) + 1) * 4;
}
[[nodiscard]] constexpr uint64_t offset_bytes(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<uint64_t>(Ofst::get(s)) * 4;
}
} // namespace firmware_image_download

/// Device Self-test (NVMe Base 2.0, 5.9).
namespace device_self_test {
using Stc = SqeField<10, 0, 4>;
enum class Code : uint8_t { short_test = 0x1, extended_test = 0x2, vendor = 0xe, abort = 0xf };
} // namespace device_self_test

/// Abort (NVMe Base 2.0, 5.1). Completion dw0 bit 0 = 1: command not aborted.
namespace abort {
using Sqid = SqeField<10, 0, 16>;
using Cid = SqeField<10, 16, 16>;
} // namespace abort

/// Create I/O Completion Queue (NVMe Base 2.0, 5.4).
namespace create_io_cq {
using Qid = SqeField<10, 0, 16>;
using Qsize = SqeField<10, 16, 16>; ///< 0's based
using Pc = SqeField<11, 0, 1>;      ///< physically contiguous
using Ien = SqeField<11, 1, 1>;     ///< interrupts enabled
using Iv = SqeField<11, 16, 16>;    ///< interrupt vector
} // namespace create_io_cq

/// Create I/O Submission Queue (NVMe Base 2.0, 5.5).
namespace create_io_sq {
using Qid = SqeField<10, 0, 16>;
using Qsize = SqeField<10, 16, 16>; ///< 0's based
using Pc = SqeField<11, 0, 1>;
using Qprio = SqeField<11, 1, 2>;
using Cqid = SqeField<11, 16, 16>;
using Nvmsetid = SqeField<12, 0, 16>;
enum class Priority : uint8_t { urgent = 0, high = 1, medium = 2, low = 3 };
} // namespace create_io_sq

/// Delete I/O Submission/Completion Queue (NVMe Base 2.0, 5.6 / 5.7).
namespace delete_io_queue {
using Qid = SqeField<10, 0, 16>;
}

/// Sanitize (NVMe Base 2.0, 5.24).
namespace sanitize {
using Sanact = SqeField<10, 0, 3>;
using Ause = SqeField<10, 3, 1>;
using Owpass = SqeField<10, 4, 4>;
using Oipbp = SqeField<10, 8, 1>;
using Nodas = SqeField<10, 9, 1>;
using Ovrpat = SqeField<11, 0, 32>;
enum class Action : uint8_t {
    exit_failure_mode = 1,
    block_erase = 2,
    overwrite = 3,
    crypto_erase = 4
};
} // namespace sanitize

/// Security Send / Receive (NVMe Base 2.0, 5.25 / 5.26).
namespace security {
using Nssf = SqeField<10, 0, 8>;
using Spsp0 = SqeField<10, 8, 8>;
using Spsp1 = SqeField<10, 16, 8>;
using Secp = SqeField<10, 24, 8>;
using Tl = SqeField<11, 0, 32>; ///< transfer (send) / allocation (receive) length
} // namespace security

/// Dataset Management (NVM Command Set 2.0, 3.2.3); data is DsmRange[nr+1].
namespace dsm {
using Nr = SqeField<10, 0, 8>; ///< number of ranges, 0's based
using Idr = SqeField<11, 0, 1>;
using Idw = SqeField<11, 1, 1>;
using Ad = SqeField<11, 2, 1>; ///< deallocate
[[nodiscard]] constexpr uint32_t num_ranges(const SubmissionQueueEntry& s) noexcept
{
    return Nr::get(s) + 1;
}
} // namespace dsm

/// Fabrics commands (opcode 0x7f): FCTYPE is SQE byte 4 (low byte of nsid).
namespace fabrics {
[[nodiscard]] constexpr uint8_t fctype(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<uint8_t>(s.nsid & 0xffu);
}
/// Property Get/Set: ATTRIB size (0 = 4 bytes, 1 = 8 bytes), OFST.
using PropertyAttrib = SqeField<10, 0, 3>;
using PropertyOffset = SqeField<11, 0, 32>;
[[nodiscard]] constexpr uint64_t property_value(const SubmissionQueueEntry& s) noexcept
{
    return static_cast<uint64_t>(s.cdw12) | (static_cast<uint64_t>(s.cdw13) << 32);
}
} // namespace fabrics

} // namespace cmd

/// Dataset Management range (NVM Command Set 2.0, Figure 39). `nlb` here is
/// a 1-based length, unlike the 0's based NLB of read/write.
struct DsmRange {
    uint32_t cattr;
    uint32_t nlb;
    uint64_t slba;
};
static_assert(sizeof(DsmRange) == 16 && offsetof(DsmRange, slba) == 8);

// ---------------------------------------------------------------------------
// Asynchronous events (NVMe Base 2.0, 5.2)
// ---------------------------------------------------------------------------

/// Asynchronous Event Type, completion dw0 bits 2:0.
enum class AsyncEventType : uint8_t {
    error = 0,
    smart_health = 1,
    notice = 2,
    immediate = 3,
    one_shot = 4,
    io_command_specific = 6,
    vendor = 7,
};

/// Event information for AsyncEventType::error (Figure 146).
enum class AsyncEventError : uint8_t {
    write_to_invalid_doorbell = 0x00,
    invalid_doorbell_write_value = 0x01,
    diagnostic_failure = 0x02,
    persistent_internal_error = 0x03,
    transient_internal_error = 0x04,
    firmware_image_load_error = 0x05,
};

/// Event information for AsyncEventType::smart_health (Figure 147).
enum class AsyncEventSmart : uint8_t {
    nvm_subsystem_reliability = 0x00,
    temperature_threshold = 0x01,
    spare_below_threshold = 0x02,
};

/// Event information for AsyncEventType::notice (Figure 148).
enum class AsyncEventNotice : uint8_t {
    namespace_attribute_changed = 0x00,
    firmware_activation_starting = 0x01,
    telemetry_log_changed = 0x02,
    ana_change = 0x03,
    predictable_latency_aggregate = 0x04,
    lba_status_information = 0x05,
    endurance_group_aggregate = 0x06,
    normal_nvm_subsystem_shutdown = 0x07,
    zone_descriptor_changed = 0xef,
    discovery_log_page_change = 0xf0,
};

/// Event information for AsyncEventType::io_command_specific (Figure 149).
enum class AsyncEventIoSpecific : uint8_t {
    reservation_log_page_available = 0x00,
    sanitize_operation_completed = 0x01,
    sanitize_completed_with_unexpected_deallocation = 0x02,
};

/// Layout of the Asynchronous Event Request completion dw0.
namespace aer_result {
using Type = Field<0, 3>;
using Info = Field<8, 8>;
using LogPage = Field<16, 8>;

[[nodiscard]] constexpr uint32_t make(AsyncEventType type, uint8_t info, uint8_t log_page) noexcept
{
    return Type::make(static_cast<uint32_t>(type)) | Info::make(info) | LogPage::make(log_page);
}
[[nodiscard]] constexpr AsyncEventType type(uint32_t dw0) noexcept
{
    return static_cast<AsyncEventType>(Type::get(dw0));
}
[[nodiscard]] constexpr uint8_t info(uint32_t dw0) noexcept
{
    return static_cast<uint8_t>(Info::get(dw0));
}
[[nodiscard]] constexpr uint8_t log_page(uint32_t dw0) noexcept
{
    return static_cast<uint8_t>(LogPage::get(dw0));
}
} // namespace aer_result

} // namespace nvme
