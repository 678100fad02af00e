// Identify data structures (NVMe Base 2.0, 5.17.2; NVM Command Set 2.0,
// 4.1.5). Field names follow the spec and Linux `struct nvme_id_ctrl` /
// `struct nvme_id_ns`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "bits.hpp"

namespace nvme {

/// Size of every Identify data structure.
inline constexpr std::size_t identify_data_size = 4096;

/// Controller or Namespace Structure (CNS), NVMe Base 2.0 Figure 273.
enum class Cns : uint8_t {
    namespace_ = 0x00,
    controller = 0x01,
    active_namespace_list = 0x02,
    namespace_id_descriptors = 0x03,
    nvm_set_list = 0x04,
    io_namespace_csi = 0x05,
    io_controller_csi = 0x06,
    active_namespace_list_csi = 0x07,
    io_command_set_independent_namespace = 0x08,
    allocated_namespace_list = 0x10,
    allocated_namespace = 0x11,
    namespace_attached_controller_list = 0x12,
    controller_list = 0x13,
    primary_controller_capabilities = 0x14,
    secondary_controller_list = 0x15,
    namespace_granularity_list = 0x16,
    uuid_list = 0x17,
    domain_list = 0x18,
    endurance_group_list = 0x19,
    allocated_namespace_list_csi = 0x1a,
    allocated_namespace_csi = 0x1b,
    io_command_set = 0x1c,
};

/// Command Set Identifier (CSI), NVMe Base 2.0 Figure 286.
enum class CommandSet : uint8_t { nvm = 0x00, key_value = 0x01, zoned_namespace = 0x02 };

// ---------------------------------------------------------------------------
// Identify Controller (CNS 01h)
// ---------------------------------------------------------------------------

/// Power State Descriptor, NVMe Base 2.0 Figure 276.
struct PowerStateDescriptor {
    uint16_t mp; ///< maximum power (units per flags.mxps)
    uint8_t rsvd2;
    uint8_t flags; ///< mxps bit 0, nops bit 1
    uint32_t enlat;
    uint32_t exlat;
    uint8_t rrt;
    uint8_t rrl;
    uint8_t rwt;
    uint8_t rwl;
    uint16_t idlp;
    uint8_t ips; ///< idle power scale, bits 7:6
    uint8_t rsvd19;
    uint16_t actp;
    uint8_t apws; ///< active power workload 2:0, active power scale 7:6
    std::array<uint8_t, 9> rsvd23;
};
static_assert(sizeof(PowerStateDescriptor) == 32);
static_assert(offsetof(PowerStateDescriptor, enlat) == 4 &&
              offsetof(PowerStateDescriptor, idlp) == 16 &&
              offsetof(PowerStateDescriptor, apws) == 22);

namespace psd_flags {
inline constexpr uint8_t mxps = 1u << 0; ///< max power in 0.0001 W (else 0.01 W)
inline constexpr uint8_t nops = 1u << 1; ///< non-operational state
} // namespace psd_flags

/// Identify Controller data structure, NVMe Base 2.0 Figure 275.
struct IdentifyController {
    // Controller capabilities and features
    uint16_t vid;
    uint16_t ssvid;
    std::array<char, 20> sn;
    std::array<char, 40> mn;
    std::array<char, 8> fr;
    uint8_t rab;
    std::array<uint8_t, 3> ieee;
    uint8_t cmic;
    uint8_t mdts;
    uint16_t cntlid;
    uint32_t ver;
    uint32_t rtd3r;
    uint32_t rtd3e;
    uint32_t oaes;
    uint32_t ctratt;
    uint16_t rrls;
    std::array<uint8_t, 9> rsvd102;
    uint8_t cntrltype;
    std::array<uint8_t, 16> fguid;
    uint16_t crdt1;
    uint16_t crdt2;
    uint16_t crdt3;
    std::array<uint8_t, 119> rsvd134;
    uint8_t nvmsr; ///< NVMe-MI: NVM subsystem report
    uint8_t vwci;  ///< NVMe-MI: VPD write cycle information
    uint8_t mec;   ///< NVMe-MI: management endpoint capabilities
    // Admin command set attributes and optional controller capabilities
    uint16_t oacs;
    uint8_t acl;
    uint8_t aerl;
    uint8_t frmw;
    uint8_t lpa;
    uint8_t elpe;
    uint8_t npss;
    uint8_t avscc;
    uint8_t apsta;
    uint16_t wctemp;
    uint16_t cctemp;
    uint16_t mtfa;
    uint32_t hmpre;
    uint32_t hmmin;
    Uint128 tnvmcap;
    Uint128 unvmcap;
    uint32_t rpmbs;
    uint16_t edstt;
    uint8_t dsto;
    uint8_t fwug;
    uint16_t kas;
    uint16_t hctma;
    uint16_t mntmt;
    uint16_t mxtmt;
    uint32_t sanicap;
    uint32_t hmminds;
    uint16_t hmmaxd;
    uint16_t nsetidmax;
    uint16_t endgidmax;
    uint8_t anatt;
    uint8_t anacap;
    uint32_t anagrpmax;
    uint32_t nanagrpid;
    uint32_t pels;
    uint16_t domainid;
    std::array<uint8_t, 10> rsvd358;
    Uint128 megcap;
    std::array<uint8_t, 128> rsvd384;
    // NVM command set attributes
    uint8_t sqes;
    uint8_t cqes;
    uint16_t maxcmd;
    uint32_t nn;
    uint16_t oncs;
    uint16_t fuses;
    uint8_t fna;
    uint8_t vwc;
    uint16_t awun;
    uint16_t awupf;
    uint8_t icsvscc;
    uint8_t nwpc;
    uint16_t acwu;
    uint16_t ocfs;
    uint32_t sgls;
    uint32_t mnan;
    Uint128 maxdna;
    uint32_t maxcna;
    std::array<uint8_t, 204> rsvd564;
    std::array<char, 256> subnqn; ///< NUL terminated UTF-8 (set_nul_padded)
    std::array<uint8_t, 768> rsvd1024;
    // NVMe over Fabrics
    uint32_t ioccsz;
    uint32_t iorcsz;
    uint16_t icdoff;
    uint8_t fcatt;
    uint8_t msdbd;
    uint16_t ofcs;
    uint8_t dctype;
    std::array<uint8_t, 241> rsvd1807;
    // Power state descriptors and vendor specific
    std::array<PowerStateDescriptor, 32> psd;
    std::array<uint8_t, 1024> vs;
};
static_assert(sizeof(IdentifyController) == identify_data_size);
static_assert(std::is_trivially_copyable_v<IdentifyController> &&
              std::is_standard_layout_v<IdentifyController>);
static_assert(offsetof(IdentifyController, sn) == 4);
static_assert(offsetof(IdentifyController, mn) == 24);
static_assert(offsetof(IdentifyController, fr) == 64);
static_assert(offsetof(IdentifyController, mdts) == 77);
static_assert(offsetof(IdentifyController, cntlid) == 78);
static_assert(offsetof(IdentifyController, ver) == 80);
static_assert(offsetof(IdentifyController, cntrltype) == 111);
static_assert(offsetof(IdentifyController, fguid) == 112);
static_assert(offsetof(IdentifyController, crdt1) == 128);
static_assert(offsetof(IdentifyController, oacs) == 256);
static_assert(offsetof(IdentifyController, wctemp) == 266);
static_assert(offsetof(IdentifyController, tnvmcap) == 280);
static_assert(offsetof(IdentifyController, rpmbs) == 312);
static_assert(offsetof(IdentifyController, kas) == 320);
static_assert(offsetof(IdentifyController, sanicap) == 328);
static_assert(offsetof(IdentifyController, anatt) == 342);
static_assert(offsetof(IdentifyController, pels) == 352);
static_assert(offsetof(IdentifyController, megcap) == 368);
static_assert(offsetof(IdentifyController, sqes) == 512);
static_assert(offsetof(IdentifyController, nn) == 516);
static_assert(offsetof(IdentifyController, oncs) == 520);
static_assert(offsetof(IdentifyController, vwc) == 525);
static_assert(offsetof(IdentifyController, sgls) == 536);
static_assert(offsetof(IdentifyController, maxdna) == 544);
static_assert(offsetof(IdentifyController, maxcna) == 560);
static_assert(offsetof(IdentifyController, subnqn) == 768);
static_assert(offsetof(IdentifyController, ioccsz) == 1792);
static_assert(offsetof(IdentifyController, msdbd) == 1803);
static_assert(offsetof(IdentifyController, psd) == 2048);
static_assert(offsetof(IdentifyController, vs) == 3072);

/// Controller type (cntrltype).
enum class ControllerType : uint8_t { not_reported = 0, io = 1, discovery = 2, administrative = 3 };

/// cmic: Controller Multi-Path I/O and Namespace Sharing Capabilities.
namespace cmic {
inline constexpr uint8_t multi_port = 1u << 0;
inline constexpr uint8_t multi_controller = 1u << 1;
inline constexpr uint8_t sriov = 1u << 2;
inline constexpr uint8_t ana_reporting = 1u << 3;
} // namespace cmic

/// oaes: Optional Asynchronous Events Supported.
namespace oaes {
inline constexpr uint32_t namespace_attribute = 1u << 8;
inline constexpr uint32_t firmware_activation = 1u << 9;
inline constexpr uint32_t ana_change = 1u << 11;
inline constexpr uint32_t predictable_latency_aggregate = 1u << 12;
inline constexpr uint32_t lba_status_information = 1u << 13;
inline constexpr uint32_t endurance_group_aggregate = 1u << 14;
inline constexpr uint32_t normal_nvm_subsystem_shutdown = 1u << 15;
inline constexpr uint32_t zone_descriptor_changed = 1u << 27;
inline constexpr uint32_t discovery_log_page_change = 1u << 31;
} // namespace oaes

/// ctratt: Controller Attributes.
namespace ctratt {
inline constexpr uint32_t host_id_128bit = 1u << 0;
inline constexpr uint32_t non_operational_power_state_permissive = 1u << 1;
inline constexpr uint32_t nvm_sets = 1u << 2;
inline constexpr uint32_t read_recovery_levels = 1u << 3;
inline constexpr uint32_t endurance_groups = 1u << 4;
inline constexpr uint32_t predictable_latency_mode = 1u << 5;
inline constexpr uint32_t traffic_based_keep_alive = 1u << 6;
inline constexpr uint32_t namespace_granularity = 1u << 7;
inline constexpr uint32_t sq_associations = 1u << 8;
inline constexpr uint32_t uuid_list = 1u << 9;
inline constexpr uint32_t multi_domain_subsystem = 1u << 10;
inline constexpr uint32_t fixed_capacity_management = 1u << 11;
inline constexpr uint32_t variable_capacity_management = 1u << 12;
inline constexpr uint32_t delete_endurance_group = 1u << 13;
inline constexpr uint32_t delete_nvm_set = 1u << 14;
inline constexpr uint32_t extended_lba_formats = 1u << 15;
} // namespace ctratt

/// oacs: Optional Admin Command Support.
namespace oacs {
inline constexpr uint16_t security = 1u << 0;
inline constexpr uint16_t format_nvm = 1u << 1;
inline constexpr uint16_t firmware = 1u << 2;
inline constexpr uint16_t namespace_management = 1u << 3;
inline constexpr uint16_t device_self_test = 1u << 4;
inline constexpr uint16_t directives = 1u << 5;
inline constexpr uint16_t nvme_mi = 1u << 6;
inline constexpr uint16_t virtualization_management = 1u << 7;
inline constexpr uint16_t doorbell_buffer_config = 1u << 8;
inline constexpr uint16_t get_lba_status = 1u << 9;
inline constexpr uint16_t command_and_feature_lockdown = 1u << 10;
} // namespace oacs

/// frmw: Firmware Updates.
namespace frmw {
inline constexpr uint8_t first_slot_read_only = 1u << 0;
using NumSlots = Field<1, 3, uint8_t>; ///< number of slots, 1..7
inline constexpr uint8_t activation_without_reset = 1u << 4;
inline constexpr uint8_t multiple_update_detection = 1u << 5;
} // namespace frmw

/// lpa: Log Page Attributes.
namespace lpa {
inline constexpr uint8_t smart_per_namespace = 1u << 0;
inline constexpr uint8_t commands_supported_effects = 1u << 1;
inline constexpr uint8_t extended_data = 1u << 2; ///< NUMDU/LPO supported
inline constexpr uint8_t telemetry = 1u << 3;
inline constexpr uint8_t persistent_event = 1u << 4;
inline constexpr uint8_t misc_log_pages = 1u << 5;
inline constexpr uint8_t telemetry_data_area_4 = 1u << 6;
} // namespace lpa

/// sqes / cqes: required (3:0) and maximum (7:4) entry size as log2 bytes.
namespace queue_entry_size {
using Required = Field<0, 4, uint8_t>;
using Maximum = Field<4, 4, uint8_t>;
/// 0x66 for 64-byte SQEs, 0x44 for 16-byte CQEs.
[[nodiscard]] constexpr uint8_t make(uint8_t required_log2, uint8_t maximum_log2) noexcept
{
    return static_cast<uint8_t>(Required::make(required_log2) | Maximum::make(maximum_log2));
}
} // namespace queue_entry_size

/// oncs: Optional NVM Command Support.
namespace oncs {
inline constexpr uint16_t compare = 1u << 0;
inline constexpr uint16_t write_uncorrectable = 1u << 1;
inline constexpr uint16_t dataset_management = 1u << 2;
inline constexpr uint16_t write_zeroes = 1u << 3;
inline constexpr uint16_t save_select = 1u << 4; ///< Save/Select in Set/Get Features
inline constexpr uint16_t reservations = 1u << 5;
inline constexpr uint16_t timestamp = 1u << 6;
inline constexpr uint16_t verify = 1u << 7;
inline constexpr uint16_t copy = 1u << 8;
} // namespace oncs

/// fuses: Fused Operation Support.
namespace fuses {
inline constexpr uint16_t compare_and_write = 1u << 0;
}

/// fna: Format NVM Attributes.
namespace fna {
inline constexpr uint8_t format_all_namespaces = 1u << 0;
inline constexpr uint8_t secure_erase_all_namespaces = 1u << 1;
inline constexpr uint8_t crypto_erase = 1u << 2;
inline constexpr uint8_t format_nsid_all_unsupported = 1u << 3;
} // namespace fna

/// vwc: Volatile Write Cache.
namespace vwc {
inline constexpr uint8_t present = 1u << 0;
/// Flush behavior for NSID FFFFFFFFh (bits 2:1).
using FlushBroadcast = Field<1, 2, uint8_t>;
inline constexpr uint8_t flush_broadcast_not_indicated = 0;
inline constexpr uint8_t flush_broadcast_unsupported = 2;
inline constexpr uint8_t flush_broadcast_supported = 3;
} // namespace vwc

/// sgls: SGL Support.
namespace sgls {
using Support = Field<0, 2>; ///< 0 none, 1 no alignment, 2 dword alignment
inline constexpr uint32_t keyed_data_block = 1u << 2;
inline constexpr uint32_t bit_bucket = 1u << 16;
inline constexpr uint32_t mptr_contiguous_byte_aligned = 1u << 17;
inline constexpr uint32_t oversized_sgl = 1u << 18;
inline constexpr uint32_t mptr_sgl = 1u << 19;
inline constexpr uint32_t address_as_offset = 1u << 20;
inline constexpr uint32_t transport_data_block = 1u << 21;
} // namespace sgls

/// anacap: ANA Capabilities.
namespace anacap {
inline constexpr uint8_t optimized = 1u << 0;
inline constexpr uint8_t non_optimized = 1u << 1;
inline constexpr uint8_t inaccessible = 1u << 2;
inline constexpr uint8_t persistent_loss = 1u << 3;
inline constexpr uint8_t change = 1u << 4;
inline constexpr uint8_t grpid_static = 1u << 6;
inline constexpr uint8_t grpid_in_ns_management = 1u << 7;
} // namespace anacap

// ---------------------------------------------------------------------------
// Identify Namespace (CNS 00h), NVM Command Set
// ---------------------------------------------------------------------------

/// LBA Format Data Structure, NVM Command Set 2.0 Figure 98.
struct LbaFormat {
    uint16_t ms;   ///< metadata size in bytes
    uint8_t lbads; ///< LBA data size, log2 bytes (9 = 512)
    uint8_t rp;    ///< relative performance, bits 1:0

