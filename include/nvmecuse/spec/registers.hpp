// Controller registers / properties (NVMe Base 2.0, 3.1.4 "Controller
// Properties", Figure 35 onwards). PCIe maps them in BAR0; Fabrics reaches
// them through Property Get/Set at the same offsets.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bits.hpp"

namespace nvme {

/// Register offsets.
namespace reg_offset {
inline constexpr uint32_t cap = 0x00;
inline constexpr uint32_t vs = 0x08;
inline constexpr uint32_t intms = 0x0c;
inline constexpr uint32_t intmc = 0x10;
inline constexpr uint32_t cc = 0x14;
inline constexpr uint32_t csts = 0x1c;
inline constexpr uint32_t nssr = 0x20;
inline constexpr uint32_t aqa = 0x24;
inline constexpr uint32_t asq = 0x28;
inline constexpr uint32_t acq = 0x30;
inline constexpr uint32_t cmbloc = 0x38;
inline constexpr uint32_t cmbsz = 0x3c;
inline constexpr uint32_t bpinfo = 0x40;
inline constexpr uint32_t bprsel = 0x44;
inline constexpr uint32_t bpmbl = 0x48;
inline constexpr uint32_t cmbmsc = 0x50;
inline constexpr uint32_t cmbsts = 0x58;
inline constexpr uint32_t cmbebs = 0x5c;
inline constexpr uint32_t cmbswtp = 0x60;
inline constexpr uint32_t nssd = 0x64;
inline constexpr uint32_t crto = 0x68;
inline constexpr uint32_t pmrcap = 0xe00;
inline constexpr uint32_t pmrctl = 0xe04;
inline constexpr uint32_t pmrsts = 0xe08;
inline constexpr uint32_t pmrebs = 0xe0c;
inline constexpr uint32_t pmrswtp = 0xe10;
inline constexpr uint32_t pmrmscl = 0xe14;
inline constexpr uint32_t pmrmscu = 0xe18;
inline constexpr uint32_t doorbells = 0x1000;

/// True for the 8-byte registers (CAP, ASQ, ACQ, BPMBL, CMBMSC).
[[nodiscard]] constexpr bool is_64bit(uint32_t offset) noexcept
{
    return offset == cap || offset == asq || offset == acq || offset == bpmbl || offset == cmbmsc;
}

/// Submission Queue y Tail Doorbell: 1000h + (2y) * (4 << CAP.DSTRD).
[[nodiscard]] constexpr uint32_t sq_tail_doorbell(uint16_t qid, unsigned dstrd) noexcept
{
    return doorbells + (2u * qid) * (4u << dstrd);
}
/// Completion Queue y Head Doorbell: 1000h + (2y + 1) * (4 << CAP.DSTRD).
[[nodiscard]] constexpr uint32_t cq_head_doorbell(uint16_t qid, unsigned dstrd) noexcept
{
    return doorbells + (2u * qid + 1u) * (4u << dstrd);
}
} // namespace reg_offset

/// Controller register block 00h..6Fh (PCIe BAR0 head, Fabrics properties).
struct ControllerRegisters {
    uint64_t cap;
    uint32_t vs;
    uint32_t intms;
    uint32_t intmc;
    uint32_t cc;
    uint32_t rsvd18;
    uint32_t csts;
    uint32_t nssr;
    uint32_t aqa;
    uint64_t asq;
    uint64_t acq;
    uint32_t cmbloc;
    uint32_t cmbsz;
    uint32_t bpinfo;
    uint32_t bprsel;
    uint64_t bpmbl;
    uint64_t cmbmsc;
    uint32_t cmbsts;
    uint32_t cmbebs;
    uint32_t cmbswtp;
    uint32_t nssd;
    uint32_t crto;
    uint32_t rsvd6c;
};
static_assert(sizeof(ControllerRegisters) == 0x70);
static_assert(offsetof(ControllerRegisters, cc) == reg_offset::cc);
static_assert(offsetof(ControllerRegisters, csts) == reg_offset::csts);
static_assert(offsetof(ControllerRegisters, aqa) == reg_offset::aqa);
static_assert(offsetof(ControllerRegisters, asq) == reg_offset::asq);
static_assert(offsetof(ControllerRegisters, acq) == reg_offset::acq);
static_assert(offsetof(ControllerRegisters, bpmbl) == reg_offset::bpmbl);
static_assert(offsetof(ControllerRegisters, cmbmsc) == reg_offset::cmbmsc);
static_assert(offsetof(ControllerRegisters, crto) == reg_offset::crto);

/// CAP - Controller Capabilities (64-bit), NVMe Base 2.0 Figure 36.
namespace cap {
using Mqes = Field<0, 16, uint64_t>; ///< maximum queue entries supported, 0's based
using Cqr = Bit<16, uint64_t>;       ///< contiguous queues required
using Ams = Field<17, 2, uint64_t>;  ///< bit 0 weighted round robin, bit 1 vendor
using To = Field<24, 8, uint64_t>;   ///< ready timeout, 500 ms units
using Dstrd = Field<32, 4, uint64_t>;
using Nssrs = Bit<36, uint64_t>;    ///< NVM subsystem reset supported
using Css = Field<37, 8, uint64_t>; ///< command sets supported, see css_*
using Bps = Bit<45, uint64_t>;      ///< boot partition support
using Cps = Field<46, 2, uint64_t>; ///< controller power scope
using Mpsmin = Field<48, 4, uint64_t>;
using Mpsmax = Field<52, 4, uint64_t>;
using Pmrs = Bit<56, uint64_t>;
using Cmbs = Bit<57, uint64_t>;
using Nsss = Bit<58, uint64_t>;  ///< NVM subsystem shutdown supported
using Crwms = Bit<59, uint64_t>; ///< controller ready with media support
using Crims = Bit<60, uint64_t>; ///< controller ready independent of media support

/// Bits of the CSS field.
inline constexpr uint64_t css_nvm = 1u << 0;
inline constexpr uint64_t css_io_command_sets = 1u << 6;
inline constexpr uint64_t css_admin_only = 1u << 7;

/// CAP.TO in milliseconds.
[[nodiscard]] constexpr uint64_t timeout_ms(uint64_t cap) noexcept
{
    return To::get(cap) * 500;
}
/// Minimum memory page size in bytes (2 ^ (12 + MPSMIN)).
[[nodiscard]] constexpr uint64_t min_page_size(uint64_t cap) noexcept
{
    return uint64_t{1} << (12 + Mpsmin::get(cap));
}
[[nodiscard]] constexpr uint64_t max_page_size(uint64_t cap) noexcept
{
    return uint64_t{1} << (12 + Mpsmax::get(cap));
}
} // namespace cap

/// VS - Version, NVMe Base 2.0 Figure 37 (also Identify Controller `ver`).
namespace vs {
using Ter = Field<0, 8>;
using Mnr = Field<8, 8>;
using Mjr = Field<16, 16>;
} // namespace vs

/// Version register value, e.g. make_version(2, 0, 0) == 0x00020000.
[[nodiscard]] constexpr uint32_t make_version(uint32_t major, uint32_t minor,
                                              uint32_t tertiary = 0) noexcept
{
    return vs::Mjr::make(major) | vs::Mnr::make(minor) | vs::Ter::make(tertiary);
}
static_assert(make_version(2, 0, 0) == 0x00020000 && make_version(1, 4) == 0x00010400);

/// CC - Controller Configuration, NVMe Base 2.0 Figure 41.
namespace cc {
using En = Bit<0>;
using Css = Field<4, 3>; ///< I/O command set selected, see CommandSetSelected
using Mps = Field<7, 4>; ///< memory page size 2 ^ (12 + MPS)
using Ams = Field<11, 3>;
using Shn = Field<14, 2>;    ///< ShutdownNotification
using Iosqes = Field<16, 4>; ///< I/O SQ entry size, log2 (6 = 64 bytes)
using Iocqes = Field<20, 4>; ///< I/O CQ entry size, log2 (4 = 16 bytes)
using Crime = Bit<24>;       ///< controller ready independent of media enable

enum class CommandSetSelected : uint8_t { nvm = 0, all_supported_io = 6, admin_only = 7 };
enum class ArbitrationMechanism : uint8_t {
    round_robin = 0,
    weighted_round_robin_urgent = 1,
    vendor = 7
};
enum class ShutdownNotification : uint8_t { none = 0, normal = 1, abrupt = 2 };

/// Memory page size in bytes selected by CC.MPS.
[[nodiscard]] constexpr uint64_t page_size(uint32_t cc) noexcept
{
    return uint64_t{1} << (12 + Mps::get(cc));
}
} // namespace cc

/// CSTS - Controller Status, NVMe Base 2.0 Figure 42.
namespace csts {
using Rdy = Bit<0>;
using Cfs = Bit<1>;       ///< controller fatal status
using Shst = Field<2, 2>; ///< ShutdownStatus
using Nssro = Bit<4>;     ///< NVM subsystem reset occurred
using Pp = Bit<5>;        ///< processing paused
using St = Bit<6>;        ///< shutdown type (subsystem)
enum class ShutdownStatus : uint8_t { normal = 0, occurring = 1, complete = 2 };
} // namespace csts

/// NSSR - writing this value ("NVMe") initiates an NVM subsystem reset.
inline constexpr uint32_t nssr_reset_value = 0x4e564d65;

/// AQA - Admin Queue Attributes, NVMe Base 2.0 Figure 44 (sizes 0's based).
namespace aqa {
using Asqs = Field<0, 12>;
using Acqs = Field<16, 12>;
} // namespace aqa

/// CMBLOC - Controller Memory Buffer Location.
namespace cmbloc {
using Bir = Field<0, 3>;
using Ofst = Field<12, 20>;
} // namespace cmbloc

/// CMBSZ - Controller Memory Buffer Size.
namespace cmbsz {
using Sqs = Bit<0>;
using Cqs = Bit<1>;
using Lists = Bit<2>;
using Rds = Bit<3>;
using Wds = Bit<4>;
using Szu = Field<8, 4>; ///< size units: 4 KiB * 16^SZU
using Sz = Field<12, 20>;
[[nodiscard]] constexpr uint64_t size_bytes(uint32_t v) noexcept
{
    return static_cast<uint64_t>(Sz::get(v)) << (12 + 4 * Szu::get(v));
}
} // namespace cmbsz

} // namespace nvme
