// Get Log Page of the emulated controller (NVMe Base 2.0, 5.16): the log
// pages it offers, how LPO/NUMD select a window of them, and the status of
// every malformed request.
#include <algorithm>
#include <cstring>
#include <string_view>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::LogPageId;

const nvme::Status invalid_field = nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
const nvme::Status invalid_log_page =
    nvme::Status(nvme::CommandSpecificStatus::invalid_log_page).with_dnr();

constexpr std::uint8_t lid(LogPageId id)
{
    return static_cast<std::uint8_t>(id);
}

template <class T> T as(const Bytes& b, std::size_t offset = 0)
{
    T v;
    std::memcpy(&v, b.data() + offset, sizeof v);
    return v;
}

bool all_zero(std::span<const std::byte> b)
{
    return std::ranges::all_of(b, [](std::byte x) { return x == std::byte{0}; });
}

class LogPagesTest : public EmuTest {
protected:
    nvme::SmartHealthLog smart()
    {
        return get_log_as<nvme::SmartHealthLog>(lid(LogPageId::smart_health));
    }

    /// A command that fails with Invalid Field in Command (an unknown CNS).
    Outcome provoke_error()
    {
        Bytes b;
        return identify(0xff, 0, b);
    }
    Outcome self_test(std::uint32_t code, std::uint32_t nsid = 0)
    {
        auto s = sqe(nvme::AdminOpcode::device_self_test, nsid);
        nvme::cmd::device_self_test::Stc::set(s, code);
        return admin(s);
    }
    /// Downloads a 4 KiB image naming `revision` and commits it with `action`.
    void install_firmware(std::string_view revision, std::uint32_t slot, std::uint32_t action)
    {
        Bytes image(4096, std::byte{0});
        std::memcpy(image.data(), "NVCFW", 5);
        std::memcpy(image.data() + 5, revision.data(), revision.size());
        auto dl = sqe(nvme::AdminOpcode::firmware_image_download);
        dl.cdw10 = 4096 / 4 - 1;
        dl.cdw11 = 0;
        ASSERT_OK(admin(dl, image));
        auto commit = sqe(nvme::AdminOpcode::firmware_commit);
        nvme::cmd::firmware_commit::Fs::set(commit, slot);
        nvme::cmd::firmware_commit::Ca::set(commit, action);
        ASSERT_OK(admin(commit));
    }
};

// ---------------------------------------------------------------------------
// Command fields
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, UnsupportedLogIsInvalidLogPage)
{
    Bytes b;
    // Telemetry, endurance group, ANA, persistent event, sanitize, vendor.
    for (const int id : {0x07, 0x08, 0x09, 0x0c, 0x0d, 0x12, 0x70, 0x80, 0x81, 0xc0, 0xff}) {
        const Outcome o = get_log(static_cast<std::uint8_t>(id), nvme::nsid_all, b, 512);
        EXPECT_STATUS(o, invalid_log_page) << id;
        EXPECT_EQ(o.error_location, 40) << "SQE byte 40: LID";
    }
}

TEST_F(LogPagesTest, SmartLogReadInTwoHalvesEqualsOneRead)
{
    Bytes whole;
    Bytes first;
    Bytes second;
    ASSERT_OK(get_log(lid(LogPageId::smart_health), nvme::nsid_all, whole, 512));
    ASSERT_OK(get_log(lid(LogPageId::smart_health), nvme::nsid_all, first, 256, 0));
    ASSERT_OK(get_log(lid(LogPageId::smart_health), nvme::nsid_all, second, 256, 256));
    first.insert(first.end(), second.begin(), second.end());
    EXPECT_EQ(first, whole);
}

