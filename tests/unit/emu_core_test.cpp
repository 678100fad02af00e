// The emulated controller's core: configuration checks, opcode dispatch, the
// Error Information log, SMART accounting, reset, namespace identifiers and
// the sparse RAM / persistent file storage behind namespaces.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "nvmecuse/transport/emu/config_check.hpp"

#include "emu_fixture.hpp"
#include "transport/emu/command_table.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::AdminOpcode;
using nvme::GenericStatus;
using nvme::NvmOpcode;
using nvme::Status;

constexpr auto invalid_opcode = Status(GenericStatus::invalid_opcode).with_dnr();

// ---- configuration ----

TEST(EmuConfigTest, DefaultConfigIsValid)
{
    auto made = EmulatedController::create(ControllerConfig{});
    ASSERT_TRUE(made.has_value());
    const auto& ns = (*made)->namespaces().at(1);
    EXPECT_EQ(ns.nsze, (1ull << 30) / 512);
    EXPECT_EQ(ns.lba_data_size(), 512u);
    EXPECT_EQ(ns.metadata_size(), 0);
    EXPECT_TRUE(ns.attached);
}

TEST(EmuConfigTest, InconsistentConfigsAreRejectedWithInvalidArgument)
{
    const std::vector<std::pair<const char*, std::function<void(ControllerConfig&)>>> broken{
        {"duplicate nsid", [](auto& c) { c.namespaces[1].nsid = 1; }},
        {"nsid 0", [](auto& c) { c.namespaces[0].nsid = 0; }},
        {"nsid above max_namespaces", [](auto& c) { c.namespaces[0].nsid = 9; }},
        {"unsupported block size", [](auto& c) { c.namespaces[0].lba_data_size = 1024; }},
        {"unsupported metadata size", [](auto& c) { c.namespaces[0].metadata_size = 4; }},
        {"size not a multiple of the block", [](auto& c) { c.namespaces[1].size_bytes += 512; }},
        {"size zero", [](auto& c) { c.namespaces[0].size_bytes = 0; }},
        {"capacity exceeded", [](auto& c) { c.namespaces[0].size_bytes = 1ull << 30; }},
        {"model too long", [](auto& c) { c.model = std::string(41, 'm'); }},
        {"serial too long", [](auto& c) { c.serial = std::string(21, 's'); }},
        {"serial empty", [](auto& c) { c.serial.clear(); }},
        {"firmware too long", [](auto& c) { c.firmware = "123456789"; }},
        {"no namespaces allowed", [](auto& c) { c.max_namespaces = 0; }},
        {"queue of one entry", [](auto& c) { c.max_queue_entries = 1; }},
        {"no I/O queues", [](auto& c) { c.max_io_queues = 0; }},
        {"eight firmware slots", [](auto& c) { c.firmware_slots = 8; }},
    };
    for (const auto& [what, mutate] : broken) {
        auto config = default_test_config();
        mutate(config);
        auto made = EmulatedController::create(config);
        ASSERT_FALSE(made.has_value()) << what;
        EXPECT_EQ(made.error(), std::make_error_code(std::errc::invalid_argument)) << what;
    }
}

TEST(EmuConfigTest, ExactlyFullCapacityIsAccepted)
{
    auto config = default_test_config();
    config.namespaces = {ns_config(1, (1ull << 30) - (16ull << 20)),
                         ns_config(2, 16ull << 20, 4096, 8)};
    EXPECT_TRUE(EmulatedController::create(config).has_value());
}

TEST(EmuConfigTest, UnopenableBackingFileReportsTheErrno)
{
    auto config = default_test_config();
    config.namespaces[0].backing_file = "/nonexistent-dir-for-nvmecuse/ns1.img";
    auto made = EmulatedController::create(config);
    ASSERT_FALSE(made.has_value());
    EXPECT_EQ(made.error(), std::errc::no_such_file_or_directory);
}

TEST(EmuConfigTest, LbaFormatLookup)
{
    EXPECT_EQ(EmulatedController::find_lba_format(512, 0), std::optional<std::uint8_t>(0));
    EXPECT_EQ(EmulatedController::find_lba_format(4096, 8), std::optional<std::uint8_t>(5));
    EXPECT_EQ(EmulatedController::find_lba_format(4096, 64), std::optional<std::uint8_t>(7));
    EXPECT_FALSE(EmulatedController::find_lba_format(2048, 0));
    EXPECT_FALSE(EmulatedController::find_lba_format(512, 32));
}

// ---- dispatch ----

using EmuCoreTest = EmuTest;

