// Identify of the emulated controller (NVMe Base 2.0, 5.17; NVM Command Set
// 2.0, 4.1.5): every CNS nvme-cli 2.3 and smartctl 7.3 send, the values they
// show, and the status each invalid request gets.
#include <algorithm>
#include <cstring>
#include <string_view>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

const nvme::Status invalid_field = nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
const nvme::Status invalid_namespace =
    nvme::Status(nvme::GenericStatus::invalid_namespace_or_format).with_dnr();

template <std::size_t N> std::string_view raw(const std::array<char, N>& field)
{
    return {field.data(), N};
}

template <class T> T as(const Bytes& b)
{
    T v;
    std::memcpy(&v, b.data(), sizeof v);
    return v;
}

bool all_zero(const Bytes& b)
{
    return std::ranges::all_of(b, [](std::byte x) { return x == std::byte{0}; });
}

class IdentifyTest : public EmuTest {
protected:
    /// Default config plus ns3 allocated but not attached.
    static ControllerConfig config_with_detached_namespace()
    {
        auto c = default_test_config();
        NamespaceConfig ns3;
        ns3.nsid = 3;
        ns3.size_bytes = 8ull << 20;
        ns3.attached = false;
        c.namespaces.push_back(ns3);
        return c;
    }
    nvme::IdentifyNamespaceList namespace_list(std::uint8_t cns, std::uint32_t after,
                                               std::uint8_t csi = 0)
    {
        Bytes b;
        EXPECT_OK(identify(cns, after, b, 0, csi));
        return as<nvme::IdentifyNamespaceList>(b);
    }
    nvme::ControllerList controller_list(std::uint8_t cns, std::uint32_t nsid, std::uint16_t cntid)
    {
        Bytes b;
        EXPECT_OK(identify(cns, nsid, b, cntid));
        return as<nvme::ControllerList>(b);
    }
};

// ---------------------------------------------------------------------------
// CNS 01h Identify Controller
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, ControllerStringsArePaddedCopiesOfTheConfig)
{
    const auto id = identify_controller();
    // sn/mn/fr are space padded ASCII, subnqn is NUL padded UTF-8.
    EXPECT_EQ(raw(id.sn), "NVC0000000001       ");
    EXPECT_EQ(raw(id.mn), "nvmecuse Emulated NVMe SSD              ");
    EXPECT_EQ(raw(id.fr), "1.0.0   ");
    EXPECT_EQ(nvme::trimmed(id.subnqn), "nqn.2024-01.io.nvmecuse:emulated:NVC0000000001");
    EXPECT_EQ(id.subnqn[std::string_view("nqn.2024-01.io.nvmecuse:emulated:NVC0000000001").size()],
              '\0');
    EXPECT_EQ(id.subnqn.back(), '\0');
}

TEST_F(IdentifyTest, SubsystemNqnFollowsTheSerialUnlessConfigured)
{
    auto c = default_test_config();
    c.serial = "SN-OTHER-7";
    create(c);
    EXPECT_EQ(nvme::trimmed(identify_controller().subnqn), "nqn.2024-01.io.nvmecuse:emulated:SN-OTHER-7");
    c.subnqn = "nqn.2014-08.org.example:array";
    create(c);
    EXPECT_EQ(nvme::trimmed(identify_controller().subnqn), "nqn.2014-08.org.example:array");
}