TEST_F(LogPagesTest, OffsetMustBeDwordAlignedAndInsideTheLog)
{
    Bytes b;
    for (const std::uint64_t offset : {2ull, 1ull, 511ull}) {
        const Outcome o = get_log(lid(LogPageId::smart_health), nvme::nsid_all, b, 4, offset);
        EXPECT_STATUS(o, invalid_field) << offset;
        EXPECT_EQ(o.error_location, 48) << "SQE byte 48: LPO";
    }
    EXPECT_STATUS(get_log(lid(LogPageId::smart_health), nvme::nsid_all, b, 4, 516), invalid_field);
    EXPECT_STATUS(get_log(lid(LogPageId::smart_health), nvme::nsid_all, b, 4, 1ull << 32),
                  invalid_field);
    EXPECT_STATUS(get_log(lid(LogPageId::firmware_slot), nvme::nsid_all, b, 4, 4096),
                  invalid_field);
    // An offset at the very end reads nothing of the log: zeroes.
    ASSERT_OK(get_log(lid(LogPageId::smart_health), nvme::nsid_all, b, 8, 512));
    EXPECT_TRUE(all_zero(b));
}

TEST_F(LogPagesTest, RequestBeyondTheLogIsZeroFilled)
{
    Bytes b;
    ASSERT_OK(get_log(lid(LogPageId::smart_health), nvme::nsid_all, b, 1024));
    EXPECT_EQ(as<nvme::SmartHealthLog>(b).composite_temperature.get(), 313);
    EXPECT_TRUE(all_zero(std::span(b).subspan(512))) << "bytes past the 512-byte log";
    // Same for a window that starts inside and runs past the end.
    ASSERT_OK(get_log(lid(LogPageId::firmware_slot), nvme::nsid_all, b, 64, 480));
    EXPECT_TRUE(all_zero(b));
}

TEST_F(LogPagesTest, OnlyTheRequestedBytesAreWritten)
{
    Bytes b(64, std::byte{0xee});
    auto s = sqe(nvme::AdminOpcode::get_log_page, nvme::nsid_all);
    nvme::cmd::get_log_page::Lid::set(s, lid(LogPageId::smart_health));
    nvme::cmd::get_log_page::set_num_dwords(s, 4);
    ASSERT_OK(admin(s, b));
    EXPECT_TRUE(std::ranges::all_of(std::span(b).subspan(16),
                                    [](std::byte x) { return x == std::byte{0xee}; }));
}

TEST_F(LogPagesTest, BufferSmallerThanNumdIsDataTransferError)
{
    Bytes b(256, std::byte{0xee});
    auto s = sqe(nvme::AdminOpcode::get_log_page, nvme::nsid_all);
    nvme::cmd::get_log_page::Lid::set(s, lid(LogPageId::smart_health));
    nvme::cmd::get_log_page::set_num_dwords(s, 512 / 4);
    EXPECT_STATUS(admin(s, b), nvme::GenericStatus::data_transfer_error);
    EXPECT_TRUE(std::ranges::all_of(b, [](std::byte x) { return x == std::byte{0xee}; }));
}

TEST_F(LogPagesTest, TransferLargerThanMdtsIsInvalidField)
{
    // MDTS 8: at most 1 MiB. NUMDU carries the upper 16 bits of the count.
    Bytes b;
    const Outcome o = get_log(lid(LogPageId::error_information), nvme::nsid_all, b, (1u << 20) + 4);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 42) << "SQE byte 42: NUMDL";
    ASSERT_OK(get_log(lid(LogPageId::error_information), nvme::nsid_all, b, 1u << 20));
}

TEST_F(LogPagesTest, IndexOffsetTypeIsUnsupported)
{
    Bytes b(512);
    auto s = sqe(nvme::AdminOpcode::get_log_page, nvme::nsid_all);
    nvme::cmd::get_log_page::Lid::set(s, lid(LogPageId::smart_health));
    nvme::cmd::get_log_page::set_num_dwords(s, 128);
    nvme::cmd::get_log_page::Ot::set(s, 1);
    const Outcome o = admin(s, b);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 58 | (7 << 8)) << "SQE byte 58 bit 7: OT";
}

