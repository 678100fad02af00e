// Storage that fails safely: file-backed namespaces whose file system fills
// up, whose file is truncated under them or that hit RLIMIT_FSIZE answer
// with the NVMe status a real SSD gives (Capacity Exceeded), the process
// lives on and what was written before still reads back. RAM namespaces that
// the machine cannot hold are refused at start, as are transfer limits
// (MDTS) whose byte count does not fit.
#include <gmock/gmock.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "nvmecuse/transport/emu/config_check.hpp"
#include "nvmecuse/transport/emu/config_json.hpp"

#include "emu_fixture.hpp"
#include "transport/emu/storage_status.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::GenericStatus;
using nvme::NvmOpcode;
using nvme::Status;
using ::testing::HasSubstr;

constexpr std::uint64_t kib = 1ull << 10;
constexpr std::uint64_t mib = 1ull << 20;

const Status capacity_exceeded = Status(GenericStatus::capacity_exceeded).with_dnr();

bool all_zero(const Bytes& b)
{
    return std::ranges::all_of(b, [](std::byte x) { return x == std::byte{0}; });
}

/// A fresh directory, removed afterwards.
class TempDir {
public:
    TempDir()
    {
        std::string templ = ::testing::TempDir() + "emu_storage_test.XXXXXX";
        if (::mkdtemp(templ.data()) != nullptr) path_ = templ;
    }
    ~TempDir()
    {
        if (!path_.empty()) std::filesystem::remove_all(path_);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] std::string file(const char* name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

/// A 1 MiB tmpfs: the smallest file system that fills up for real. The
/// tests run as root; mounting is part of what they need, never skipped.
class TinyFileSystem {
public:
    TinyFileSystem()
    {
        if (dir_.path().empty()) {
            error_ = "mkdtemp failed";
            return;
        }
        if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) {
            error_ = std::string("mount -t tmpfs -o size=1m: ") + std::strerror(errno) +
                     " (the unit tests need root, or CAP_SYS_ADMIN)";
            return;
        }
        mounted_ = true;
    }
    ~TinyFileSystem()
    {
        if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
    }
    TinyFileSystem(const TinyFileSystem&) = delete;
    TinyFileSystem& operator=(const TinyFileSystem&) = delete;
    /// Empty when mounted, otherwise why not.
    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] std::string file(const char* name) const { return dir_.file(name); }

private:
    TempDir dir_;
    bool mounted_ = false;
    std::string error_;
};

class EmuStorageTest : public EmuTest {
protected:
    /// ns1: `size` bytes of `lbs`-byte blocks in `path`; ns2: 1 MiB of RAM.
    void create_file_backed(const std::string& path, std::uint64_t size, std::uint32_t lbs = 4096)
    {
        auto config = default_test_config();
        config.namespaces = {ns_config(1, size, lbs), ns_config(2, 1 * mib, 512)};
        config.namespaces[0].backing_file = path;
        create(config);
    }

    /// Writes 64 KiB chunks from block 0 on, chunk i filled with pattern i,
    /// until a write fails; returns the chunks written and the failure.
    std::pair<std::uint64_t, Outcome> fill(std::uint64_t chunks)
    {
        for (std::uint64_t i = 0; i < chunks; ++i) {
            Outcome o = write(1, i * chunk_blocks, pattern(chunk, static_cast<unsigned>(i)));
            if (!o.status.is_success()) return {i, o};
        }
        return {chunks, Outcome::success()};
    }

    /// Every chunk before `count` reads back as written.
    void expect_chunks_intact(std::uint64_t count)
    {
        for (std::uint64_t i = 0; i < count; ++i) {
            Bytes out;
            ASSERT_OK(read(1, i * chunk_blocks, chunk_blocks, out)) << "chunk " << i;
            ASSERT_EQ(out, pattern(chunk, static_cast<unsigned>(i))) << "chunk " << i;
        }
    }

    /// The other namespace (RAM) keeps serving.
    void expect_ram_namespace_serves()
    {
        const Bytes data = pattern(4 * 512, 99);
        ASSERT_OK(write(2, 7, data));
        Bytes out;
        ASSERT_OK(read(2, 7, 4, out));
        EXPECT_EQ(out, data);
    }