TEST_F(IdentifyTest, ControllerIdentityAndLimitsFollowTheConfig)
{
    auto cfg = default_test_config();
    cfg.vid = 0x144d;
    cfg.ssvid = 0x144e;
    cfg.ieee_oui = 0x002538;
    cfg.cntlid = 7;
    cfg.mdts = 5;
    cfg.max_namespaces = 16;
    cfg.aerl = 7;
    cfg.warning_temperature_kelvin = 350;
    cfg.critical_temperature_kelvin = 360;
    cfg.extended_self_test_minutes = 42;
    cfg.max_queue_entries = 256;
    cfg.sgls = true;
    create(cfg);
    const auto id = identify_controller();
    EXPECT_EQ(id.vid, 0x144d);
    EXPECT_EQ(id.ssvid, 0x144e);
    // IEEE OUI least significant byte first: 00-25-38 is stored 38h 25h 00h.
    EXPECT_EQ(id.ieee, (std::array<std::uint8_t, 3>{0x38, 0x25, 0x00}));
    EXPECT_EQ(id.cntlid, 7);
    EXPECT_EQ(id.mdts, 5);
    EXPECT_EQ(id.nn, 16u);
    EXPECT_EQ(id.aerl, 7);
    EXPECT_EQ(id.wctemp, 350);
    EXPECT_EQ(id.cctemp, 360);
    EXPECT_EQ(id.edstt, 42);
    EXPECT_EQ(id.maxcmd, 256);
    EXPECT_EQ(id.sgls, 1u) << "SGLs without alignment, nothing optional";
}

TEST_F(IdentifyTest, ControllerReportsAnNvme20IoController)
{
    const auto id = identify_controller();
    EXPECT_EQ(id.ver, 0x00020000u);
    EXPECT_EQ(id.cntrltype, static_cast<std::uint8_t>(nvme::ControllerType::io));
    EXPECT_EQ(id.cmic, 0);
    EXPECT_EQ(id.rab, 6);
    EXPECT_EQ(id.acl, 3);
    EXPECT_EQ(id.elpe, 63); // 64 error log entries
    EXPECT_EQ(id.sqes, 0x66);
    EXPECT_EQ(id.cqes, 0x44);
    EXPECT_EQ(id.dsto & 1, 1); // one self-test at a time
    EXPECT_EQ(id.kas, 10);     // 1 s keep-alive granularity
    EXPECT_GT(id.rtd3e, 0u);
    EXPECT_GT(id.rtd3r, 0u);
    EXPECT_EQ(id.ctratt, nvme::ctratt::host_id_128bit);
    EXPECT_EQ(id.sgls, 0u);
    EXPECT_EQ(id.hmpre, 0u);
    EXPECT_EQ(id.apsta, 0);
    EXPECT_EQ(id.fuses, 0);
    EXPECT_EQ(id.fna, 0);
}

TEST_F(IdentifyTest, OptionalCommandAndLogBits)
{
    const auto id = identify_controller();
    // Format, firmware download/commit, namespace management, self-test;
    // not security, directives, virtualization or doorbell buffer config.
    EXPECT_EQ(id.oacs, nvme::oacs::format_nvm | nvme::oacs::firmware |
                           nvme::oacs::namespace_management | nvme::oacs::device_self_test);
    EXPECT_EQ(id.oncs, nvme::oncs::compare | nvme::oncs::write_uncorrectable |
                           nvme::oncs::dataset_management | nvme::oncs::write_zeroes |
                           nvme::oncs::save_select | nvme::oncs::timestamp | nvme::oncs::verify);
    // Effects log, extended Get Log Page data, Supported Log Pages; no
    // per-namespace SMART, no telemetry, no persistent event log.
    EXPECT_EQ(id.lpa, nvme::lpa::commands_supported_effects | nvme::lpa::extended_data |
                          nvme::lpa::misc_log_pages);
    // Volatile write cache present, Flush with NSID FFFFFFFFh supported.
    EXPECT_EQ(id.vwc, 0x07);
    EXPECT_EQ(id.oaes, nvme::oaes::namespace_attribute | nvme::oaes::firmware_activation);
}

TEST_F(IdentifyTest, FirmwareUpdateCapabilities)
{
    // Default: 3 slots, slot 1 writable, activation without reset.
    EXPECT_EQ(identify_controller().frmw, (3 << 1) | nvme::frmw::activation_without_reset);
    auto cfg = default_test_config();
    cfg.firmware_slots = 7;
    cfg.slot1_read_only = true;
    create(cfg);
    const auto id = identify_controller();
    EXPECT_EQ(nvme::frmw::NumSlots::get(id.frmw), 7);
    EXPECT_NE(id.frmw & nvme::frmw::first_slot_read_only, 0);
    EXPECT_NE(id.frmw & nvme::frmw::activation_without_reset, 0);
}