// ---------------------------------------------------------------------------
// 00h Supported Log Pages
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, SupportedLogPagesListsExactlyTheImplementedLogs)
{
    const auto page =
        get_log_as<nvme::SupportedLogPagesLog>(lid(LogPageId::supported_log_pages), 0);
    for (std::size_t id = 0; id < page.lids.size(); ++id) {
        const bool implemented = id <= 0x06;
        EXPECT_EQ(page.lids[id], implemented ? nvme::supported_log_page::lsupp : 0u)
            << "lid " << id;
    }
}

// ---------------------------------------------------------------------------
// 01h Error Information
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, ErrorLogIsEmptyOnAFreshController)
{
    Bytes b;
    ASSERT_OK(get_log(lid(LogPageId::error_information), 0, b, 4096));
    EXPECT_TRUE(all_zero(b));
    EXPECT_EQ(smart().num_err_log_entries, nvme::Uint128::from(0));
}

TEST_F(LogPagesTest, ErrorLogRecordsFailedCommandsNewestFirst)
{
    const std::uint16_t first_cid = next_cid;
    ASSERT_STATUS(provoke_error(), invalid_field);
    Bytes b;
    const std::uint16_t second_cid = next_cid;
    ASSERT_STATUS(get_log(0xc0, nvme::nsid_all, b, 64), invalid_log_page);

    ASSERT_OK(get_log(lid(LogPageId::error_information), nvme::nsid_all, b, 4096));
    const auto newest = as<nvme::ErrorInformationEntry>(b, 0);
    const auto older = as<nvme::ErrorInformationEntry>(b, 64);
    EXPECT_EQ(newest.error_count, 2u);
    EXPECT_EQ(newest.cmdid, second_cid);
    EXPECT_EQ(newest.sqid, 0);
    EXPECT_EQ(newest.nsid, nvme::nsid_all);
    EXPECT_EQ(nvme::Status::from_cqe_status(newest.status_field), invalid_log_page);
    EXPECT_EQ(newest.parm_error_location, 40);
    EXPECT_EQ(older.error_count, 1u);
    EXPECT_EQ(older.cmdid, first_cid);
    EXPECT_EQ(nvme::Status::from_cqe_status(older.status_field), invalid_field);
    EXPECT_TRUE(all_zero(std::span(b).subspan(128))) << "unused entries are zero";
    EXPECT_EQ(smart().num_err_log_entries, nvme::Uint128::from(2));
}

TEST_F(LogPagesTest, ErrorLogKeepsTheNewest64Entries)
{
    for (int i = 0; i < 70; ++i)
        ASSERT_STATUS(provoke_error(), invalid_field);
    Bytes b;
    ASSERT_OK(get_log(lid(LogPageId::error_information), nvme::nsid_all, b, 4096));
    EXPECT_EQ(as<nvme::ErrorInformationEntry>(b, 0).error_count, 70u);
    EXPECT_EQ(as<nvme::ErrorInformationEntry>(b, 63 * 64).error_count, 7u);
    // A window of one entry.
    ASSERT_OK(get_log(lid(LogPageId::error_information), nvme::nsid_all, b, 64, 64));
    EXPECT_EQ(as<nvme::ErrorInformationEntry>(b).error_count, 69u);
    EXPECT_EQ(smart().num_err_log_entries, nvme::Uint128::from(70));
}

// ---------------------------------------------------------------------------
// 02h SMART / Health Information
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, SmartLogOfAFreshDrive)
{
    const auto s = smart();
    EXPECT_EQ(s.critical_warning, 0);
    EXPECT_EQ(s.composite_temperature.get(), 313); // config: 40 °C
    EXPECT_EQ(s.temp_sensor[0], 313);
    EXPECT_EQ(s.temp_sensor[1], 0);
    EXPECT_EQ(s.avail_spare, 100);
    EXPECT_EQ(s.avail_spare_thresh, 10);
    EXPECT_EQ(s.percent_used, 0);
    EXPECT_EQ(s.power_cycles, nvme::Uint128::from(1));
    EXPECT_EQ(s.power_on_hours, nvme::Uint128::from(0));
    EXPECT_EQ(s.unsafe_shutdowns, nvme::Uint128::from(0));
    EXPECT_EQ(s.media_errors, nvme::Uint128::from(0));
    EXPECT_EQ(s.data_units_read, nvme::Uint128::from(0));
    EXPECT_EQ(s.data_units_written, nvme::Uint128::from(0));
    EXPECT_EQ(s.warning_temp_time, 0u);
    EXPECT_EQ(s.critical_comp_time, 0u);
}