TEST_F(EmuCoreTest, UnsupportedAdminOpcodesAreInvalidCommandOpcode)
{
    // Queue creation/deletion is the transport's business, never passthrough.
    for (unsigned opc : {0x00u, 0x01u, 0x04u, 0x05u, 0x19u, 0x1au, 0x7cu, 0x7fu, 0x81u, 0x82u,
                         0x84u, 0x86u, 0xc0u, 0xffu}) {
        nvme::SubmissionQueueEntry s{};
        s.opc = static_cast<std::uint8_t>(opc);
        const auto o = admin(s);
        EXPECT_STATUS(o, invalid_opcode) << int(opc);
        EXPECT_EQ(o.error_location, 0) << int(opc);
    }
}

TEST_F(EmuCoreTest, FusedAdminCommandsAreRefused)
{
    auto s = sqe(AdminOpcode::keep_alive);
    s.flags = 2; // second command of a fused operation
    EXPECT_STATUS(admin(s), Status(GenericStatus::invalid_field).with_dnr());
}

TEST_F(EmuCoreTest, TheCommandTableAnswersDispatchAndTheEffectsLog)
{
    namespace fx = nvme::command_effects;
    nvme::CommandsSupportedEffectsLog log;
    std::memset(&log, 0xff, sizeof log);
    fill_effects_log(log);
    auto acs = [&](AdminOpcode op) { return log.acs[static_cast<std::uint8_t>(op)]; };
    auto iocs = [&](NvmOpcode op) { return log.iocs[static_cast<std::uint8_t>(op)]; };
    EXPECT_EQ(acs(AdminOpcode::identify), fx::csupp);
    EXPECT_EQ(acs(AdminOpcode::create_io_sq), 0u);
    EXPECT_EQ(acs(AdminOpcode::sanitize), 0u);
    EXPECT_EQ(acs(AdminOpcode::format_nvm) & (fx::csupp | fx::lbcc | fx::ncc),
              fx::csupp | fx::lbcc | fx::ncc);
    EXPECT_NE(acs(AdminOpcode::namespace_attachment) & fx::nic, 0u);
    EXPECT_NE(acs(AdminOpcode::namespace_management) & fx::nic, 0u);
    EXPECT_EQ(iocs(NvmOpcode::read), fx::csupp);
    EXPECT_EQ(iocs(NvmOpcode::write), fx::csupp | fx::lbcc);
    EXPECT_EQ(iocs(NvmOpcode::dataset_management), fx::csupp | fx::lbcc);
    EXPECT_EQ(iocs(NvmOpcode::copy), 0u);
    EXPECT_TRUE(
        std::all_of(log.rsvd2048.begin(), log.rsvd2048.end(), [](auto b) { return b == 0; }));
    // Every opcode the log calls supported is dispatched, and no other.
    for (unsigned opc = 0; opc < 256; ++opc) {
        EXPECT_EQ(CommandTable::admin(static_cast<std::uint8_t>(opc)) != nullptr, log.acs[opc] != 0)
            << opc;
        EXPECT_EQ(CommandTable::io(static_cast<std::uint8_t>(opc)) != nullptr, log.iocs[opc] != 0)
            << opc;
    }
    // And Get Log Page 05h returns the same.
    const auto page = get_log_as<nvme::CommandsSupportedEffectsLog>(0x05, 0);
    EXPECT_EQ(page.acs, log.acs);
    EXPECT_EQ(page.iocs, log.iocs);
}

// ---- Error Information log ----

TEST_F(EmuCoreTest, FailedCommandsAreRecordedInTheErrorLogNewestFirst)
{
    nvme::SubmissionQueueEntry bad{};
    bad.opc = 0xc3;
    const std::uint16_t first_cid = next_cid;
    ASSERT_STATUS(admin(bad), invalid_opcode);
    Bytes buf(512);
    const std::uint16_t second_cid = next_cid;
    const auto out = io(rw(NvmOpcode::read, 1, 1ull << 40, 1), buf);
    ASSERT_STATUS(out, Status(GenericStatus::lba_out_of_range).with_dnr());
    ASSERT_OK(admin(sqe(AdminOpcode::keep_alive))); // successes are not logged

    Bytes log;
    ASSERT_OK(get_log(0x01, 0, log, 3 * sizeof(nvme::ErrorInformationEntry)));
    nvme::ErrorInformationEntry e[3];
    std::memcpy(e, log.data(), sizeof e);
    EXPECT_EQ(e[0].error_count, 2u);
    EXPECT_EQ(e[0].sqid, 1);
    EXPECT_EQ(e[0].cmdid, second_cid);
    EXPECT_EQ(Status::from_cqe_status(e[0].status_field),
              Status(GenericStatus::lba_out_of_range).with_dnr());
    EXPECT_EQ(e[0].parm_error_location, 40);
    EXPECT_EQ(e[0].lba, 1ull << 40);
    EXPECT_EQ(e[0].nsid, 1u);
    EXPECT_EQ(e[1].error_count, 1u);
    EXPECT_EQ(e[1].sqid, 0);
    EXPECT_EQ(e[1].cmdid, first_cid);
    EXPECT_EQ(Status::from_cqe_status(e[1].status_field), invalid_opcode);
    EXPECT_EQ(e[2].error_count, 0u); // unused entries are zero

    const auto smart = get_log_as<nvme::SmartHealthLog>(0x02);
    EXPECT_EQ(smart.num_err_log_entries.lo, 2u);
}