TEST_F(IdentifyTest, CapacityIsTotalAndUnallocated)
{
    const auto id = identify_controller();
    EXPECT_EQ(id.tnvmcap, nvme::Uint128::from(1ull << 30));
    // ns1 (64 MiB) and ns2 (16 MiB) are allocated.
    EXPECT_EQ(id.unvmcap, nvme::Uint128::from((1ull << 30) - (80ull << 20)));
}

TEST_F(IdentifyTest, UnallocatedCapacityCountsDetachedNamespaces)
{
    create(config_with_detached_namespace());
    EXPECT_EQ(identify_controller().unvmcap, nvme::Uint128::from((1ull << 30) - (88ull << 20)));
}

TEST_F(IdentifyTest, UnallocatedCapacityFollowsNamespaceManagement)
{
    nvme::IdentifyNamespace host{};
    host.nsze = 2048; // 1 MiB of 512-byte blocks
    host.ncap = 2048;
    Bytes data(sizeof host);
    std::memcpy(data.data(), &host, sizeof host);
    const Outcome created = admin(sqe(nvme::AdminOpcode::namespace_management), data);
    ASSERT_OK(created);
    EXPECT_EQ(identify_controller().unvmcap, nvme::Uint128::from((1ull << 30) - (81ull << 20)));
    EXPECT_EQ(identify_controller().tnvmcap, nvme::Uint128::from(1ull << 30));

    auto del = sqe(nvme::AdminOpcode::namespace_management, created.dw0);
    nvme::cmd::namespace_management::SelField::set(del, 1);
    ASSERT_OK(admin(del));
    EXPECT_EQ(identify_controller().unvmcap, nvme::Uint128::from((1ull << 30) - (80ull << 20)));
}

TEST_F(IdentifyTest, ThreeOperationalPowerStates)
{
    const auto id = identify_controller();
    EXPECT_EQ(id.npss, 2);
    EXPECT_EQ(id.psd[0].mp, 2500); // 25.00 W
    EXPECT_EQ(id.psd[1].mp, 1800);
    EXPECT_EQ(id.psd[2].mp, 1200);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(id.psd[i].flags, 0) << "operational, centiwatt units, ps " << i;
    EXPECT_LE(id.psd[1].exlat, id.psd[2].exlat);
    EXPECT_EQ(id.psd[3].mp, 0);
}

TEST_F(IdentifyTest, ControllerIgnoresTheNsid)
{
    Bytes a;
    Bytes b;
    ASSERT_OK(identify(0x01, 0, a));
    ASSERT_OK(identify(0x01, 1, b));
    EXPECT_EQ(a, b);
}

// ---------------------------------------------------------------------------
// CNS 00h Identify Namespace
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, NamespaceSizesAndFormatOf512ByteNamespace)
{
    const auto id = identify_namespace(1);
    const std::uint64_t blocks = (64ull << 20) / 512;
    EXPECT_EQ(id.nsze, blocks);
    EXPECT_EQ(id.ncap, blocks);
    EXPECT_EQ(id.nuse, blocks);
    EXPECT_EQ(id.nsfeat, 0);
    EXPECT_EQ(id.nlbaf, 7); // eight formats, 0's based
    EXPECT_EQ(id.flbas, 0);
    EXPECT_EQ(nvme::lba_data_size(id), 512u);
    EXPECT_EQ(id.nvmcap, nvme::Uint128::from(64ull << 20));
    EXPECT_EQ(id.mc, 0x03); // extended LBA and separate metadata both supported
    EXPECT_EQ(id.dpc, 0);
    EXPECT_EQ(id.dps, 0);
    EXPECT_EQ(id.nmic, 0);      // private namespace
    EXPECT_EQ(id.dlfeat, 0x09); // deallocated reads zeroes; Write Zeroes may deallocate
}

