// Routing, permissions and credentials of the CUSE nodes (kernel 6.1
// nvme_dev_ioctl / nvme_ns_chr_ioctl rules).
#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "nvmecuse/cuse/credentials.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"
#include "nvmecuse/cuse/retry.hpp"

namespace nvmecuse::cuse {
namespace {

NamespaceShape shape(std::uint32_t nsid)
{
    return {nsid, 4096, 0, false, std::uint64_t{1} << 30};
}
NodeView controller(std::size_t active)
{
    NodeView v{NodeKind::controller, std::nullopt, active};
    if (active == 1) v.ns = shape(7);
    return v;
}
NodeView namespace_node(std::uint32_t m) { return {NodeKind::namespace_node, shape(m), 0}; }

struct Row {
    unsigned int cmd;
    std::expected<IoctlOp, int> expect;
    bool sys_admin = false;
    bool bound = false; ///< bound to the node's namespace
};

using enum IoctlOp;

void check_rows(const NodeView& node, std::span<const Row> rows)
{
    for (const auto& row : rows) {
        SCOPED_TRACE(::testing::Message() << "cmd 0x" << std::hex << row.cmd);
        const auto route = classify(row.cmd, node);
        ASSERT_EQ(route.has_value(), row.expect.has_value());
        if (!route) {
            EXPECT_EQ(route.error(), row.expect.error());
            continue;
        }
        EXPECT_EQ(route->op, *row.expect);
        EXPECT_EQ(route->needs_sys_admin, row.sys_admin);
        EXPECT_EQ(route->ns.has_value(), row.bound);
        if (route->ns) {
            EXPECT_EQ(route->ns->nsid, node.ns->nsid);
        }
        EXPECT_EQ(check_permission(*route, false), row.sys_admin ? EACCES : 0);
        EXPECT_EQ(check_permission(*route, true), 0);
    }
}

TEST(CuseIoctlAbi, ControllerNodeWithOneNamespace)
{
    const Row rows[] = {
        {NVME_IOCTL_ADMIN_CMD, admin_passthru, true, false},
        {NVME_IOCTL_ADMIN64_CMD, admin64_passthru, true, false},
        {NVME_IOCTL_IO_CMD, io_passthru, true, true},
        {NVME_IOCTL_RESET, reset, true, false},
        {NVME_IOCTL_SUBSYS_RESET, subsystem_reset, true, false},
        {NVME_IOCTL_RESCAN, rescan, true, false},
        {NVME_IOCTL_ID, std::unexpected(ENOTTY)},
        {NVME_IOCTL_SUBMIT_IO, std::unexpected(ENOTTY)},
        {NVME_IOCTL_IO64_CMD, std::unexpected(ENOTTY)},
        {NVME_IOCTL_IO64_CMD_VEC, std::unexpected(ENOTTY)},
        {BLKGETSIZE64, std::unexpected(ENOTTY)},
        {BLKGETSIZE, std::unexpected(ENOTTY)},
        {BLKSSZGET, std::unexpected(ENOTTY)},
        {BLKPBSZGET, std::unexpected(ENOTTY)},
        {0x1234u, std::unexpected(ENOTTY)},
        {NVME_URING_CMD_IO, std::unexpected(ENOTTY)},
    };
    check_rows(controller(1), rows);
}

TEST(CuseIoctlAbi, ControllerNodeIoCmdDependsOnNamespaceCount)
{
    EXPECT_EQ(classify(NVME_IOCTL_IO_CMD, controller(0)).error(), ENOTTY);
    EXPECT_EQ(classify(NVME_IOCTL_IO_CMD, controller(3)).error(), EINVAL);
    // The count is checked before capable(): an unprivileged caller sees
    // ENOTTY/EINVAL, not EACCES (nvme_dev_user_cmd -> nvme_user_cmd).
    for (auto [active, err] : {std::pair{0uz, ENOTTY}, std::pair{3uz, EINVAL}, std::pair{1uz, EACCES}}) {
        const IoctlContext ctx{controller(active), false};
        const auto step = advance(ctx, {NVME_IOCTL_IO_CMD, 0x1000, fuse_ioctl_unrestricted, {}, 0});
        ASSERT_TRUE(std::holds_alternative<Error>(step));
        EXPECT_EQ(std::get<Error>(step).errno_value, err);
    }
    // Admin commands do not care about namespaces.
    EXPECT_TRUE(classify(NVME_IOCTL_ADMIN_CMD, controller(0)).has_value());
}

TEST(CuseIoctlAbi, NamespaceNode)
{
    const Row rows[] = {
        {NVME_IOCTL_ADMIN_CMD, admin_passthru, true, false},
        {NVME_IOCTL_ADMIN64_CMD, admin64_passthru, true, false},
        {NVME_IOCTL_IO_CMD, io_passthru, true, true},
        {NVME_IOCTL_IO64_CMD, io64_passthru, true, true},
        {NVME_IOCTL_IO64_CMD_VEC, io64_vec_passthru, true, true},
        {NVME_IOCTL_SUBMIT_IO, submit_io, false, true},
        {NVME_IOCTL_ID, namespace_id, false, true},
        {BLKGETSIZE64, blk_get_size64, false, true},
        {BLKGETSIZE, blk_get_size, false, true},
        {BLKSSZGET, blk_sector_size, false, true},
        {BLKPBSZGET, blk_physical_size, false, true},
        {NVME_IOCTL_RESET, std::unexpected(ENOTTY)},
        {NVME_IOCTL_SUBSYS_RESET, std::unexpected(ENOTTY)},
        {NVME_IOCTL_RESCAN, std::unexpected(ENOTTY)},
        {0xdeadbeefu, std::unexpected(ENOTTY)},
        {BLKFLSBUF, std::unexpected(ENOTTY)},
    };
    check_rows(namespace_node(3), rows);
}

TEST(CuseIoctlAbi, RoutesPickTheQueueAndArgument)
{
    const auto admin = classify(NVME_IOCTL_ADMIN64_CMD, namespace_node(3));
    EXPECT_EQ(admin->queue, ctrlr::QueueKind::admin);
    EXPECT_EQ(admin->arg, ArgKind::passthru64);
    const auto io = classify(NVME_IOCTL_IO_CMD, namespace_node(3));
    EXPECT_EQ(io->queue, ctrlr::QueueKind::io);
    EXPECT_EQ(io->arg, ArgKind::passthru);
    EXPECT_EQ(classify(NVME_IOCTL_SUBMIT_IO, namespace_node(3))->arg, ArgKind::user_io);

    EXPECT_EQ(arg_size(ArgKind::passthru), 72u);
    EXPECT_EQ(arg_size(ArgKind::passthru64), 80u);
    EXPECT_EQ(arg_size(ArgKind::user_io), 48u);
    EXPECT_EQ(arg_size(ArgKind::out_ulong), sizeof(unsigned long));
    EXPECT_TRUE(arg_is_input(ArgKind::user_io));
    EXPECT_FALSE(arg_is_output(ArgKind::user_io));
    EXPECT_TRUE(arg_is_output(ArgKind::passthru));
    EXPECT_FALSE(arg_is_input(ArgKind::out_u64));
}

TEST(CuseIoctlAbi, NamespaceNodeWithoutNamespaceIsNotTty)
{
    const NodeView gone{NodeKind::namespace_node, std::nullopt, 0};
    EXPECT_EQ(classify(NVME_IOCTL_ID, gone).error(), ENOTTY);
    EXPECT_TRUE(classify(NVME_IOCTL_ADMIN_CMD, gone).has_value());
}

template <class T> T as(const std::vector<std::byte>& b)
{
    T v{};
    EXPECT_EQ(b.size(), sizeof(T));
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
}

TEST(CuseIoctlAbi, BlockIoctlValues)
{
    const NodeView node{NodeKind::namespace_node, NamespaceShape{1, 4096, 8, false, 3ull << 30}, 0};
    EXPECT_EQ(as<std::uint64_t>(*block_ioctl_bytes(*classify(BLKGETSIZE64, node))), 3ull << 30);
    EXPECT_EQ(as<unsigned long>(*block_ioctl_bytes(*classify(BLKGETSIZE, node))), (3ull << 30) / 512);
    EXPECT_EQ(as<int>(*block_ioctl_bytes(*classify(BLKSSZGET, node))), 4096);
    EXPECT_EQ(as<unsigned int>(*block_ioctl_bytes(*classify(BLKPBSZGET, node))), 4096u);
    EXPECT_EQ(block_ioctl_bytes(*classify(NVME_IOCTL_ID, node)).error(), EINVAL);

    // EFBIG exists for 32-bit longs; a 64-bit unsigned long holds any u64 size >> 9.
    const NodeView huge{NodeKind::namespace_node, NamespaceShape{1, 512, 0, false, ~0ull}, 0};
    EXPECT_EQ(as<unsigned long>(*block_ioctl_bytes(*classify(BLKGETSIZE, huge))), ~0ull >> 9);
}

TEST(CuseIoctlAbi, BlockIoctlsOfNamespacesWithoutBlockIo)
{
    // Interleaved metadata without PI: the kernel's disk has no capacity
    // (nvme_update_disk_info), the block size stays.
    const NodeView ext{NodeKind::namespace_node, NamespaceShape{5, 512, 64, true, 64ull << 20}, 0};
    EXPECT_EQ(as<std::uint64_t>(*block_ioctl_bytes(*classify(BLKGETSIZE64, ext))), 0u);
    EXPECT_EQ(as<unsigned long>(*block_ioctl_bytes(*classify(BLKGETSIZE, ext))), 0u);
    EXPECT_EQ(as<int>(*block_ioctl_bytes(*classify(BLKSSZGET, ext))), 512);
    EXPECT_EQ(as<unsigned int>(*block_ioctl_bytes(*classify(BLKPBSZGET, ext))), 512u);

    // With PI the controller strips/inserts it: block I/O works.
    const NodeView pi{NodeKind::namespace_node, NamespaceShape{5, 512, 8, true, 64ull << 20, true}, 0};
    EXPECT_EQ(as<std::uint64_t>(*block_ioctl_bytes(*classify(BLKGETSIZE64, pi))), 64ull << 20);

    // LBAs larger than a page: no capacity, 512-byte blocks.
    const NodeView big{NodeKind::namespace_node, NamespaceShape{2, 8192, 0, false, 1ull << 30}, 0};
    EXPECT_EQ(as<std::uint64_t>(*block_ioctl_bytes(*classify(BLKGETSIZE64, big))), 0u);
    EXPECT_EQ(as<int>(*block_ioctl_bytes(*classify(BLKSSZGET, big))), 512);
    EXPECT_EQ(as<unsigned int>(*block_ioctl_bytes(*classify(BLKPBSZGET, big))), 512u);

    // LBAs smaller than a sector: the same (Linux: lba_shift < SECTOR_SHIFT).
    const NodeView small{NodeKind::namespace_node, NamespaceShape{3, 256, 0, false, 1ull << 30}, 0};
    EXPECT_EQ(as<std::uint64_t>(*block_ioctl_bytes(*classify(BLKGETSIZE64, small))), 0u);
    EXPECT_EQ(as<int>(*block_ioctl_bytes(*classify(BLKSSZGET, small))), 512);
}

TEST(CuseIoctlAbi, NamespaceShapeFromInfo)
{
    ctrlr::NamespaceInfo info;
    info.nsid = 4;
    info.id.nsze = 1000;
    info.lba_data_size = 4096;
    info.metadata_size = 16;
    info.extended_metadata = true;
    const auto s = NamespaceShape::from(info);
    EXPECT_EQ(s.nsid, 4u);
    EXPECT_EQ(s.size_bytes, 4096u * 1000);
    EXPECT_EQ(s.metadata_size, 16);
    EXPECT_TRUE(s.extended_metadata);
    EXPECT_FALSE(s.protection_information);

    info.metadata_size = 8;
    EXPECT_FALSE(NamespaceShape::from(info).protection_information); // DPS says none
    info.id.dps = 1;                                                 // type 1
    EXPECT_TRUE(NamespaceShape::from(info).protection_information);
    info.metadata_size = 16; // not one PI tuple
    EXPECT_FALSE(NamespaceShape::from(info).protection_information);
}

/// BLKPBSZGET of a 512-byte-LBA namespace shaped by `id` on a controller
/// with AWUPF `awupf`.
unsigned physical_block_size(const nvme::IdentifyNamespace& id, std::uint16_t awupf,
                             std::uint32_t lba = 512)
{
    ctrlr::NamespaceInfo info;
    info.nsid = 1;
    info.id = id;
    info.id.nsze = 1u << 20;
    info.lba_data_size = lba;
    const NodeView node{NodeKind::namespace_node, NamespaceShape::from(info, awupf), 0};
    return as<unsigned int>(*block_ioctl_bytes(*classify(BLKPBSZGET, node)));
}

TEST(CuseIoctlAbi, PhysicalBlockSizeIsTheWriteGranularityCappedByAtomicity)
{
    namespace f = nvme::nsfeat;
    nvme::IdentifyNamespace id{};
    // Nothing reported: the logical block size.
    EXPECT_EQ(physical_block_size(id, 0), 512u);
    // NPWG without NSFEAT bit 4 is ignored; with it, capped by AWUPF (0: one block).
    id.npwg = 7;
    EXPECT_EQ(physical_block_size(id, 15), 512u);
    id.nsfeat = f::optimal_performance;
    EXPECT_EQ(physical_block_size(id, 0), 512u);
    EXPECT_EQ(physical_block_size(id, 15), 4096u);  // min(8, 16) blocks
    EXPECT_EQ(physical_block_size(id, 3), 2048u);   // min(8, 4) blocks
    // NAWUPF replaces AWUPF when NSFEAT bit 1 is set and it is non-zero.
    id.nawupf = 1;
    EXPECT_EQ(physical_block_size(id, 15), 4096u);  // bit 1 clear: AWUPF still
    id.nsfeat = f::optimal_performance | f::atomic_parameters;
    EXPECT_EQ(physical_block_size(id, 15), 1024u);  // min(8, 2) blocks
    id.nawupf = 0;
    EXPECT_EQ(physical_block_size(id, 15), 4096u);  // NAWUPF 0: AWUPF
    // A non-zero atomic boundary offset: atomicity of one block only.
    id.nabo = 1;
    EXPECT_EQ(physical_block_size(id, 15), 512u);
    // 4 KiB LBAs multiply alike; an LBA the block layer cannot take counts as 512 bytes.
    id.nabo = 0;
    EXPECT_EQ(physical_block_size(id, 15, 4096), 32768u);
    EXPECT_EQ(physical_block_size(id, 15, 8192), 4096u);
}

constexpr std::string_view sample_status = "Name:\tnvme\nUmask:\t0022\nState:\tS (sleeping)\n"
                                           "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
                                           "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n";

TEST(CuseCredentials, ParsesCapEff)
{
    EXPECT_EQ(*parse_cap_eff(sample_status), 0x000001ffffffffffull);
    EXPECT_EQ(*parse_cap_eff("CapEff:\t0000000000200000\n"), 1ull << cap_sys_admin);
    EXPECT_EQ(*parse_cap_eff("CapEff:\t0000000000000000"), 0u); // no trailing newline
    EXPECT_FALSE(parse_cap_eff("CapPrm:\t000001ffffffffff\n").has_value());
    EXPECT_FALSE(parse_cap_eff("CapEff:\tzz\n").has_value());
    EXPECT_FALSE(parse_cap_eff("CapEff:\t\n").has_value());
    EXPECT_FALSE(parse_cap_eff("").has_value());
}

TEST(CuseCredentials, SysAdminNeedsTheBitAndTheUserNamespace)
{
    CallerCredentials c{1, 1ull << cap_sys_admin, true};
    EXPECT_TRUE(c.has_sys_admin());
    c.same_user_namespace = false; // root of a container's user namespace
    EXPECT_FALSE(c.has_sys_admin());
    c = {1, ~(1ull << cap_sys_admin), true};
    EXPECT_FALSE(c.has_sys_admin());
    EXPECT_FALSE(c.has(64));
}

TEST(CuseCredentials, ReadsOwnProcess)
{
    const auto creds = read_caller_credentials(getpid());
    ASSERT_TRUE(creds.has_value()) << creds.error().message();
    EXPECT_EQ(creds->pid, getpid());
    if (creds->effective_caps != 0) {
        EXPECT_TRUE(creds->same_user_namespace);
    }
    std::ifstream f("/proc/self/status");
    std::stringstream text;
    text << f.rdbuf();
    EXPECT_EQ(creds->effective_caps, *parse_cap_eff(text.str()));
}

TEST(CuseCredentials, MissingProcessIsAnError)
{
    EXPECT_FALSE(read_caller_credentials(0).has_value());
    EXPECT_FALSE(read_caller_credentials(0x3fffffff).has_value()); // above pid_max
}

} // namespace
} // namespace nvmecuse::cuse