TEST_F(LogPagesTest, SmartPowerOnHoursFollowTheClock)
{
    now += std::chrono::hours(5) + std::chrono::minutes(59);
    EXPECT_EQ(smart().power_on_hours, nvme::Uint128::from(5));
}

TEST_F(LogPagesTest, SmartCountsHostCommandsAndDataUnitsRoundedUp)
{
    // One 512-byte block: 1 data unit (thousands of 512-byte units, rounded up).
    ASSERT_OK(write(1, 0, pattern(512, 1)));
    auto s = smart();
    EXPECT_EQ(s.data_units_written, nvme::Uint128::from(1));
    EXPECT_EQ(s.host_write_commands, nvme::Uint128::from(1));
    EXPECT_EQ(s.data_units_read, nvme::Uint128::from(0));
    // 999 more blocks: 1000 units in all, still 1 data unit; one more → 2.
    ASSERT_OK(write(1, 1, pattern(999 * 512, 2)));
    EXPECT_EQ(smart().data_units_written, nvme::Uint128::from(1));
    ASSERT_OK(write(1, 1000, pattern(512, 3)));
    s = smart();
    EXPECT_EQ(s.data_units_written, nvme::Uint128::from(2));
    EXPECT_EQ(s.host_write_commands, nvme::Uint128::from(3));
    // A 4 KiB block (ns2, with its separate metadata) is 8 units: 1 data unit.
    Bytes out;
    Bytes md;
    ASSERT_OK(read(2, 0, 1, out, &md));
    s = smart();
    EXPECT_EQ(s.data_units_read, nvme::Uint128::from(1));
    EXPECT_EQ(s.host_read_commands, nvme::Uint128::from(1));
}

TEST_F(LogPagesTest, SmartIsControllerWideOnly)
{
    // LPA bit 0 is clear: NSID 0 and FFFFFFFFh mean the controller, a
    // namespace is Invalid Field in Command (Base 2.0, 5.16.1.3).
    Bytes all;
    Bytes zero;
    ASSERT_OK(get_log(lid(LogPageId::smart_health), nvme::nsid_all, all, 512));
    ASSERT_OK(get_log(lid(LogPageId::smart_health), 0, zero, 512));
    EXPECT_EQ(all, zero);
    Bytes b;
    const Outcome o = get_log(lid(LogPageId::smart_health), 1, b, 512);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 4);
}

TEST_F(LogPagesTest, SmartTemperatureWarningFollowsTheThresholdFeature)
{
    EXPECT_EQ(smart().critical_warning & nvme::critical_warning::temperature, 0);
    // Over-temperature threshold of the composite sensor lowered to 300 K.
    auto s = sqe(nvme::AdminOpcode::set_features);
    nvme::cmd::features::Fid::set(
        s, static_cast<std::uint32_t>(nvme::FeatureId::temperature_threshold));
    s.cdw11 = 300;
    ASSERT_OK(admin(s));
    EXPECT_NE(smart().critical_warning & nvme::critical_warning::temperature, 0);
    s.cdw11 = 343;
    ASSERT_OK(admin(s));
    EXPECT_EQ(smart().critical_warning & nvme::critical_warning::temperature, 0);
}

