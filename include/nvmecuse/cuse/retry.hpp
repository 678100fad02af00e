// The CUSE unrestricted-ioctl retry protocol (FUSE_IOCTL_UNRESTRICTED) as
// an explicit, stateless state machine: every FUSE_IOCTL request (the first
// and each retry) is fed to advance(), which decides from the bytes the
// kernel delivered what to ask for next. Pure; any thread.
//
// Stages (named after libfuse example/cuse.c fioc_do_rw):
//   need_argument  nothing delivered yet  -> Retry{in: struct, out: result}
//   need_vector    IO64_CMD_VEC struct    -> Retry{+ the iovec array}
//   need_buffers   struct (+ iovecs)      -> Retry{in: struct [+iovecs] [+write data, metadata],
//                                                  out: [result] [+read data, metadata]}
//   ready          exactly that layout    -> Execute
// A passthrough with data therefore takes 3 FUSE requests, one without
// data 2, IO64_CMD_VEC with data 4, NVME_IOCTL_ID 1 and BLK* 2 (in
// unrestricted mode the first request never carries an out buffer).
//
// Kernel limits (fs/fuse/ioctl.c fuse_do_ioctl): a retry naming more than
// FUSE_IOCTL_MAX_IOV (256) iovecs in total, or more than max_pages (32 pages
// = 128 KiB for CUSE) in either direction, fails the ioctl with ENOMEM
// (fuse_verify_ioctl_iov); advance() answers ENOMEM itself instead of
// asking for such a retry. A bad user pointer in a retry makes the kernel
// fail the ioctl with EFAULT without sending another request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <variant>
#include <vector>

#include "nvmecuse/cuse/decode.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"
#include "nvmecuse/cuse/permission.hpp"