TEST_F(IdentifyTest, NamespaceFormatOf4096PlusSeparateMetadata)
{
    const auto id = identify_namespace(2);
    EXPECT_EQ(id.nsze, (16ull << 20) / 4096);
    EXPECT_EQ(nvme::flbas::index(id.flbas), 5); // 4096 + 8
    EXPECT_FALSE(nvme::flbas::is_extended(id.flbas));
    EXPECT_EQ(id.flbas, 0x05);
    EXPECT_EQ(nvme::current_lba_format(id).ms, 8);
    EXPECT_EQ(nvme::lba_data_size(id), 4096u);
}

TEST_F(IdentifyTest, ExtendedMetadataSetsFlbasBit4)
{
    auto cfg = default_test_config();
    NamespaceConfig ns4;
    ns4.nsid = 4;
    ns4.size_bytes = 1ull << 20;
    ns4.lba_data_size = 512;
    ns4.metadata_size = 16;
    ns4.extended_metadata = true;
    cfg.namespaces.push_back(ns4);
    create(cfg);
    const auto id = identify_namespace(4);
    EXPECT_EQ(id.flbas, 0x12); // format 2 (512 + 16), bit 4 extended
    EXPECT_TRUE(nvme::flbas::is_extended(id.flbas));
    EXPECT_EQ(id.nsze, (1ull << 20) / 512);
}

TEST_F(IdentifyTest, LbaFormatTableMatchesTheControllerFormats)
{
    const auto id = identify_namespace(1);
    for (std::size_t i = 0; i < EmulatedController::lba_formats.size(); ++i) {
        EXPECT_EQ(id.lbaf[i].ms, EmulatedController::lba_formats[i].ms) << i;
        EXPECT_EQ(id.lbaf[i].lbads, EmulatedController::lba_formats[i].lbads) << i;
    }
    EXPECT_EQ(id.lbaf[8], nvme::LbaFormat{});
    // 4 KiB without metadata performs best; 512 with metadata worst.
    EXPECT_EQ(id.lbaf[4].rp, static_cast<std::uint8_t>(nvme::RelativePerformance::best));
    EXPECT_EQ(id.lbaf[0].rp, static_cast<std::uint8_t>(nvme::RelativePerformance::good));
    EXPECT_LT(id.lbaf[4].rp, id.lbaf[0].rp);
    EXPECT_LT(id.lbaf[5].rp, id.lbaf[1].rp);
}

TEST_F(IdentifyTest, NamespaceIdentifiersAreSetAndDistinct)
{
    const auto a = identify_namespace(1);
    const auto b = identify_namespace(2);
    EXPECT_NE(a.eui64, (std::array<std::uint8_t, 8>{}));
    EXPECT_NE(a.nguid, (std::array<std::uint8_t, 16>{}));
    EXPECT_NE(a.eui64, b.eui64);
    EXPECT_NE(a.nguid, b.nguid);
    EXPECT_EQ(a.eui64, ctrl->namespaces().at(1).eui64);
    EXPECT_EQ(a.nguid, ctrl->namespaces().at(1).nguid);
}

TEST_F(IdentifyTest, BroadcastNsidReportsCapabilitiesCommonToAllNamespaces)
{
    const auto common = identify_namespace(nvme::nsid_all);
    const auto ns1 = identify_namespace(1);
    EXPECT_EQ(common.nsze, 0u);
    EXPECT_EQ(common.ncap, 0u);
    EXPECT_EQ(common.nuse, 0u);
    EXPECT_EQ(common.nlbaf, 7);
    EXPECT_EQ(common.mc, ns1.mc);
    EXPECT_EQ(common.dpc, ns1.dpc);
    EXPECT_EQ(common.lbaf, ns1.lbaf);
    EXPECT_EQ(common.eui64, (std::array<std::uint8_t, 8>{}));
}