    static constexpr std::size_t chunk = 64 * kib;
    static constexpr std::uint32_t chunk_blocks = chunk / 4096;
};

// Before: the write into an unallocated page of the shared mapping raised
// SIGBUS and the test binary (the daemon) died.
TEST_F(EmuStorageTest, AFullFileSystemIsCapacityExceededAndEarlierDataSurvives)
{
    TinyFileSystem fs;
    ASSERT_EQ(fs.error(), "");
    // 8 MiB namespace, sparse, on 1 MiB of file system.
    create_file_backed(fs.file("ns1.img"), 8 * mib);
    const auto [written, failure] = fill(8 * mib / chunk);
    ASSERT_LT(written, 8 * mib / chunk) << "8 MiB fitted in a 1 MiB tmpfs";
    EXPECT_GT(written, 0u);
    EXPECT_STATUS(failure, capacity_exceeded);
    EXPECT_EQ(failure.error_lba, written * chunk_blocks);
    // Later writes fail the same way, one block too.
    EXPECT_STATUS(write(1, (written + 1) * chunk_blocks, pattern(4096, 1)), capacity_exceeded);
    // The failure is in the Error Information log, not a media error.
    const auto errors = get_log_as<nvme::ErrorInformationEntry>(0x01);
    EXPECT_EQ(nvme::to_string(nvme::Status::from_cqe_status(errors.status_field)),
              nvme::to_string(capacity_exceeded));
    EXPECT_EQ(errors.lba, (written + 1) * chunk_blocks);
    EXPECT_EQ(ctrl->health().media_errors.lo, 0u);

    expect_chunks_intact(written);
    expect_ram_namespace_serves();
    // A flush of what did fit succeeds.
    EXPECT_OK(io(sqe(NvmOpcode::flush, 1)));

    // Deallocating punches holes, which gives the space back: the write
    // that failed now succeeds, and the deallocated blocks read as zeroes.
    auto dsm = sqe(NvmOpcode::dataset_management, 1);
    nvme::cmd::dsm::Ad::set(dsm, 1);
    const nvme::DsmRange range{0, 2 * chunk_blocks, 0};
    Bytes ranges(sizeof range);
    std::memcpy(ranges.data(), &range, sizeof range);
    ASSERT_OK(io(dsm, ranges));
    ASSERT_OK(write(1, written * chunk_blocks, pattern(chunk, static_cast<unsigned>(written))));
    Bytes out;
    ASSERT_OK(read(1, 0, 2 * chunk_blocks, out));
    EXPECT_TRUE(all_zero(out));
    ASSERT_OK(read(1, written * chunk_blocks, chunk_blocks, out));
    EXPECT_EQ(out, pattern(chunk, static_cast<unsigned>(written)));
    // The holes fill up again: rewriting them fails once the space is gone.
    std::uint64_t rewritten = 0;
    Outcome again;
    for (std::uint64_t i = written + 1; i < 8 * mib / chunk; ++i, ++rewritten) {
        again = write(1, i * chunk_blocks, pattern(chunk, 7));
        if (!again.status.is_success()) break;
    }
    EXPECT_STATUS(again, capacity_exceeded);
    EXPECT_LE(rewritten, 2u);
}

TEST_F(EmuStorageTest, WriteZeroesIntoAFullFileSystemNeverKillsTheProcess)
{
    TinyFileSystem fs;
    ASSERT_EQ(fs.error(), "");
    create_file_backed(fs.file("ns1.img"), 8 * mib);
    const auto [written, failure] = fill(8 * mib / chunk);
    ASSERT_LT(written, 8 * mib / chunk);
    // Zeroing a written chunk frees it; zeroing part of a hole needs no space.
    auto wz = rw(NvmOpcode::write_zeroes, 1, 0, chunk_blocks);
    EXPECT_OK(io(wz));
    auto partial = rw(NvmOpcode::write_zeroes, 1, (written + 2) * chunk_blocks, 1);
    EXPECT_OK(io(partial));
    Bytes out;
    ASSERT_OK(read(1, 0, chunk_blocks, out));
    EXPECT_TRUE(all_zero(out));
    ASSERT_OK(read(1, (written + 2) * chunk_blocks, 1, out));
    EXPECT_TRUE(all_zero(out));
    for (std::uint64_t i = 1; i < written; ++i) {
        ASSERT_OK(read(1, i * chunk_blocks, chunk_blocks, out));
        ASSERT_EQ(out, pattern(chunk, static_cast<unsigned>(i))) << i;
    }
}

