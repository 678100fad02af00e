#include "nvmecuse/cuse/ioctl_abi.hpp"

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/nvme_ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <span>

#include "nvmecuse/ctrlr/limits.hpp"

namespace nvmecuse::cuse {
namespace {

static_assert(sizeof(nvme_passthru_cmd) == 72);
static_assert(sizeof(nvme_passthru_cmd64) == 80);
static_assert(sizeof(nvme_user_io) == 48);

/// One row of the routing table: what `cmd` does on a node kind.
struct RouteRow {
    unsigned int cmd;
    IoctlOp op;
    ArgKind arg;
    bool needs_sys_admin;
    ctrlr::QueueKind queue;
    bool binds_namespace; ///< the kernel passes a non-NULL ns
};

using enum IoctlOp;
using ctrlr::QueueKind;

/// nvme_dev_ioctl (kernel 6.1): everything else is ENOTTY.
constexpr auto controller_routes = std::to_array<RouteRow>({
    {NVME_IOCTL_ADMIN_CMD, admin_passthru, ArgKind::passthru, true, QueueKind::admin, false},
    {NVME_IOCTL_ADMIN64_CMD, admin64_passthru, ArgKind::passthru64, true, QueueKind::admin, false},
    {NVME_IOCTL_IO_CMD, io_passthru, ArgKind::passthru, true, QueueKind::io, true},
    {NVME_IOCTL_RESET, reset, ArgKind::none, true, QueueKind::admin, false},
    {NVME_IOCTL_SUBSYS_RESET, subsystem_reset, ArgKind::none, true, QueueKind::admin, false},
    {NVME_IOCTL_RESCAN, rescan, ArgKind::none, true, QueueKind::admin, false},
});

/// nvme_ctrl_ioctl (admin, ns = NULL) + nvme_ns_ioctl + the block ioctls of
/// blkdev_ioctl that nvme-cli and smartctl use on /dev/nvme<N>n<M>.
constexpr auto namespace_routes = std::to_array<RouteRow>({
    {NVME_IOCTL_ADMIN_CMD, admin_passthru, ArgKind::passthru, true, QueueKind::admin, false},
    {NVME_IOCTL_ADMIN64_CMD, admin64_passthru, ArgKind::passthru64, true, QueueKind::admin, false},
    {NVME_IOCTL_IO_CMD, io_passthru, ArgKind::passthru, true, QueueKind::io, true},
    {NVME_IOCTL_IO64_CMD, io64_passthru, ArgKind::passthru64, true, QueueKind::io, true},
    {NVME_IOCTL_IO64_CMD_VEC, io64_vec_passthru, ArgKind::passthru64, true, QueueKind::io, true},
    {NVME_IOCTL_SUBMIT_IO, submit_io, ArgKind::user_io, false, QueueKind::io, true},
    {NVME_IOCTL_ID, namespace_id, ArgKind::none, false, QueueKind::io, true},
    {BLKGETSIZE64, blk_get_size64, ArgKind::out_u64, false, QueueKind::io, true},
    {BLKGETSIZE, blk_get_size, ArgKind::out_ulong, false, QueueKind::io, true},
    {BLKSSZGET, blk_sector_size, ArgKind::out_int, false, QueueKind::io, true},
    {BLKPBSZGET, blk_physical_size, ArgKind::out_uint, false, QueueKind::io, true},
});

/// BLKGETSIZE64 as a 32-bit caller numbers it: size_t is 4 bytes there
/// (block/ioctl.c BLKGETSIZE64_32).
constexpr unsigned int blkgetsize64_32 = _IOR(0x12, 114, int);

/// compat_blkdev_ioctl()'s block ioctls in place of blkdev_ioctl()'s; the
/// rest of a compat caller's namespace routes are the 64-bit ones.
constexpr auto compat_block_routes = std::to_array<RouteRow>({
    {blkgetsize64_32, blk_get_size64, ArgKind::out_u64, false, QueueKind::io, true},
    {BLKGETSIZE, blk_get_size, ArgKind::out_compat_ulong, false, QueueKind::io, true},
    {BLKSSZGET, blk_sector_size, ArgKind::out_int, false, QueueKind::io, true},
    {BLKPBSZGET, blk_physical_size, ArgKind::out_uint, false, QueueKind::io, true},
});

bool is_block_ioctl(unsigned int cmd) noexcept
{
    return cmd == BLKGETSIZE64 || cmd == BLKGETSIZE || cmd == BLKSSZGET || cmd == BLKPBSZGET ||
           cmd == blkgetsize64_32;
}

/// The row for `cmd` on a namespace node, or null.
const RouteRow* namespace_route(unsigned int cmd, bool compat) noexcept
{
    const std::span<const RouteRow> table =
        compat && is_block_ioctl(cmd) ? std::span<const RouteRow>(compat_block_routes)
                                      : std::span<const RouteRow>(namespace_routes);
    const auto row = std::ranges::find(table, cmd, &RouteRow::cmd);
    return row == table.end() ? nullptr : &*row;
}

struct ArgRow {
    ArgKind kind;
    std::size_t size;
    bool input;
    bool output;
};
constexpr auto arg_rows = std::to_array<ArgRow>({
    {ArgKind::none, 0, false, false},
    {ArgKind::passthru, sizeof(nvme_passthru_cmd), true, true},
    {ArgKind::passthru64, sizeof(nvme_passthru_cmd64), true, true},
    {ArgKind::user_io, sizeof(nvme_user_io), true, false},
    {ArgKind::out_u64, sizeof(std::uint64_t), false, true},
    {ArgKind::out_ulong, sizeof(unsigned long), false, true},
    {ArgKind::out_compat_ulong, sizeof(std::uint32_t), false, true},
    {ArgKind::out_int, sizeof(int), false, true},
    {ArgKind::out_uint, sizeof(unsigned int), false, true},
});

const ArgRow& arg_row(ArgKind kind) noexcept
{
    return arg_rows[static_cast<std::size_t>(kind)];
}

/// The block device the kernel makes of a namespace (nvme_update_disk_info,
/// kernels 6.1 and 6.12 alike, PCIe, CONFIG_BLK_DEV_INTEGRITY as in
/// distribution kernels).
struct BlockDevice {
    std::uint64_t capacity_bytes;
    std::uint32_t logical_block_size;
    std::uint32_t physical_block_size;
};

/// Linux filesystems assume a physical block is written atomically, so the
/// driver caps the preferred write granularity at the power-fail atomic
/// write unit; the block layer raises anything below the logical block size
/// to it (blk_queue_physical_block_size() in 6.1, blk_validate_limits() in
/// 6.12). The arithmetic is the kernel's u32.
std::uint32_t physical_block_size(const NamespaceShape& ns, std::uint32_t bs) noexcept
{
    const std::uint32_t atomic = ns.atomic_write_blocks * bs;
    const std::uint32_t preferred = ns.preferred_write_blocks * bs;
    return std::max(std::min(preferred, atomic), bs);
}

BlockDevice block_device_of(const NamespaceShape& ns) noexcept
{
    // The block layer cannot take LBAs larger than a page (4 KiB on x86) or
    // smaller than a 512-byte sector (ctrlr/limits.hpp): 512-byte blocks,
    // no capacity.
    if (ns.lba_data_size > ctrlr::max_lba_data_size || ns.lba_data_size < ctrlr::min_lba_data_size)
        return {0, 512, physical_block_size(ns, 512)};
    const std::uint32_t bs = ns.lba_data_size;
    // Metadata interleaved with the data cannot go to the block layer
    // (NVME_NS_EXT_LBAS is passthrough only) unless the controller
    // strips/inserts it as PI: no block I/O, so no capacity.
    if (ns.metadata_size != 0 && ns.extended_metadata && !ns.protection_information)
        return {0, bs, physical_block_size(ns, bs)};
    return {ns.size_bytes, bs, physical_block_size(ns, bs)};
}

template <class T> std::vector<std::byte> bytes_of(T value)
{
    std::vector<std::byte> out(sizeof(T));
    std::memcpy(out.data(), &value, sizeof(T));
    return out;
}

} // namespace

NamespaceShape NamespaceShape::from(const ctrlr::NamespaceInfo& info, std::uint16_t awupf) noexcept
{
    // sizeof(struct t10_pi_tuple): the only PI format kernel 6.1 accepts
    // without the extended LBA formats of the NVM command set.
    constexpr std::uint16_t pi_tuple_bytes = 8;
    const nvme::IdentifyNamespace& id = info.id;
    const bool pi = nvme::dps::Pit::get(id.dps) != 0 && info.metadata_size == pi_tuple_bytes;
    NamespaceShape s{info.nsid,         info.lba_data_size, info.metadata_size, info.extended_metadata,
                     info.size_bytes(), pi};
    // The driver supports no offset for the atomic boundaries (NABO).
    if (id.nabo == 0) {
        const bool per_namespace = (id.nsfeat & nvme::nsfeat::atomic_parameters) != 0 && id.nawupf != 0;
        s.atomic_write_blocks = 1u + (per_namespace ? id.nawupf : awupf);
    }
    if ((id.nsfeat & nvme::nsfeat::optimal_performance) != 0) s.preferred_write_blocks = 1u + id.npwg;
    return s;
}

std::size_t arg_size(ArgKind kind) noexcept { return arg_row(kind).size; }
bool arg_is_input(ArgKind kind) noexcept { return arg_row(kind).input; }
bool arg_is_output(ArgKind kind) noexcept { return arg_row(kind).output; }

std::expected<Route, int> classify(unsigned int cmd, const NodeView& node, bool compat)
{
    const bool on_controller = node.kind == NodeKind::controller;
    const RouteRow* row = nullptr;
    if (on_controller) {
        const auto it = std::ranges::find(controller_routes, cmd, &RouteRow::cmd);
        if (it != controller_routes.end()) row = &*it;
    } else {
        row = namespace_route(cmd, compat);
    }
    if (row == nullptr) return std::unexpected(ENOTTY);

    Route route{row->op, row->arg, row->needs_sys_admin, row->queue, std::nullopt, compat};
    if (!row->binds_namespace) return route;

    if (on_controller) {
        // nvme_dev_user_cmd: the deprecated IO_CMD on the controller node
        // targets the only namespace; ENOTTY with none, EINVAL with several.
        if (node.active_namespaces == 0) return std::unexpected(ENOTTY);
        if (node.active_namespaces > 1) return std::unexpected(EINVAL);
        if (!node.ns) return std::unexpected(ENOTTY); // inconsistent snapshot
    } else if (!node.ns) {
        return std::unexpected(ENOTTY); // a namespace node that lost its namespace
    }
    route.ns = node.ns;
    return route;
}

int check_permission(const Route& route, bool caller_has_sys_admin) noexcept
{
    return route.needs_sys_admin && !caller_has_sys_admin ? EACCES : 0;
}

std::expected<std::vector<std::byte>, int> block_ioctl_bytes(const Route& route)
{
    if (!route.ns) return std::unexpected(EINVAL);
    const BlockDevice disk = block_device_of(*route.ns);
    switch (route.op) {
    case blk_get_size64:
        return bytes_of<std::uint64_t>(disk.capacity_bytes);
    case blk_get_size: {
        // blkdev_ioctl: EFBIG when the 512-byte sector count overflows the
        // unsigned long the caller reads (sectors << 9 must fit it too);
        // compat_blkdev_ioctl: when it overflows a 32-bit one.
        const std::uint64_t sectors = disk.capacity_bytes >> 9;
        if (route.arg == ArgKind::out_compat_ulong) {
            if (sectors > UINT32_MAX) return std::unexpected(EFBIG);
            return bytes_of<std::uint32_t>(static_cast<std::uint32_t>(sectors));
        }
        if ((sectors >> (sizeof(unsigned long) * CHAR_BIT - 9)) != 0) return std::unexpected(EFBIG);
        return bytes_of<unsigned long>(static_cast<unsigned long>(sectors));
    }
    case blk_sector_size:
        return bytes_of<int>(static_cast<int>(disk.logical_block_size));
    case blk_physical_size:
        return bytes_of<unsigned int>(disk.physical_block_size);
    default:
        return std::unexpected(EINVAL);
    }
}

} // namespace nvmecuse::cuse
