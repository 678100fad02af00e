// Linux 6.2+ passthrough permissions end to end: a namespace node of an
// emulated controller, served under 6.2 rules to a caller without
// CAP_SYS_ADMIN, through file handles opened read-only and read-write (the
// open mode recorded at FUSE_OPEN), on the fast path and the retry path.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/device.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include "fake_cuse_kernel.hpp"

namespace nvmecuse::cuse {
namespace {

using testing::FakeCuseKernel;
namespace fx = nvme::command_effects;

/// Above PID_MAX_LIMIT: process_vm_* fail, the retry protocol serves.
constexpr pid_t no_such_pid = 0x7ffffff0;

std::uint64_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

class OpenMode : public ::testing::TestWithParam<pid_t> {
protected:
    void SetUp() override
    {
        emu::ControllerConfig config;
        emu::NamespaceConfig ns;
        ns.nsid = 1;
        ns.size_bytes = 16ull << 20;
        ns.lba_data_size = 512;
        config.namespaces = {ns};
        auto transport = emu::make_transport(config);
        ASSERT_TRUE(transport);
        auto c = ctrlr::Controller::start(std::move(*transport), {});
        ASSERT_TRUE(c) << c.error().message();
        controller_ = std::move(*c);

        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        DeviceOptions o;
        o.kind = NodeKind::namespace_node;
        o.nsid = 1;
        o.devname = "nvmecuse/nvme0n1";
        o.permissions.apply = false;
        o.kernel_rules = KernelRules::linux_6_2;
        o.credentials = [](pid_t pid) -> std::expected<CallerCredentials, std::error_code> {
            return CallerCredentials{pid, 0, true}; // no capability at all
        };
        auto d = Device::start(*controller_, std::move(o), sv[1]);
        ASSERT_TRUE(d) << d.error().message();
        device_ = std::move(*d);
        kernel_ = std::make_unique<FakeCuseKernel>(sv[0]);
        ASSERT_TRUE(kernel_->init());
        auto ro = kernel_->open(O_RDONLY);
        auto rw = kernel_->open(O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(ro && rw);
        read_only_ = *ro;
        read_write_ = *rw;
    }

    void TearDown() override
    {
        kernel_.reset();
        device_.reset();
        controller_.reset();
    }

    FakeCuseKernel::IoctlResult ioctl(std::uint64_t fh, unsigned cmd, void* arg)
    {
        FakeCuseKernel::IoctlOptions o;
        o.pid = GetParam();
        return kernel_->ioctl(fh, cmd, arg, o);
    }

    std::unique_ptr<ctrlr::Controller> controller_;
    std::unique_ptr<Device> device_;
    std::unique_ptr<FakeCuseKernel> kernel_;
    std::uint64_t read_only_ = 0;
    std::uint64_t read_write_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Path, OpenMode, ::testing::Values(pid_t{0}, no_such_pid),
                         [](const ::testing::TestParamInfo<pid_t>& i) {
                             return i.param == 0 ? std::string("FastPath") : std::string("RetryPath");
                         });

nvme_passthru_cmd64 rw_command(std::uint8_t opcode, std::vector<std::byte>& buf)
{
    nvme_passthru_cmd64 c{};
    c.opcode = opcode;
    c.nsid = 1;
    c.addr = addr(buf.data());
    c.data_len = static_cast<std::uint32_t>(buf.size());
    c.cdw10 = 8; // SLBA
    c.cdw12 = static_cast<std::uint32_t>(buf.size() / 512 - 1);
    return c;
}

TEST(OpenModeEffects, TheControllerReadsTheEffectsLogAtStart)
{
    auto transport = emu::make_transport({});
    ASSERT_TRUE(transport);
    auto c = ctrlr::Controller::start(std::move(*transport), {});
    ASSERT_TRUE(c);
    const auto info = (*c)->info();
    ASSERT_NE(info->effects, nullptr);
    // What the emulated controller reports, with Linux's known effects over it.
    EXPECT_EQ(info->effects->iocs[0x02], fx::csupp);             // Read
    EXPECT_EQ(info->effects->iocs[0x01], fx::csupp | fx::lbcc);  // Write
    EXPECT_EQ(info->effects->iocs[0x7f], 0u);
    EXPECT_NE(info->effects->acs[0x06] & fx::csupp, 0u);         // Identify
    EXPECT_NE(info->effects->acs[0x80] & fx::Cse::mask, 0u);     // Format NVM
}

TEST_P(OpenMode, ReadsOnAReadOnlyHandleWritesOnlyOnAWritableOne)
{
    std::vector<std::byte> out(4096, std::byte{0x5a});
    auto wr = rw_command(0x01, out);
    const auto denied = ioctl(read_only_, NVME_IOCTL_IO64_CMD, &wr);
    EXPECT_EQ(denied.ret, -1);
    EXPECT_EQ(denied.error, EACCES);
    const auto written = ioctl(read_write_, NVME_IOCTL_IO64_CMD, &wr);
    ASSERT_EQ(written.ret, 0) << written.error;

    std::vector<std::byte> in(4096);
    auto rd = rw_command(0x02, in);
    const auto read = ioctl(read_only_, NVME_IOCTL_IO64_CMD, &rd);
    ASSERT_EQ(read.ret, 0) << read.error;
    EXPECT_EQ(in, out);
}

TEST_P(OpenMode, AdminPassthroughOnlyIdentify)
{
    std::vector<std::byte> buf(4096);
    nvme_passthru_cmd id{};
    id.opcode = 0x06;
    id.addr = addr(buf.data());
    id.data_len = 4096;
    id.cdw10 = 1; // Identify Controller
    EXPECT_EQ(ioctl(read_only_, NVME_IOCTL_ADMIN_CMD, &id).ret, 0);
    id.cdw10 = 2; // Active Namespace ID list: not for unprivileged callers
    EXPECT_EQ(ioctl(read_write_, NVME_IOCTL_ADMIN_CMD, &id).error, EACCES);
    nvme_passthru_cmd log{};
    log.opcode = 0x02; // Get Log Page (SMART)
    log.addr = addr(buf.data());
    log.data_len = 512;
    log.cdw10 = 0x02 | (127u << 16);
    EXPECT_EQ(ioctl(read_write_, NVME_IOCTL_ADMIN_CMD, &log).error, EACCES);
}

TEST_P(OpenMode, FlushChangesBlocksSoNeedsWritingAndResetNeedsTheCapability)
{
    nvme_passthru_cmd flush{};
    flush.opcode = 0x00;
    flush.nsid = 1;
    EXPECT_EQ(ioctl(read_only_, NVME_IOCTL_IO_CMD, &flush).error, EACCES); // LBCC in the log
    EXPECT_EQ(ioctl(read_write_, NVME_IOCTL_IO_CMD, &flush).ret, 0);
    flush.flags = 1;
    EXPECT_EQ(ioctl(read_only_, NVME_IOCTL_IO_CMD, &flush).error, EINVAL); // before permission
    // Vendor specific: refused whatever the handle.
    nvme_passthru_cmd vendor{};
    vendor.opcode = 0xc0;
    vendor.nsid = 1;
    EXPECT_EQ(ioctl(read_write_, NVME_IOCTL_IO_CMD, &vendor).error, EACCES);
}

// nvme_submit_io() runs nvme_cmd_allowed() on the command it built (6.12):
// a write through a read-only handle is refused, a read is not, and a
// malformed struct is still EINVAL first.
TEST_P(OpenMode, SubmitIoWritesNeedAWritableHandle)
{
    std::vector<std::byte> out(512, std::byte{0x3c});
    nvme_user_io io{};
    io.opcode = 0x01; // Write
    io.addr = addr(out.data());
    io.slba = 4;
    io.nblocks = 0; // one block
    const auto denied = ioctl(read_only_, NVME_IOCTL_SUBMIT_IO, &io);
    EXPECT_EQ(denied.ret, -1);
    EXPECT_EQ(denied.error, EACCES);
    const auto written = ioctl(read_write_, NVME_IOCTL_SUBMIT_IO, &io);
    ASSERT_EQ(written.ret, 0) << written.error;

    std::vector<std::byte> in(512);
    io.opcode = 0x02; // Read
    io.addr = addr(in.data());
    const auto read = ioctl(read_only_, NVME_IOCTL_SUBMIT_IO, &io);
    ASSERT_EQ(read.ret, 0) << read.error;
    EXPECT_EQ(in, out);

    io.opcode = 0x01;
    io.flags = 1;
    EXPECT_EQ(ioctl(read_only_, NVME_IOCTL_SUBMIT_IO, &io).error, EINVAL); // before permission
}

} // namespace
} // namespace nvmecuse::cuse