TEST_F(IdentifyTest, InactiveNsidReturnsZeroes)
{
    create(config_with_detached_namespace());
    Bytes b;
    // Unallocated (4..8) and allocated-but-detached (3): success, all zero.
    for (std::uint32_t nsid : {3u, 4u, 8u}) {
        ASSERT_OK(identify(0x00, nsid, b)) << nsid;
        EXPECT_TRUE(all_zero(b)) << nsid;
    }
}

TEST_F(IdentifyTest, InvalidNsidIsInvalidNamespaceOrFormat)
{
    Bytes b;
    for (std::uint32_t nsid : {0u, 9u, 0xfffffffeu}) {
        const Outcome o = identify(0x00, nsid, b);
        EXPECT_STATUS(o, invalid_namespace) << nsid;
        EXPECT_EQ(o.error_location, 4) << "SQE byte 4: NSID";
    }
}

// ---------------------------------------------------------------------------
// CNS 11h Identify Namespace for an allocated NSID, 10h allocated list
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, AllocatedNamespaceIsReportedWhetherAttachedOrNot)
{
    create(config_with_detached_namespace());
    Bytes b;
    ASSERT_OK(identify(0x11, 3, b));
    const auto id = as<nvme::IdentifyNamespace>(b);
    EXPECT_EQ(id.nsze, (8ull << 20) / 512);
    ASSERT_OK(identify(0x11, 1, b));
    EXPECT_EQ(as<nvme::IdentifyNamespace>(b).nsze, (64ull << 20) / 512);
    ASSERT_OK(identify(0x11, 5, b)); // unallocated
    EXPECT_TRUE(all_zero(b));
    EXPECT_STATUS(identify(0x11, 0, b), invalid_namespace);
    EXPECT_STATUS(identify(0x11, nvme::nsid_all, b), invalid_namespace);
}

TEST_F(IdentifyTest, AllocatedNamespaceListIncludesDetachedNamespaces)
{
    create(config_with_detached_namespace());
    const auto list = namespace_list(0x10, 0);
    EXPECT_EQ(list.nsid[0], 1u);
    EXPECT_EQ(list.nsid[1], 2u);
    EXPECT_EQ(list.nsid[2], 3u);
    EXPECT_EQ(list.nsid[3], 0u);
    EXPECT_EQ(namespace_list(0x10, 2).nsid[0], 3u);
}

// ---------------------------------------------------------------------------
// CNS 02h / 07h active namespace lists
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, ActiveNamespaceListIsAscendingAfterTheNsid)
{
    create(config_with_detached_namespace());
    auto list = namespace_list(0x02, 0);
    EXPECT_EQ(list.nsid[0], 1u);
    EXPECT_EQ(list.nsid[1], 2u);
    EXPECT_EQ(list.nsid[2], 0u) << "ns3 is not attached";
    list = namespace_list(0x02, 1);
    EXPECT_EQ(list.nsid[0], 2u);
    EXPECT_EQ(list.nsid[1], 0u);
    EXPECT_EQ(namespace_list(0x02, 2).nsid[0], 0u);
    EXPECT_EQ(namespace_list(0x02, 100).nsid[0], 0u) << "beyond NN: an empty list, not an error";
}

TEST_F(IdentifyTest, ActiveNamespaceListRejectsTheTopTwoNsids)
{
    Bytes b;
    for (const std::uint8_t cns : {std::uint8_t{0x02}, std::uint8_t{0x07}, std::uint8_t{0x10}}) {
        EXPECT_STATUS(identify(cns, 0xfffffffe, b), invalid_namespace) << cns;
        EXPECT_STATUS(identify(cns, 0xffffffff, b), invalid_namespace) << cns;
    }
}

TEST_F(IdentifyTest, ActiveNamespaceListPerCommandSet)
{
    auto list = namespace_list(0x07, 0, 0x00); // NVM: every namespace
    EXPECT_EQ(list.nsid[0], 1u);
    EXPECT_EQ(list.nsid[1], 2u);
    list = namespace_list(0x07, 0, 0x02); // Zoned: none
    EXPECT_EQ(list.nsid[0], 0u);
}