    /// 2^LBADS bytes; 0 when LBADS is 0 or too large for 32 bits (device
    /// data: nothing keeps a controller from reporting LBADS 255).
    [[nodiscard]] constexpr uint32_t lba_data_size() const noexcept
    {
        return lbads != 0 && lbads < 32 ? (1u << lbads) : 0u;
    }
    [[nodiscard]] friend constexpr bool operator==(const LbaFormat&, const LbaFormat&) = default;
};
static_assert(sizeof(LbaFormat) == 4);
static_assert(LbaFormat{0, 12, 0}.lba_data_size() == 4096 && LbaFormat{0, 40, 0}.lba_data_size() == 0);

/// Relative performance of an LbaFormat.
enum class RelativePerformance : uint8_t { best = 0, better = 1, good = 2, degraded = 3 };

/// Identify Namespace data structure, NVM Command Set 2.0 Figure 97.
struct IdentifyNamespace {
    uint64_t nsze;
    uint64_t ncap;
    uint64_t nuse;
    uint8_t nsfeat;
    uint8_t nlbaf; ///< number of LBA formats, 0's based
    uint8_t flbas; ///< see flbas namespace
    uint8_t mc;
    uint8_t dpc;
    uint8_t dps;
    uint8_t nmic;
    uint8_t rescap;
    uint8_t fpi;
    uint8_t dlfeat;
    uint16_t nawun;
    uint16_t nawupf;
    uint16_t nacwu;
    uint16_t nabsn;
    uint16_t nabo;
    uint16_t nabspf;
    uint16_t noiob;
    Uint128 nvmcap;
    uint16_t npwg;
    uint16_t npwa;
    uint16_t npdg;
    uint16_t npda;
    uint16_t nows;
    uint16_t mssrl;
    uint32_t mcl;
    uint8_t msrc;
    uint8_t rsvd81;
    uint8_t nulbaf;
    std::array<uint8_t, 9> rsvd83;
    uint32_t anagrpid;
    std::array<uint8_t, 3> rsvd96;
    uint8_t nsattr;
    uint16_t nvmsetid;
    uint16_t endgid;
    std::array<uint8_t, 16> nguid;
    std::array<uint8_t, 8> eui64;
    std::array<LbaFormat, 64> lbaf;
    uint64_t lbstm;
    std::array<uint8_t, 3704> vs;
};
static_assert(sizeof(IdentifyNamespace) == identify_data_size);
static_assert(std::is_trivially_copyable_v<IdentifyNamespace> &&
              std::is_standard_layout_v<IdentifyNamespace>);
static_assert(offsetof(IdentifyNamespace, nsfeat) == 24);
static_assert(offsetof(IdentifyNamespace, flbas) == 26);
static_assert(offsetof(IdentifyNamespace, dlfeat) == 33);
static_assert(offsetof(IdentifyNamespace, nawun) == 34);
static_assert(offsetof(IdentifyNamespace, noiob) == 46);
static_assert(offsetof(IdentifyNamespace, nvmcap) == 48);
static_assert(offsetof(IdentifyNamespace, npwg) == 64);
static_assert(offsetof(IdentifyNamespace, mssrl) == 74);
static_assert(offsetof(IdentifyNamespace, mcl) == 76);
static_assert(offsetof(IdentifyNamespace, msrc) == 80);
static_assert(offsetof(IdentifyNamespace, nulbaf) == 82);
static_assert(offsetof(IdentifyNamespace, anagrpid) == 92);
static_assert(offsetof(IdentifyNamespace, nsattr) == 99);
static_assert(offsetof(IdentifyNamespace, nvmsetid) == 100);
static_assert(offsetof(IdentifyNamespace, endgid) == 102);
static_assert(offsetof(IdentifyNamespace, nguid) == 104);
static_assert(offsetof(IdentifyNamespace, eui64) == 120);
static_assert(offsetof(IdentifyNamespace, lbaf) == 128);
static_assert(offsetof(IdentifyNamespace, lbstm) == 384);
static_assert(offsetof(IdentifyNamespace, vs) == 392);

/// flbas: Formatted LBA Size. The format index is split: bits 3:0 are the
/// low nibble, bits 6:5 the high two bits (NVM Command Set 2.0 Figure 97);
/// bit 4 selects extended-LBA metadata.
namespace flbas {
using IndexLow = Field<0, 4, uint8_t>;
using IndexHigh = Field<5, 2, uint8_t>;
inline constexpr uint8_t extended_metadata = 1u << 4;

/// Format index 0..63 encoded in an flbas byte.
[[nodiscard]] constexpr uint8_t index(uint8_t v) noexcept
{
    return static_cast<uint8_t>(IndexLow::get(v) | (IndexHigh::get(v) << 4));
}
/// True when metadata is transferred at the end of each LBA.
[[nodiscard]] constexpr bool is_extended(uint8_t v) noexcept
{
    return (v & extended_metadata) != 0;
}
/// flbas byte for a format index 0..63.
[[nodiscard]] constexpr uint8_t make(uint8_t format_index, bool extended = false) noexcept
{
    return static_cast<uint8_t>(IndexLow::make(format_index & 0xfu) |
                                IndexHigh::make(format_index >> 4) |
                                (extended ? extended_metadata : 0u));
}
} // namespace flbas
static_assert(flbas::index(flbas::make(37, true)) == 37 && flbas::make(37) == 0x45);

/// The LBA format the namespace is formatted with.
[[nodiscard]] constexpr const LbaFormat& current_lba_format(const IdentifyNamespace& ns) noexcept
{
    return ns.lbaf[flbas::index(ns.flbas) & 63u];
}
/// Logical block data size of the namespace in bytes (0 if unformatted).
[[nodiscard]] constexpr uint32_t lba_data_size(const IdentifyNamespace& ns) noexcept
{
    return current_lba_format(ns).lba_data_size();
}

/// nsfeat: Namespace Features.
namespace nsfeat {
inline constexpr uint8_t thin_provisioning = 1u << 0;
inline constexpr uint8_t atomic_parameters = 1u << 1; ///< NSABP: nawun/nawupf/nacwu valid
inline constexpr uint8_t deallocated_error = 1u << 2; ///< DAE
inline constexpr uint8_t uid_reuse = 1u << 3;
inline constexpr uint8_t optimal_performance = 1u << 4; ///< npwg..nows valid
} // namespace nsfeat

/// dps: End-to-end Data Protection Type Settings.
namespace dps {
using Pit = Field<0, 3, uint8_t>;               ///< 0 none, 1..3 protection type
inline constexpr uint8_t first_bytes = 1u << 3; ///< PI in first bytes of metadata
} // namespace dps

/// nmic: Namespace Multi-path I/O and Namespace Sharing Capabilities.
namespace nmic {
inline constexpr uint8_t shared = 1u << 0;
}

/// dlfeat: Deallocate Logical Block Features.
namespace dlfeat {
using ReadBehavior = Field<0, 3, uint8_t>; ///< 0 unknown, 1 zeroes, 2 ones
inline constexpr uint8_t write_zeroes_deallocate = 1u << 3;
inline constexpr uint8_t guard_crc = 1u << 4;
} // namespace dlfeat

/// nsattr: Namespace Attributes.
namespace nsattr {
inline constexpr uint8_t write_protected = 1u << 0;
}

// ---------------------------------------------------------------------------
// Lists and other Identify structures
// ---------------------------------------------------------------------------

/// Active / allocated Namespace ID list (CNS 02h, 07h, 10h, 1Ah): ascending
/// NSIDs greater than the command's NSID, zero terminated.
struct IdentifyNamespaceList {
    std::array<uint32_t, 1024> nsid;
};
static_assert(sizeof(IdentifyNamespaceList) == identify_data_size);

/// Controller List (CNS 12h, 13h; Namespace Attachment data),
/// NVMe Base 2.0 Figure 137.
struct ControllerList {
    uint16_t num;
    std::array<uint16_t, 2047> ids;
};
static_assert(sizeof(ControllerList) == identify_data_size && offsetof(ControllerList, ids) == 2);

/// Namespace Identifier Type (CNS 03h descriptors), NVMe Base 2.0 Figure 279.
enum class NidType : uint8_t { ieee_eui64 = 0x1, nguid = 0x2, uuid = 0x3, csi = 0x4 };

/// Required NIDL for a descriptor type (0 for unknown types).
[[nodiscard]] constexpr uint8_t nid_length(NidType t) noexcept
{
    switch (t) {
    case NidType::ieee_eui64:
        return 8;
    case NidType::nguid:
        return 16;
    case NidType::uuid:
        return 16;
    case NidType::csi:
        return 1;
    }
    return 0;
}

/// Header of a Namespace Identification Descriptor; `nidl` bytes of the
/// identifier follow. The list is 4096 bytes, terminated by nidt == 0.
struct NidDescriptorHeader {
    uint8_t nidt;
    uint8_t nidl;
    std::array<uint8_t, 2> rsvd;
};
static_assert(sizeof(NidDescriptorHeader) == 4);

/// Identify I/O Command Set data structure (CNS 1Ch): vectors of supported
/// command set combinations, NVMe Base 2.0 Figure 290.
struct IoCommandSetVectorList {
    std::array<uint64_t, 512> vectors;
};
static_assert(sizeof(IoCommandSetVectorList) == identify_data_size);

namespace iocs_vector {
inline constexpr uint64_t nvm = 1u << 0;
inline constexpr uint64_t key_value = 1u << 1;
inline constexpr uint64_t zoned_namespace = 1u << 2;
} // namespace iocs_vector

/// I/O Command Set Independent Identify Namespace (CNS 08h), NVMe Base 2.0
/// Figure 280.
struct IdentifyNamespaceCsIndependent {
    uint8_t nsfeat;
    uint8_t nmic;
    uint8_t rescap;
    uint8_t fpi;
    uint32_t anagrpid;
    uint8_t nsattr;
    uint8_t rsvd9;
    uint16_t nvmsetid;
    uint16_t endgid;
    uint8_t nstat; ///< bit 0: namespace ready
    std::array<uint8_t, 4081> rsvd15;
};
static_assert(sizeof(IdentifyNamespaceCsIndependent) == identify_data_size);
static_assert(offsetof(IdentifyNamespaceCsIndependent, anagrpid) == 4 &&
              offsetof(IdentifyNamespaceCsIndependent, nvmsetid) == 10 &&
              offsetof(IdentifyNamespaceCsIndependent, nstat) == 14);

/// I/O Command Set Specific Identify Controller for the NVM command set
/// (CNS 06h, CSI 00h), NVM Command Set 2.0 Figure 100.
struct IdentifyControllerNvm {
    uint8_t vsl;    ///< verify size limit, log2 of CAP.MPSMIN units
    uint8_t wzsl;   ///< write zeroes size limit
    uint8_t wusl;   ///< write uncorrectable size limit
    uint8_t dmrl;   ///< DSM ranges limit
    uint32_t dmrsl; ///< DSM range size limit (logical blocks)
    uint64_t dmsl;  ///< DSM size limit (logical blocks)
    std::array<uint8_t, 4080> rsvd16;
};
static_assert(sizeof(IdentifyControllerNvm) == identify_data_size);
static_assert(offsetof(IdentifyControllerNvm, dmrsl) == 4 &&
              offsetof(IdentifyControllerNvm, dmsl) == 8);

} // namespace nvme