TEST_F(EmuCoreTest, ErrorLogKeepsTheNewest64Entries)
{
    nvme::SubmissionQueueEntry bad{};
    bad.opc = 0xc3;
    for (int i = 0; i < 70; ++i)
        ASSERT_STATUS(admin(bad), invalid_opcode);
    Bytes log;
    ASSERT_OK(get_log(0x01, 0, log, 64 * sizeof(nvme::ErrorInformationEntry)));
    nvme::ErrorInformationEntry first, last;
    std::memcpy(&first, log.data(), sizeof first);
    std::memcpy(&last, log.data() + 63 * sizeof last, sizeof last);
    EXPECT_EQ(first.error_count, 70u);
    EXPECT_EQ(last.error_count, 7u);
}

// ---- SMART / Health accounting ----

TEST_F(EmuCoreTest, ReadsAndWritesAreCountedLikeARealDrive)
{
    const auto& h = ctrl->health();
    EXPECT_EQ(h.power_cycles.lo, 1u); // this power-on
    EXPECT_EQ(h.host_read_commands.lo, 0u);

    Bytes out;
    ASSERT_OK(read(1, 0, 1, out));
    EXPECT_EQ(h.host_read_commands.lo, 1u);
    EXPECT_EQ(h.data_units_read.lo, 1u); // 1 unit of 512 bytes, rounded up to one thousand

    // 1000 units of 512 bytes written = exactly 1; one more byte-unit = 2.
    ASSERT_OK(write(1, 0, Bytes(1000 * 512)));
    EXPECT_EQ(h.host_write_commands.lo, 1u);
    EXPECT_EQ(h.data_units_written.lo, 1u);
    ASSERT_OK(write(1, 0, Bytes(512)));
    EXPECT_EQ(h.data_units_written.lo, 2u);
    EXPECT_EQ(h.bytes_written, 1001u * 512);

    // Compare and Verify are read commands; Write Zeroes and Write
    // Uncorrectable are write commands that move no data.
    ASSERT_OK(io(rw(NvmOpcode::compare, 1, 0, 1), out));
    ASSERT_OK(io(rw(NvmOpcode::verify, 1, 0, 8)));
    EXPECT_EQ(h.host_read_commands.lo, 3u);
    ASSERT_OK(io(rw(NvmOpcode::write_zeroes, 1, 0, 8)));
    ASSERT_OK(io(rw(NvmOpcode::write_uncorrectable, 1, 100, 1)));
    EXPECT_EQ(h.host_write_commands.lo, 4u);
    EXPECT_EQ(h.bytes_written, 1001u * 512);

    // Flush and Dataset Management are neither; failed commands do not count.
    ASSERT_OK(io(sqe(NvmOpcode::flush, 1)));
    ASSERT_STATUS(read(1, 1ull << 40, 1, out), Status(GenericStatus::lba_out_of_range).with_dnr());
    EXPECT_EQ(h.host_read_commands.lo, 3u);
    EXPECT_EQ(h.host_write_commands.lo, 4u);

    const auto smart = get_log_as<nvme::SmartHealthLog>(0x02);
    EXPECT_EQ(smart.host_read_commands.lo, 3u);
    EXPECT_EQ(smart.data_units_written.lo, 2u);
    EXPECT_EQ(smart.power_cycles.lo, 1u);
}

TEST_F(EmuCoreTest, PowerOnHoursCountFromCreation)
{
    EXPECT_EQ(get_log_as<nvme::SmartHealthLog>(0x02).power_on_hours.lo, 0u);
    now += std::chrono::minutes(5 * 60 + 59);
    EXPECT_EQ(get_log_as<nvme::SmartHealthLog>(0x02).power_on_hours.lo, 5u);
}

// ---- reset ----

