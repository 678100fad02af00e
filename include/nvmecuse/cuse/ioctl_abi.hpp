// Which Linux ioctl a CUSE node answers, and how: the routing rules of
// kernel 6.1 drivers/nvme/host/ioctl.c (nvme_dev_ioctl for the controller
// node, nvme_ns_chr_ioctl -> __nvme_ioctl -> nvme_ctrl_ioctl / nvme_ns_ioctl
// for namespace nodes) plus the block-size ioctls a /dev/nvme0n1 answers.
// Pure functions, callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <vector>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/ctrlr/controller.hpp"

namespace nvmecuse::cuse {

/// The kind of device node an ioctl arrived on.
enum class NodeKind : std::uint8_t {
    controller,    ///< /dev/nvmecuse/nvme<N>, like the kernel's /dev/nvme<N>
    namespace_node ///< /dev/nvmecuse/nvme<N>n<M>, like /dev/ng<N>n<M> + /dev/nvme<N>n<M>
};

/// What the frontend needs to know about one namespace to decode ioctls on it.
struct NamespaceShape {
    std::uint32_t nsid = 0;
    std::uint32_t lba_data_size = 512;  ///< bytes per logical block
    std::uint16_t metadata_size = 0;    ///< metadata bytes per logical block ("ms")
    bool extended_metadata = false;     ///< metadata interleaved with data (NVME_NS_EXT_LBAS)
    std::uint64_t size_bytes = 0;       ///< NSZE * lba_data_size
    /// DPS names a protection type and the metadata is one 8-byte PI tuple
    /// (nvme_ns_has_pi): the controller can strip/insert it for block I/O.
    bool protection_information = false;
    /// Logical blocks written atomically on power fail, as Linux reads it
    /// (nvme_update_disk_info(); nvme_configure_atomic_write() since 6.11):
    /// 1 + NAWUPF when NSFEAT bit 1 is set and NAWUPF is non-zero, else
    /// 1 + the controller's AWUPF; 1 when NABO is non-zero.
    std::uint32_t atomic_write_blocks = 1;
    /// Preferred write granularity in logical blocks: 1 + NPWG when NSFEAT
    /// bit 4 (NPWG..NOWS valid) is set, else 1.
    std::uint32_t preferred_write_blocks = 1;