// Deallocating part of a page punches it too: the file system zeroes the
// partial block in place and allocates nothing, so it works on a full one.
TEST_F(EmuStorageTest, DeallocatingPartsOfPagesNeedsNoSpace)
{
    TinyFileSystem fs;
    ASSERT_EQ(fs.error(), "");
    create_file_backed(fs.file("ns1.img"), 8 * mib, 512);
    std::uint64_t written = 0;
    Outcome failure;
    for (; written < 8 * mib / chunk; ++written) {
        failure = write(1, written * 128, pattern(chunk, static_cast<unsigned>(written)));
        if (!failure.status.is_success()) break;
    }
    ASSERT_STATUS(failure, capacity_exceeded);
    ASSERT_GT(written, 0u);
    // One 512-byte block inside a written page, and one inside a hole.
    EXPECT_OK(io(rw(NvmOpcode::write_zeroes, 1, 3, 1)));
    EXPECT_OK(io(rw(NvmOpcode::write_zeroes, 1, (written + 3) * 128 + 1, 1)));
    Bytes out;
    ASSERT_OK(read(1, 0, 128, out));
    Bytes expected = pattern(chunk, 0);
    std::fill_n(expected.begin() + 3 * 512, 512, std::byte{0});
    EXPECT_EQ(out, expected);
    ASSERT_OK(read(1, (written + 3) * 128, 8, out));
    EXPECT_TRUE(all_zero(out));
}

// Before: reading a page of the mapping past the end of the truncated file
// raised SIGBUS.
TEST_F(EmuStorageTest, AnExternallyTruncatedFileReadsAsZeroesAndTakesWrites)
{
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    const auto path = dir.file("ns1.img");
    create_file_backed(path, 4 * mib);
    ASSERT_OK(write(1, 100, pattern(chunk, 3)));
    ASSERT_EQ(::truncate(path.c_str(), 0), 0);
    Bytes out;
    ASSERT_OK(read(1, 100, chunk_blocks, out));
    EXPECT_TRUE(all_zero(out));
    ASSERT_OK(write(1, 200, pattern(chunk, 4)));
    ASSERT_OK(read(1, 200, chunk_blocks, out));
    EXPECT_EQ(out, pattern(chunk, 4));
    // Compare and Write Zeroes work on what is left, too.
    Bytes same = pattern(chunk, 4);
    EXPECT_OK(io(rw(NvmOpcode::compare, 1, 200, chunk_blocks), same));
    EXPECT_OK(io(rw(NvmOpcode::write_zeroes, 1, 10, 4)));
}

TEST(EmuStorageStatus, ErrnosBecomeTheStatusesRealSsdsGive)
{
    const auto status = [](int err, StorageAccess access) {
        return nvme::to_string(storage_status({err, std::system_category()}, access));
    };
    const auto str = [](Status s) { return nvme::to_string(s); };
    using A = StorageAccess;
    for (int full : {ENOSPC, EDQUOT, EFBIG}) {
        EXPECT_EQ(status(full, A::write), str(capacity_exceeded)) << full;
        EXPECT_EQ(status(full, A::read), str(Status(GenericStatus::internal_error))) << full;
    }
    EXPECT_EQ(status(EIO, A::read), str(Status(nvme::MediaStatus::unrecovered_read_error)));
    EXPECT_EQ(status(EIO, A::write), str(Status(nvme::MediaStatus::write_fault)));
    EXPECT_EQ(status(EROFS, A::write), str(Status(nvme::MediaStatus::write_fault)));
    EXPECT_EQ(status(ENOMEM, A::read), str(Status(GenericStatus::internal_error)));
    // The values on the wire: SCT 2h SC 81h, SCT 2h SC 80h, SCT 0h SC 81h.
    EXPECT_EQ(Status(nvme::MediaStatus::unrecovered_read_error).to_field(), 0x0281);
    EXPECT_EQ(Status(nvme::MediaStatus::write_fault).to_field(), 0x0280);
    EXPECT_EQ(capacity_exceeded.to_field(), 0x4081);
}