// ---------------------------------------------------------------------------
// CNS 03h Namespace Identification Descriptor list
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, DescriptorListCarriesEuiNguidUuidAndCsi)
{
    Bytes b;
    ASSERT_OK(identify(0x03, 1, b));
    const auto& ns = ctrl->namespaces().at(1);
    const auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
    // EUI-64
    EXPECT_EQ(p[0], 1);
    EXPECT_EQ(p[1], 8);
    EXPECT_EQ(std::memcmp(p + 4, ns.eui64.data(), 8), 0);
    p += 4 + 8;
    // NGUID
    EXPECT_EQ(p[0], 2);
    EXPECT_EQ(p[1], 16);
    EXPECT_EQ(std::memcmp(p + 4, ns.nguid.data(), 16), 0);
    p += 4 + 16;
    // UUID
    EXPECT_EQ(p[0], 3);
    EXPECT_EQ(p[1], 16);
    EXPECT_EQ(std::memcmp(p + 4, ns.uuid.data(), 16), 0);
    p += 4 + 16;
    // Command Set Identifier: NVM
    EXPECT_EQ(p[0], 4);
    EXPECT_EQ(p[1], 1);
    EXPECT_EQ(p[4], 0);
    // The list ends there (4 + 8 + 4 + 16 + 4 + 16 + 4 + 1 bytes): zeroes follow.
    EXPECT_TRUE(std::ranges::all_of(std::span(b).subspan(57),
                                    [](std::byte x) { return x == std::byte{0}; }));
}

TEST_F(IdentifyTest, DescriptorListNeedsAnActiveNamespace)
{
    create(config_with_detached_namespace());
    Bytes b;
    const Outcome inactive = identify(0x03, 3, b);
    EXPECT_STATUS(inactive, invalid_field) << "inactive NSID (Base 2.0, 3.2.1.5)";
    EXPECT_EQ(inactive.error_location, 4);
    EXPECT_STATUS(identify(0x03, 5, b), invalid_field);
    EXPECT_STATUS(identify(0x03, 0, b), invalid_namespace);
    EXPECT_STATUS(identify(0x03, nvme::nsid_all, b), invalid_namespace);
}

// ---------------------------------------------------------------------------
// CNS 05h / 06h / 08h / 1Ch command set structures
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, NvmCommandSetNamespaceIsAllZeroWithoutProtection)
{
    Bytes b;
    ASSERT_OK(identify(0x05, 1, b, 0, 0x00));
    EXPECT_TRUE(all_zero(b));
    const Outcome zoned = identify(0x05, 1, b, 0, 0x02);
    EXPECT_STATUS(zoned, invalid_field);
    EXPECT_EQ(zoned.error_location, 47) << "SQE byte 47: CSI";
    EXPECT_STATUS(identify(0x05, 0, b, 0, 0x00), invalid_namespace);
}

TEST_F(IdentifyTest, NvmCommandSetControllerLimits)
{
    Bytes b;
    ASSERT_OK(identify(0x06, 0, b, 0, 0x00));
    const auto id = as<nvme::IdentifyControllerNvm>(b);
    EXPECT_EQ(id.wzsl, 8) << "Write Zeroes limited like MDTS";
    EXPECT_EQ(id.vsl, 8);
    EXPECT_EQ(id.wusl, 8);
    EXPECT_EQ(id.dmrl, 0);
    EXPECT_STATUS(identify(0x06, 0, b, 0, 0x01), invalid_field);
}

TEST_F(IdentifyTest, CommandSetIndependentNamespace)
{
    create(config_with_detached_namespace());
    Bytes b;
    ASSERT_OK(identify(0x08, 1, b));
    const auto id = as<nvme::IdentifyNamespaceCsIndependent>(b);
    EXPECT_EQ(id.nstat & 1, 1) << "namespace ready";
    EXPECT_EQ(id.nmic, 0);
    ASSERT_OK(identify(0x08, 3, b));
    EXPECT_TRUE(all_zero(b)) << "inactive";
    EXPECT_STATUS(identify(0x08, 0, b), invalid_namespace);
    EXPECT_STATUS(identify(0x08, 9, b), invalid_namespace);
}