TEST_F(LogPagesTest, SmartTemperatureTimeAboveWarning)
{
    auto cfg = default_test_config();
    cfg.temperature_kelvin = 345; // above WCTEMP 343, below CCTEMP 358
    create(cfg);
    now += std::chrono::minutes(90);
    const auto s = smart();
    EXPECT_EQ(s.warning_temp_time, 90u);
    EXPECT_EQ(s.critical_comp_time, 0u);
    EXPECT_NE(s.critical_warning & nvme::critical_warning::temperature, 0);
}

// ---------------------------------------------------------------------------
// 03h Firmware Slot Information
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, FirmwareSlotLogOfAFreshDrive)
{
    const auto fw = get_log_as<nvme::FirmwareSlotLog>(lid(LogPageId::firmware_slot));
    EXPECT_EQ(nvme::afi::ActiveSlot::get(fw.afi), 1);
    EXPECT_EQ(nvme::afi::NextResetSlot::get(fw.afi), 0);
    EXPECT_EQ(std::string_view(fw.frs[0].data(), 8), "1.0.0   ");
    for (std::size_t i = 1; i < 7; ++i)
        EXPECT_EQ(fw.frs[i], (std::array<char, 8>{})) << "slot " << i + 1;
}

TEST_F(LogPagesTest, FirmwareSlotLogShowsPendingAndActivatedImages)
{
    install_firmware("2.0.0", 2, 1); // replace, activate at the next reset
    auto fw = get_log_as<nvme::FirmwareSlotLog>(lid(LogPageId::firmware_slot));
    EXPECT_EQ(nvme::afi::ActiveSlot::get(fw.afi), 1);
    EXPECT_EQ(nvme::afi::NextResetSlot::get(fw.afi), 2);
    EXPECT_EQ(std::string_view(fw.frs[1].data(), 8), "2.0.0   ");
    EXPECT_EQ(nvme::trimmed(identify_controller().fr), "1.0.0");

    install_firmware("3.1.4", 3, 3); // replace and activate now
    fw = get_log_as<nvme::FirmwareSlotLog>(lid(LogPageId::firmware_slot));
    EXPECT_EQ(nvme::afi::ActiveSlot::get(fw.afi), 3);
    EXPECT_EQ(std::string_view(fw.frs[2].data(), 8), "3.1.4   ");
    EXPECT_EQ(nvme::trimmed(identify_controller().fr), "3.1.4")
        << "Identify FR is the running slot's";
}

// ---------------------------------------------------------------------------
// 05h Commands Supported and Effects
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, EffectsLogDescribesSupportedCommands)
{
    namespace fx = nvme::command_effects;
    const auto log = get_log_as<nvme::CommandsSupportedEffectsLog>(
        lid(LogPageId::commands_supported_effects), 0);
    const auto admin_op = [&](nvme::AdminOpcode op) {
        return log.acs[static_cast<std::size_t>(op)];
    };
    const auto io_op = [&](nvme::NvmOpcode op) { return log.iocs[static_cast<std::size_t>(op)]; };
    EXPECT_EQ(admin_op(nvme::AdminOpcode::identify), fx::csupp);
    EXPECT_EQ(admin_op(nvme::AdminOpcode::get_log_page), fx::csupp);
    EXPECT_NE(admin_op(nvme::AdminOpcode::namespace_attachment) & fx::nic, 0u);
    const auto format = admin_op(nvme::AdminOpcode::format_nvm);
    EXPECT_NE(format & fx::csupp, 0u);
    EXPECT_NE(format & fx::lbcc, 0u);
    EXPECT_NE(format & fx::ncc, 0u);
    EXPECT_EQ(admin_op(nvme::AdminOpcode::security_send), 0u) << "unsupported";
    EXPECT_EQ(admin_op(nvme::AdminOpcode::sanitize), 0u);
    EXPECT_EQ(io_op(nvme::NvmOpcode::write), fx::csupp | fx::lbcc);
    EXPECT_EQ(io_op(nvme::NvmOpcode::read), fx::csupp);
    EXPECT_EQ(io_op(nvme::NvmOpcode::reservation_register), 0u);
    EXPECT_EQ(log.rsvd2048, (std::array<std::uint8_t, 2048>{}));
}