namespace nvmecuse::cuse {

/// FUSE ioctl flags (linux/fuse.h; redeclared to keep libfuse's and the
/// kernel's headers out of this pure layer).
inline constexpr std::uint32_t fuse_ioctl_compat = 1u << 0;
inline constexpr std::uint32_t fuse_ioctl_unrestricted = 1u << 1;
inline constexpr std::uint32_t fuse_ioctl_32bit = 1u << 3;

/// The caller is a 32-bit (or x32) process: FUSE's compat ioctl path,
/// which sets FUSE_IOCTL_32BIT on a 64-bit kernel (fs/fuse/ioctl.c).
[[nodiscard]] constexpr bool is_compat_caller(std::uint32_t fuse_flags) noexcept
{
    return (fuse_flags & (fuse_ioctl_compat | fuse_ioctl_32bit)) != 0;
}

/// The kernel's bounds on one retry.
struct RetryLimits {
    std::size_t max_iovecs = 256;                  ///< FUSE_IOCTL_MAX_IOV, in + out
    std::size_t max_bytes_per_direction = 32 * 4096; ///< fc->max_pages << PAGE_SHIFT
};

/// One FUSE_IOCTL request as the session received it.
struct IoctlRequest {
    unsigned int cmd = 0;
    std::uint64_t arg = 0;                 ///< the caller's pointer argument
    std::uint32_t flags = 0;               ///< FUSE ioctl flags
    std::span<const std::byte> in;         ///< in_buf: the in iovecs' bytes, concatenated
    std::size_t out_size = 0;              ///< out_bufsz: sum of the out iovecs
};

/// What the session knows that does not come with the request.
struct IoctlContext {
    NodeView node;
    bool caller_has_sys_admin = false;
    /// The permission model of the kernel the node imitates.
    KernelRules rules = KernelRules::linux_6_1;
    /// The file handle was opened for writing (open_for_write() of its
    /// open flags; the kernel's FMODE_WRITE). 6.2 rules only.
    bool open_for_write = false;
    /// The controller's effects log (ControllerInfo::effects); null: none.
    std::shared_ptr<const nvme::CommandsSupportedEffectsLog> effects{};
    DecodeLimits decode_limits{};
    RetryLimits retry_limits{};
    /// The controller's MDTS in bytes (0 = no limit): a command past it that
    /// cannot be split is refused with EINVAL before any buffer is fetched,
    /// as the kernel refuses it before mapping (not ENOMEM from FUSE's cap).
    std::uint64_t mdts_bytes = 0;
    /// The transport writes every byte of a read's buffers
    /// (TransportInfo::fills_host_buffers): they need not be zeroed first.
    bool transport_fills_buffers = false;
    /// Where command buffers come from: the transport's DeviceMemory
    /// (ctrlr::Controller::memory()), so data reaches the device unbounced.
    transport::DeviceMemory* memory = &transport::heap_memory();
};

/// The first steps of every ioctl on both paths: route the command for
/// this node and the caller's word size (is_compat_caller()), check the caller's
/// permission where the kernel checks it before reading the argument (every
/// route under 6.1 rules; RESET, SUBSYS_RESET and RESCAN under 6.2).
/// Returns the route, or the errno to answer with. Any thread.
[[nodiscard]] std::expected<Route, int> route_ioctl(const IoctlContext& ctx, unsigned int cmd,
                                                    std::uint32_t flags);

/// Under 6.2 rules, the check nvme_user_cmd{,64} make once the passthrough
/// struct `arg` is read: its flags and nsid (EINVAL, decode_passthru_header()),
/// then nvme_cmd_allowed() (EACCES unless unprivileged_command_allowed() or
/// the caller has CAP_SYS_ADMIN); before any buffer is mapped. 0 when allowed
/// and for every route route_ioctl() has already judged. Any thread.
[[nodiscard]] int check_argument_permission(const IoctlContext& ctx, const Route& route,
                                            std::span<const std::byte> arg);

enum class Stage : std::uint8_t { need_argument, need_vector, need_buffers, ready };

/// Ask the kernel to resend the ioctl with these buffers (FUSE_IOCTL_RETRY).
struct Retry {
    Stage stage = Stage::need_argument; ///< the stage this request was in
    std::vector<UserRange> in;
    std::vector<UserRange> out;
};
/// Submit `command`; data_in/metadata_in (writes only) point into the
/// request's in buffer. Reply with build_reply() in the out iovec order.
struct Execute {
    IoctlCommand command;
    ArgBytes arg;
    std::span<const std::byte> data_in;
    std::span<const std::byte> metadata_in;
};
/// RESET, SUBSYS_RESET or RESCAN: call the controller, reply 0 or -errno.
struct Control {
    IoctlOp op = IoctlOp::reset;
};
/// Answer now: the ioctl returns `value`, with `out` for its out iovecs.
struct Reply {
    int value = 0;
    std::vector<std::byte> out;
};
/// Answer now: the ioctl fails with `errno_value`.
struct Error {
    int errno_value = 0;
};

using Step = std::variant<Retry, Execute, Control, Reply, Error>;

/// One turn of the protocol. Order of checks as the kernel's:
/// classify() (ENOTTY/EINVAL), permission (EACCES), then the argument
/// (decode errors); under 6.2 rules a passthrough's permission comes after
/// its flags and nsid (check_argument_permission()). The decision depends only on the bytes delivered, so a
/// caller that rewrites its struct between retries is simply asked again
/// for the layout its new struct needs.
[[nodiscard]] Step advance(const IoctlContext& ctx, const IoctlRequest& req);

/// The in/out iovecs a fully known command needs (stage need_buffers).
struct Layout {
    std::vector<UserRange> in;
    std::vector<UserRange> out;
    std::size_t in_bytes = 0;
    std::size_t out_bytes = 0;
};
[[nodiscard]] Layout layout_for(const IoctlCommand& cmd);

/// The buffers an Execute's command runs with: copies of the delivered
/// write data/metadata; for reads, zeroed buffers, or uninitialised ones
/// when the transport fills them (IoctlContext::transport_fills_buffers).
/// Buffers come from ctx.memory; `not_enough_memory` when it has none left.
[[nodiscard]] std::expected<ctrlr::Command, std::error_code> command_for(const Execute& exec,
                                                                       const IoctlContext& ctx);

} // namespace nvmecuse::cuse