/// Lowers RLIMIT_FSIZE and ignores SIGXFSZ (so writes past it fail with
/// EFBIG instead of killing the process) for the scope.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes)
    {
        ::getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lower = saved_;
        lower.rlim_cur = bytes;
        ok_ = ::setrlimit(RLIMIT_FSIZE, &lower) == 0;
    }
    ~FileSizeLimit()
    {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }

private:
    rlimit saved_{};
    void (*old_handler_)(int) = nullptr;
    bool ok_ = false;
};

TEST_F(EmuStorageTest, AFileSizeLimitIsCapacityExceeded)
{
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    // The file is 4 MiB from the start; a truncate makes it short again.
    const auto path = dir.file("ns1.img");
    create_file_backed(path, 4 * mib);
    ASSERT_EQ(::truncate(path.c_str(), 0), 0);
    ASSERT_OK(write(1, 0, pattern(chunk, 1)));
    FileSizeLimit limit(1 * mib);
    ASSERT_TRUE(limit.ok());
    EXPECT_STATUS(write(1, 2 * mib / 4096, pattern(chunk, 2)), capacity_exceeded);
    Bytes out;
    ASSERT_OK(read(1, 0, chunk_blocks, out));
    EXPECT_EQ(out, pattern(chunk, 1));
    expect_ram_namespace_serves();
}

// ---- RAM beyond the machine ----

TEST(EmuRamCapacity, RamNamespacesBeyondTheMachinesMemoryAreRefusedAtStart)
{
    const std::uint64_t memory = host_memory_bytes();
    ASSERT_GT(memory, 0u);
    ControllerConfig config;
    config.total_capacity_bytes = ~0ull;
    // Each alone fits; together they do not. A file-backed one does not count.
    const std::uint64_t each = (memory / 3 * 2) / 4096 * 4096;
    config.namespaces = {ns_config(1, each, 4096), ns_config(2, 2 * memory, 4096),
                         ns_config(3, each, 4096)};
    config.namespaces[1].backing_file = "/nonexistent/never-opened.img";
    const auto checked = check_controller_config(config, memory);
    ASSERT_FALSE(checked);
    EXPECT_THAT(checked.error(), HasSubstr("$.namespaces[2].size_bytes: RAM namespace 3 needs " +
                                           std::to_string(each) + " bytes"));
    EXPECT_THAT(checked.error(), HasSubstr(std::to_string(2 * each) + " bytes"));
    EXPECT_THAT(checked.error(), HasSubstr(std::to_string(memory) + " bytes"));

    auto made = EmulatedController::create(config);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), std::errc::not_enough_memory);

    // Without the third, it starts (the file-backed one is not opened here).
    config.namespaces.pop_back();
    config.namespaces.pop_back();
    EXPECT_TRUE(check_controller_config(config, memory));
    // Metadata is memory too: 64 bytes per 512-byte block is 1/8 more.
    config.namespaces = {ns_config(1, memory / 576 * 512, 512, 64)};
    EXPECT_TRUE(check_controller_config(config, memory));
    config.namespaces = {ns_config(1, (memory / 576 + 1) * 512, 512, 64)};
    EXPECT_FALSE(check_controller_config(config, memory));
}

TEST(EmuRamCapacity, TheDaemonsConfigFileIsCheckedAgainstThisMachine)
{
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    const std::uint64_t memory = host_memory_bytes();
    const auto path = dir.file("big.json");
    std::ofstream(path) << R"({"total_capacity_bytes": "15EiB", "namespaces": [)"
                        << R"({"nsid": 1, "size_bytes": )" << 2 * memory << "}]}";
    const auto config = load_controller_config(path);
    ASSERT_FALSE(config);
    EXPECT_THAT(config.error(), HasSubstr(path + ": $.namespaces[0].size_bytes: RAM namespace 1"));
    EXPECT_THAT(config.error(), HasSubstr(std::to_string(memory) + " bytes"));
    EXPECT_THAT(config.error(), HasSubstr("backing_file"));
}