TEST_F(LogPagesTest, EffectsLogOfAnotherCommandSetIsInvalidField)
{
    Bytes b(4096);
    auto s = sqe(nvme::AdminOpcode::get_log_page, 0);
    nvme::cmd::get_log_page::Lid::set(s, lid(LogPageId::commands_supported_effects));
    nvme::cmd::get_log_page::set_num_dwords(s, 1024);
    nvme::cmd::get_log_page::Csi::set(s, 0x02);
    const Outcome o = admin(s, b);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 59) << "SQE byte 59: CSI";
}

// ---------------------------------------------------------------------------
// 06h Device Self-test
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, SelfTestLogOfAFreshDriveHasOnlyUnusedEntries)
{
    const auto log = get_log_as<nvme::DeviceSelfTestLog>(lid(LogPageId::device_self_test), 0);
    EXPECT_EQ(log.current_operation, 0);
    EXPECT_EQ(log.current_completion, 0);
    for (const auto& r : log.result)
        EXPECT_EQ(r.device_self_test_status, 0x0f) << "entry not used";
}

TEST_F(LogPagesTest, SelfTestLogShowsProgressThenTheResult)
{
    ASSERT_OK(self_test(1)); // short test: 2000 ms on the controller clock
    now += std::chrono::milliseconds(500);
    auto log = get_log_as<nvme::DeviceSelfTestLog>(lid(LogPageId::device_self_test), 0);
    EXPECT_EQ(log.current_operation, 1);
    EXPECT_EQ(log.current_completion, 25);
    EXPECT_EQ(log.result[0].device_self_test_status, 0x0f);

    now += std::chrono::seconds(2);
    log = get_log_as<nvme::DeviceSelfTestLog>(lid(LogPageId::device_self_test), 0);
    EXPECT_EQ(log.current_operation, 0);
    EXPECT_EQ(log.result[0].device_self_test_status, 0x10) << "short test, completed without error";
    EXPECT_EQ(log.result[1].device_self_test_status, 0x0f);

    ASSERT_OK(self_test(2));
    ASSERT_OK(self_test(0xf)); // abort
    log = get_log_as<nvme::DeviceSelfTestLog>(lid(LogPageId::device_self_test), 0);
    EXPECT_EQ(log.result[0].device_self_test_status, 0x21) << "extended, aborted by command";
    EXPECT_EQ(log.result[1].device_self_test_status, 0x10) << "older result moves down";
}

// ---------------------------------------------------------------------------
// 04h Changed Namespace List and RAE
// ---------------------------------------------------------------------------

TEST_F(LogPagesTest, ChangedNamespaceListIsClearedByAReadWithRaeZero)
{
    // Format NVM of ns1 changes its attributes.
    auto format = sqe(nvme::AdminOpcode::format_nvm, 1);
    nvme::cmd::format_nvm::set_lbaf_index(format, 4);
    ASSERT_OK(admin(format));

    Bytes b;
    ASSERT_OK(get_log(lid(LogPageId::changed_namespace_list), 0, b, 4096, 0, /*rae=*/true));
    auto list = as<nvme::ChangedNamespaceList>(b);
    EXPECT_EQ(list.nsid[0], 1u);
    EXPECT_EQ(list.nsid[1], 0u);
    ASSERT_OK(get_log(lid(LogPageId::changed_namespace_list), 0, b, 4096, 0, /*rae=*/false));
    EXPECT_EQ(as<nvme::ChangedNamespaceList>(b).nsid[0], 1u) << "RAE=1 kept it";
    ASSERT_OK(get_log(lid(LogPageId::changed_namespace_list), 0, b, 4096));
    EXPECT_TRUE(all_zero(b)) << "the RAE=0 read cleared it";
}

} // namespace
} // namespace nvmecuse::emu::testing