TEST_F(EmuCoreTest, ControllerResetKeepsDataCountersAndLogs)
{
    const Bytes data = pattern(512, 3);
    ASSERT_OK(write(1, 9, data));
    nvme::SubmissionQueueEntry bad{};
    bad.opc = 0xc3;
    ASSERT_STATUS(admin(bad), invalid_opcode);
    ctrl->controller_reset();
    EXPECT_EQ(ctrl->granted_io_queues(), 0);
    Bytes out;
    ASSERT_OK(read(1, 9, 1, out));
    EXPECT_EQ(out, data);
    EXPECT_EQ(ctrl->health().host_write_commands.lo, 1u);
    EXPECT_EQ(get_log_as<nvme::SmartHealthLog>(0x02).num_err_log_entries.lo, 1u);
}

// ---- namespace identifiers ----

TEST_F(EmuCoreTest, NamespaceIdentifiersAreStableAndDistinct)
{
    const auto& a = ctrl->namespaces().at(1);
    const auto& b = ctrl->namespaces().at(2);
    EXPECT_NE(a.nguid, b.nguid);
    EXPECT_NE(a.eui64, b.eui64);
    EXPECT_NE(a.uuid, b.uuid);
    EXPECT_NE(a.nguid, decltype(a.nguid){});
    // EUI-64 starts with the IEEE OUI; the UUID is RFC 4122 version 4.
    EXPECT_EQ(a.eui64[0], 0x52);
    EXPECT_EQ(a.eui64[1], 0x54);
    EXPECT_EQ(a.eui64[2], 0x00);
    EXPECT_EQ(a.uuid[6] >> 4, 4);
    EXPECT_EQ(a.uuid[8] >> 6, 2);

    const auto nguid = a.nguid;
    const auto uuid = a.uuid;
    create(default_test_config()); // the same drive again
    EXPECT_EQ(ctrl->namespaces().at(1).nguid, nguid);
    EXPECT_EQ(ctrl->namespaces().at(1).uuid, uuid);
    auto other = default_test_config();
    other.serial = "NVC0000000002";
    create(other);
    EXPECT_NE(ctrl->namespaces().at(1).nguid, nguid);
}

// ---- storage ----

std::size_t resident_bytes()
{
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST_F(EmuCoreTest, RamNamespacesAreSparse)
{
    // As large as the machine allows (half its memory), yet nothing is
    // resident until written.
    const std::uint64_t size = host_memory_bytes() / 2 / 4096 * 4096;
    ASSERT_GT(size, 64ull << 20) << "host_memory_bytes() = " << host_memory_bytes();
    ControllerConfig config;
    config.total_capacity_bytes = size;
    config.namespaces = {ns_config(1, size, 4096)};
    const auto before = resident_bytes();
    create(config);
    const std::uint64_t last = size / 4096 - 1;
    const Bytes data = pattern(4096, 8);
    ASSERT_OK(write(1, last, data));
    ASSERT_OK(write(1, last / 2, data));
    Bytes out;
    ASSERT_OK(read(1, last, 1, out));
    EXPECT_EQ(out, data);
    ASSERT_OK(read(1, 12345, 1, out));
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_LT(resident_bytes() - std::min(before, resident_bytes()), std::size_t{32} << 20);
}

class TempDir {
public:
    TempDir()
    {
        std::string templ = ::testing::TempDir() + "emu_core_test.XXXXXX";
        path_ = ::mkdtemp(templ.data());
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    [[nodiscard]] std::string file(const char* name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

TEST_F(EmuCoreTest, FileBackedNamespacesSurviveARestart)
{
    TempDir dir;
    auto config = default_test_config();
    config.namespaces[0].backing_file = dir.file("ns1.img");
    config.namespaces[1].backing_file = dir.file("ns2.img");
    create(config);
    const Bytes data = pattern(4 * 512, 9), data2 = pattern(4096, 10), md2 = pattern(8, 11);
    ASSERT_OK(write(1, 77, data));
    ASSERT_OK(write(2, 5, data2, md2));
    ctrl.reset();

    // The file holds data then metadata, and stays sparse.
    struct stat st {};
    ASSERT_EQ(::stat(dir.file("ns2.img").c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), (16ull << 20) + (16ull << 20) / 4096 * 8);
    EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, std::uint64_t{1} << 20);

    create(config);
    Bytes out, md;
    ASSERT_OK(read(1, 77, 4, out));
    EXPECT_EQ(out, data);
    ASSERT_OK(read(2, 5, 1, out, &md));
    EXPECT_EQ(out, data2);
    EXPECT_EQ(md, md2);
    // Deallocation reaches the file too.
    auto dsm = sqe(NvmOpcode::dataset_management, 1);
    nvme::cmd::dsm::Ad::set(dsm, 1);
    nvme::DsmRange range{0, 4, 77};
    Bytes buf(sizeof range);
    std::memcpy(buf.data(), &range, sizeof range);
    ASSERT_OK(io(dsm, buf));
    ASSERT_OK(io(sqe(NvmOpcode::flush, nvme::nsid_all)));
    ctrl.reset();
    create(config);
    ASSERT_OK(read(1, 77, 4, out));
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0}; }));
}