TEST_F(IdentifyTest, IoCommandSetVectorsOfferNvmOnly)
{
    Bytes b;
    ASSERT_OK(identify(0x1c, 0, b));
    const auto v = as<nvme::IoCommandSetVectorList>(b);
    EXPECT_EQ(v.vectors[0], nvme::iocs_vector::nvm);
    EXPECT_EQ(v.vectors[1], 0u);
}

// ---------------------------------------------------------------------------
// CNS 12h / 13h controller lists
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, ControllersAttachedToANamespace)
{
    create(config_with_detached_namespace());
    auto list = controller_list(0x12, 1, 0);
    EXPECT_EQ(list.num, 1);
    EXPECT_EQ(list.ids[0], 1);
    EXPECT_EQ(controller_list(0x12, 1, 1).num, 1) << "CNTID is inclusive";
    EXPECT_EQ(controller_list(0x12, 1, 2).num, 0);
    EXPECT_EQ(controller_list(0x12, 3, 0).num, 0) << "ns3 is detached";
    EXPECT_EQ(controller_list(0x12, 5, 0).num, 0) << "unallocated";
    Bytes b;
    EXPECT_STATUS(identify(0x12, 0, b), invalid_namespace);
    EXPECT_STATUS(identify(0x12, nvme::nsid_all, b), invalid_namespace);
}

TEST_F(IdentifyTest, ControllersOfTheSubsystem)
{
    auto list = controller_list(0x13, 0, 0);
    EXPECT_EQ(list.num, 1);
    EXPECT_EQ(list.ids[0], 1);
    EXPECT_EQ(list.ids[1], 0);
    EXPECT_EQ(controller_list(0x13, 0, 2).num, 0);
}

// ---------------------------------------------------------------------------
// Errors common to every CNS
// ---------------------------------------------------------------------------

TEST_F(IdentifyTest, UnsupportedCnsIsInvalidField)
{
    Bytes b;
    // NVM Set list, primary controller capabilities, secondary list,
    // granularity list, UUID list, domain/endurance group lists, reserved.
    for (const int cns :
         {0x04, 0x09, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1d, 0x20, 0xff}) {
        const Outcome o = identify(static_cast<std::uint8_t>(cns), 1, b);
        EXPECT_STATUS(o, invalid_field) << cns;
        EXPECT_EQ(o.error_location, 40) << "SQE byte 40: CNS";
    }
}

TEST_F(IdentifyTest, ShortBufferIsDataTransferError)
{
    for (const std::uint32_t cns : {0x00u, 0x01u, 0x02u, 0x03u, 0x06u, 0x13u}) {
        Bytes small(4095, std::byte{0xee});
        auto s = sqe(nvme::AdminOpcode::identify, 1);
        nvme::cmd::identify::Cns::set(s, cns);
        EXPECT_STATUS(admin(s, small), nvme::GenericStatus::data_transfer_error) << cns;
        EXPECT_TRUE(std::ranges::all_of(small, [](std::byte x) { return x == std::byte{0xee}; }))
            << "nothing written on failure, cns " << cns;
        EXPECT_STATUS(admin(s, {}), nvme::GenericStatus::data_transfer_error) << cns;
    }
}

TEST_F(IdentifyTest, LargerBufferGetsExactly4096Bytes)
{
    Bytes big(8192, std::byte{0xee});
    auto s = sqe(nvme::AdminOpcode::identify, 0);
    nvme::cmd::identify::Cns::set(s, 0x01);
    ASSERT_OK(admin(s, big));
    EXPECT_EQ(big[4096], std::byte{0xee});
}

} // namespace
} // namespace nvmecuse::emu::testing