    /// The shape of `info` on a controller whose Identify Controller AWUPF
    /// is `awupf` (0's based, like the field).
    [[nodiscard]] static NamespaceShape from(const ctrlr::NamespaceInfo& info,
                                             std::uint16_t awupf = 0) noexcept;
};

/// The node as seen when the ioctl arrives (a snapshot; namespaces may come
/// and go between ioctls).
struct NodeView {
    NodeKind kind = NodeKind::controller;
    /// Namespace node: its namespace (nsid M). Controller node: the only
    /// active namespace when exactly one is active, else empty.
    std::optional<NamespaceShape> ns;
    /// Controller node: number of active namespaces (NVME_IOCTL_IO_CMD rule).
    std::size_t active_namespaces = 0;
};

/// What an accepted ioctl does.
enum class IoctlOp : std::uint8_t {
    admin_passthru,    ///< NVME_IOCTL_ADMIN_CMD (struct nvme_passthru_cmd)
    admin64_passthru,  ///< NVME_IOCTL_ADMIN64_CMD (struct nvme_passthru_cmd64)
    io_passthru,       ///< NVME_IOCTL_IO_CMD
    io64_passthru,     ///< NVME_IOCTL_IO64_CMD
    io64_vec_passthru, ///< NVME_IOCTL_IO64_CMD_VEC (addr/data_len = iovec array/count)
    submit_io,         ///< NVME_IOCTL_SUBMIT_IO (struct nvme_user_io)
    namespace_id,      ///< NVME_IOCTL_ID: returns M as the ioctl value
    reset,             ///< NVME_IOCTL_RESET
    subsystem_reset,   ///< NVME_IOCTL_SUBSYS_RESET
    rescan,            ///< NVME_IOCTL_RESCAN
    blk_get_size64,    ///< BLKGETSIZE64: u64 bytes
    blk_get_size,      ///< BLKGETSIZE: unsigned long, 512-byte sectors
    blk_sector_size,   ///< BLKSSZGET: int, logical block size
    blk_physical_size, ///< BLKPBSZGET: unsigned int
};

/// The argument an ioctl takes at `arg`.
enum class ArgKind : std::uint8_t {
    none,       ///< no argument memory (ID, RESET, SUBSYS_RESET, RESCAN)
    passthru,   ///< struct nvme_passthru_cmd, 72 bytes, in and out (32-bit result)
    passthru64, ///< struct nvme_passthru_cmd64, 80 bytes, in and out (64-bit result)
    user_io,    ///< struct nvme_user_io, 48 bytes, in only
    out_u64,    ///< 8 bytes written
    out_ulong,  ///< sizeof(unsigned long) bytes written
    out_compat_ulong, ///< 4 bytes written: a 32-bit caller's unsigned long
    out_int,    ///< 4 bytes written
    out_uint,   ///< 4 bytes written
};

/// Size of the argument memory for `kind` (0 for none).
[[nodiscard]] std::size_t arg_size(ArgKind kind) noexcept;
/// True when the argument struct is read from the caller.
[[nodiscard]] bool arg_is_input(ArgKind kind) noexcept;
/// True when (part of) the argument struct is written back to the caller.
[[nodiscard]] bool arg_is_output(ArgKind kind) noexcept;

/// How an accepted ioctl is carried out.
struct Route {
    IoctlOp op = IoctlOp::namespace_id;
    ArgKind arg = ArgKind::none;
    /// Kernel 6.1: every passthrough and RESET/SUBSYS_RESET/RESCAN check
    /// capable(CAP_SYS_ADMIN) and fail with EACCES.
    bool needs_sys_admin = false;
    ctrlr::QueueKind queue = ctrlr::QueueKind::admin;
    /// The namespace the command is bound to (the kernel's `ns` argument of
    /// nvme_user_cmd): passthrough nsid must equal its nsid, metadata is
    /// mapped only when bound, SUBMIT_IO and BLK* take their shape from it.
    /// Empty for admin passthrough (the kernel passes ns = NULL there).
    std::optional<NamespaceShape> ns;
    /// A 32-bit caller (FUSE_IOCTL_32BIT; the kernel's in_compat_syscall()):
    /// pointers in the argument struct count with their low 32 bits only
    /// (nvme_to_user_ptr()) and IO64_CMD_VEC's array holds 8-byte
    /// compat_iovecs.
    bool compat = false;
};

/// Routes ioctl `cmd` on `node` the way kernel 6.1 does, before any
/// permission check or argument access. A `compat` (32-bit) caller reaches
/// the same NVMe ioctls through compat_ptr_ioctl() and the block ioctls
/// through compat_blkdev_ioctl(): BLKGETSIZE64 under its 32-bit number
/// (BLKGETSIZE64_32, still 8 bytes written) and BLKGETSIZE as a 32-bit
/// unsigned long. NVME_IOCTL_SUBMIT_IO32 (the 44-byte i386 struct) is
/// ENOTTY as on both kernel generations, whose case for it sits under an
/// #ifdef COMPAT_FOR_U64_ALIGNMENT that no header defines (Kconfig's symbol
/// is CONFIG_COMPAT_FOR_U64_ALIGNMENT). Errors (errno values):
/// - ENOTTY: not an ioctl of this node kind (controller node: ID,
///   SUBMIT_IO, IO64*, BLK*; namespace node: RESET, SUBSYS_RESET, RESCAN;
///   anything unknown), or IO_CMD on a controller with no active namespace;
/// - EINVAL: IO_CMD on a controller node with several active namespaces
///   (nvme_dev_user_cmd checks this before capable()).
[[nodiscard]] std::expected<Route, int> classify(unsigned int cmd, const NodeView& node,
                                                 bool compat = false);

/// EACCES when `route` needs CAP_SYS_ADMIN and the caller lacks it, else 0.
/// Checked after classify() and before the argument is read (nvme_user_cmd:
/// capable() precedes copy_from_user()).
[[nodiscard]] int check_permission(const Route& route, bool caller_has_sys_admin) noexcept;

/// The bytes a BLK* ioctl writes to `arg` (host byte order, the width the
/// kernel's put_u64/put_ulong/put_int/put_uint use), for the block device
/// the kernel would make of the namespace: no capacity when it cannot do
/// block I/O on it (nvme_update_disk_info). Errors: EFBIG when the sector
/// count does not fit BLKGETSIZE's unsigned long (blkdev_ioctl; 32 bits
/// for a compat caller, compat_blkdev_ioctl), EINVAL for a non-BLK route or
/// an unbound one.
[[nodiscard]] std::expected<std::vector<std::byte>, int> block_ioctl_bytes(const Route& route);

} // namespace nvmecuse::cuse