TEST(NamespaceStorageTest, DiscardZeroesExactlyTheRange)
{
    using Region = NamespaceStorage::Region;
    for (bool file : {false, true}) {
        SCOPED_TRACE(file ? "file" : "ram");
        TempDir dir;
        constexpr std::uint64_t size = 64 * 1024, md_size = 1024;
        auto made = file ? NamespaceStorage::open_file(dir.file("s.img"), size, md_size)
                         : NamespaceStorage::create_ram(size, md_size);
        ASSERT_TRUE(made.has_value());
        auto& s = **made;
        EXPECT_EQ(s.file_backed(), file);
        ASSERT_EQ(s.data_bytes(), size);
        ASSERT_EQ(s.metadata_bytes(), md_size);
        Bytes data(size, std::byte{0xab}), md(md_size, std::byte{0xcd});
        ASSERT_FALSE(s.write(Region::data, 0, data));
        ASSERT_FALSE(s.write(Region::metadata, 0, md));
        // Partial page at both edges, two whole pages in between.
        ASSERT_FALSE(s.discard(Region::data, 4096 - 100, 2 * 4096 + 200));
        ASSERT_FALSE(s.read(Region::data, 0, data));
        for (std::uint64_t i = 0; i < size; ++i) {
            const bool zeroed = i >= 4096 - 100 && i < 3 * 4096 + 100;
            ASSERT_EQ(data[i], zeroed ? std::byte{0} : std::byte{0xab}) << i;
        }
        ASSERT_FALSE(s.discard(Region::metadata, 8, 16));
        ASSERT_FALSE(s.read(Region::metadata, 0, md));
        EXPECT_EQ(md[7], std::byte{0xcd});
        EXPECT_EQ(md[8], std::byte{0});
        EXPECT_EQ(md[23], std::byte{0});
        EXPECT_EQ(md[24], std::byte{0xcd});
        EXPECT_FALSE(s.flush());
        ASSERT_FALSE(s.erase_all());
        ASSERT_FALSE(s.read(Region::data, 0, data));
        ASSERT_FALSE(s.read(Region::metadata, 0, md));
        EXPECT_TRUE(
            std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; }));
        EXPECT_TRUE(
            std::all_of(md.begin(), md.end(), [](std::byte b) { return b == std::byte{0}; }));
        // Ranges that leave a region are refused, not clipped.
        EXPECT_EQ(s.discard(Region::metadata, md_size - 8, 16), std::errc::invalid_argument);
        EXPECT_EQ(s.read(Region::data, size - 8, std::span(data).first(16)),
                  std::errc::invalid_argument);
    }
}

TEST(NamespaceStorageTest, AnExistingLargerFileIsNotTruncated)
{
    TempDir dir;
    const auto path = dir.file("big.img");
    {
        std::ofstream f(path);
    }
    ASSERT_EQ(::truncate(path.c_str(), 1 << 20), 0);
    auto made = NamespaceStorage::open_file(path, 4096, 0);
    ASSERT_TRUE(made.has_value());
    EXPECT_EQ(std::filesystem::file_size(path), 1u << 20);
}

// Controller Busy Time is sampled with a coarse clock (cheap per command,
// unbiased over many): enough I/O makes it grow, admin commands never do.
TEST_F(EmuCoreTest, BusyTimeGrowsWithIoOnly)
{
    const auto& h = ctrl->health();
    for (int i = 0; i < 2000; ++i) (void)identify_controller();
    EXPECT_EQ(h.busy.count(), 0);

    const auto data = pattern(256 * 1024, 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (h.busy.count() == 0 && std::chrono::steady_clock::now() < deadline)
        ASSERT_OK(write(1, 0, data));
    EXPECT_GT(h.busy.count(), 0);
    EXPECT_EQ(h.controller_busy_time.lo,
              static_cast<std::uint64_t>(
                  std::chrono::duration_cast<std::chrono::minutes>(h.busy).count()));
}

} // namespace
} // namespace nvmecuse::emu::testing