TEST(EmuRamCapacity, TheDefaultConfigFitsAndAdvertisesWhatASmallMachineHolds)
{
    const ControllerConfig config;
    EXPECT_EQ(config.total_capacity_bytes, 4ull << 30);
    EXPECT_TRUE(check_controller_config(config, 2ull << 30));
    EXPECT_FALSE(check_controller_config(config, 512ull << 20));
}

/// The configs the project ships, parsed as the daemon reads them.
ControllerConfig shipped(const char* relative)
{
    const auto path = std::filesystem::path(__FILE__).parent_path() / "../.." / relative;
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto config = parse_controller_config(text);
    EXPECT_TRUE(config) << path << ": " << (config ? "" : config.error());
    return config ? *config : ControllerConfig{};
}

TEST(EmuRamCapacity, TheShippedConfigsFitTheMachinesTheyRunOn)
{
    // The guest of tests/vm/run has 2048 MiB (MemTotal a little less).
    const auto conformance = shipped("tests/vm/guest/conformance.json");
    ASSERT_EQ(conformance.namespaces.size(), 4u);
    EXPECT_TRUE(check_controller_config(conformance, 1800 * mib));
    // The documented example fits the guest too: README.md's commands start
    // the daemon on it there (vm.main-job).
    const auto example = shipped("docs/emulated-controller.json");
    ASSERT_EQ(example.namespaces.size(), 3u);
    const auto checked = check_controller_config(example, 1800 * mib);
    EXPECT_TRUE(checked) << checked.error();
}

// ---- configuration values that would overflow ----

TEST(EmuConfigLimits, MdtsPastWhatFitsIsRejectedNamingTheKey)
{
    // 4096 << 52 does not fit 64 bits.
    auto parsed = parse_controller_config(R"({"mdts": 52})");
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error(), "$.mdts: 52 is out of range (0..51)");
    parsed = parse_controller_config(R"({"mdts": 51})");
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->mdts, 51u);

    ControllerConfig config;
    config.mdts = 200;
    const auto checked = check_controller_config(config, host_memory_bytes());
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error(), "$.mdts: 200 is out of range (0..51)");
    auto made = EmulatedController::create(config);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error(), std::errc::invalid_argument);
}

TEST(EmuConfigLimits, NamespaceSizesAreCheckedWithoutOverflow)
{
    ControllerConfig config;
    config.total_capacity_bytes = ~0ull;
    // Data + metadata past what a file or a mapping can be; the sum would
    // also wrap 64 bits.
    config.namespaces = {ns_config(1, ~0ull / 512 * 512, 512, 64)};
    config.namespaces[0].backing_file = "/nonexistent/never-opened.img";
    auto checked = check_controller_config(config, 1ull << 30);
    ASSERT_FALSE(checked);
    EXPECT_THAT(checked.error(), HasSubstr("$.namespaces[0].size_bytes: "));
    EXPECT_THAT(checked.error(), HasSubstr("largest file or mapping"));
    // As RAM, the same namespace is refused, never wrapped to a small size.
    config.namespaces[0].backing_file.clear();
    EXPECT_EQ(ram_bytes(config.namespaces[0]), ~0ull);
    EXPECT_FALSE(check_controller_config(config, ~0ull));

    config.namespaces = {ns_config(1, 1000, 512)};
    checked = check_controller_config(config, 1ull << 30);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error(),
              "$.namespaces[0].size_bytes: 1000 is not a non-zero multiple of lba_data_size 512");

    config.namespaces = {ns_config(1, 1 * mib, 1024)};
    checked = check_controller_config(config, 1ull << 30);
    ASSERT_FALSE(checked);
    EXPECT_THAT(checked.error(),
                HasSubstr("$.namespaces[0]: lba_data_size 1024 with metadata_size 0 is not a "
                          "supported LBA format"));

    config.namespaces = {ns_config(1, 1 * mib), ns_config(1, 1 * mib)};
    checked = check_controller_config(config, 1ull << 30);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error(), "$.namespaces[1].nsid: 1 is given twice");
}

} // namespace
} // namespace nvmecuse::emu::testing
