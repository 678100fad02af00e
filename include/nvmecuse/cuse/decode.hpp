// Kernel ioctl argument structs -> NVMe commands, exactly as kernel 6.1's
// nvme_user_cmd / nvme_user_cmd64 / nvme_submit_io read them. Pure
// functions over bytes; callable from any thread. Errors are errno values.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory_resource>
#include <span>
#include <vector>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/ctrlr/node_pool.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"
#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::cuse {

/// A range of the caller's address space.
struct UserRange {
    std::uint64_t addr = 0;
    std::uint64_t len = 0;
    friend bool operator==(const UserRange&, const UserRange&) = default;
};

/// Width of the `result` field written back to the argument struct.
enum class ResultWidth : std::uint8_t {
    none,   ///< struct nvme_user_io has no result
    bits32, ///< nvme_passthru_cmd.result: completion DW0
    bits64, ///< nvme_passthru_cmd64.result: DW0 | DW1 << 32
};

/// Where `result` sits in each struct.
inline constexpr std::size_t passthru_result_offset = 68;
inline constexpr std::size_t passthru64_result_offset = 72;
/// struct iovec of a 64-bit caller (the IO64_CMD_VEC array element).
inline constexpr std::size_t user_iovec_size = 16;
/// struct compat_iovec of a 32-bit caller.
inline constexpr std::size_t compat_iovec_size = 8;

/// Bounds the decoder enforces before anything is allocated.
struct DecodeLimits {
    /// Largest data transfer of one ioctl. The kernel refuses a mapping
    /// past the queue's max_hw_sectors (MDTS-derived) with EINVAL
    /// (blk_rq_map_user_iov -> blk_rq_append_bio); nvmecuse does the same.
    std::uint64_t max_data_bytes = 4u << 20;
    /// Largest SUBMIT_IO transfer; may exceed max_data_bytes when the
    /// session splits reads/writes into several commands.
    std::uint64_t max_submit_io_bytes = 4u << 20;
    /// Largest metadata buffer: the kernel kmalloc()s a bounce buffer for it
    /// (nvme_add_user_metadata), which fails with ENOMEM past KMALLOC_MAX_SIZE.
    std::uint64_t max_metadata_bytes = 4u << 20;
    /// IO64_CMD_VEC: import_iovec() refuses more than UIO_MAXIOV segments (EINVAL).
    std::uint32_t max_vec_segments = 1024;

    /// Limits for a controller whose MDTS allows `mdts_bytes` (0 = no limit
    /// reported: keep the defaults).
    [[nodiscard]] static DecodeLimits for_mdts(std::uint64_t mdts_bytes) noexcept;
};

/// The argument struct as the caller passed it (72, 80 or 48 bytes).
struct ArgBytes {
    std::array<std::byte, 80> bytes{};
    std::size_t size = 0;
    [[nodiscard]] std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }
    [[nodiscard]] static ArgBytes copy_of(std::span<const std::byte> b) noexcept;
};

/// A decoded passthrough or SUBMIT_IO: the NVMe command and the caller
/// memory it reads or writes.
struct IoctlCommand {
    // (The small members first, together: the completion handler that
    // carries an IoctlCommand must fit one node_pool block.)
    IoctlOp op = IoctlOp::admin_passthru;
    ArgKind arg_kind = ArgKind::passthru;
    ctrlr::QueueKind queue = ctrlr::QueueKind::admin;
    /// host_to_controller or controller_to_host when data is mapped, else none.
    nvme::DataTransfer direction = nvme::DataTransfer::none;
    bool compat_vector = false; ///< `vector` holds compat_iovecs
    ResultWidth result = ResultWidth::none;
    std::uint64_t arg_addr = 0;            ///< where the argument struct lives
    nvme::SubmissionQueueEntry sqe{};
    /// IO64_CMD_VEC with data: the iovec array (addr, count * 16 bytes, or
    /// count * 8 for a 32-bit caller) that attach_iovecs() turns into `data`.
    UserRange vector;
    /// Data segments in transfer order (zero-length segments dropped);
    /// empty = no data mapped.
    /// (Its nodes come from the core's node pool: one IoctlCommand per ioctl
    /// allocates nothing once the pool is warm.)
    std::pmr::vector<UserRange> data{ctrlr::node_pool::memory_resource()};
    std::uint64_t data_len = 0;  ///< sum of `data`
    UserRange metadata;          ///< len 0: no metadata mapped
    std::chrono::milliseconds timeout{0}; ///< 0: the controller's default
    /// The caller's `result` field as decoded (the fast path skips writing
    /// back a result the caller's struct already holds).
    std::uint64_t caller_result = 0;

    [[nodiscard]] bool needs_iovecs() const noexcept { return vector.len != 0 && data.empty(); }
    [[nodiscard]] bool reads_from_caller() const noexcept
    {
        return direction == nvme::DataTransfer::host_to_controller;
    }
    [[nodiscard]] bool writes_to_caller() const noexcept
    {
        return direction == nvme::DataTransfer::controller_to_host;
    }
};

/// Decodes nvme_passthru_cmd (ArgKind::passthru) or nvme_passthru_cmd64
/// from `arg` (at least arg_size(route.arg) bytes), for a route already
/// classified and permission-checked. Rules (kernel 6.1 nvme_user_cmd{,64},
/// nvme_map_user_request):
/// - flags != 0 -> EINVAL; bound namespace and nsid != its nsid -> EINVAL;
/// - data is mapped only when addr and data_len are both non-zero;
///   direction from opcode bit 0 (nvme_is_write): write, else read;
///   opcode bits 1:0 == 11b (bidirectional) with data -> EINVAL (the
///   kernel would silently do write-only; nvmecuse refuses);
/// - metadata only when data is mapped, the route is bound to a namespace
///   (the kernel's bdev), and both metadata and metadata_len are non-zero;
/// - data_len > limits.max_data_bytes -> EINVAL; metadata_len >
///   limits.max_metadata_bytes -> ENOMEM;
/// - IO64_CMD_VEC: data_len is the iovec count; > max_vec_segments -> EINVAL;
/// - a 32-bit caller (route.compat): addr and metadata count with their low
///   32 bits only (nvme_to_user_ptr()), the iovecs are compat_iovecs.
[[nodiscard]] std::expected<IoctlCommand, int>
decode_passthru(const Route& route, std::uint64_t arg_addr, std::span<const std::byte> arg,
                const DecodeLimits& limits = {});

/// The checks nvme_user_cmd{,64} make on the struct before anything else
/// (flags != 0 -> EINVAL; bound namespace and nsid != its nsid -> EINVAL)
/// and the command they build: what the 6.2 permission check looks at.
/// EINVAL for a route that takes no passthrough struct.
[[nodiscard]] std::expected<nvme::SubmissionQueueEntry, int>
decode_passthru_header(const Route& route, std::span<const std::byte> arg);

/// Second step of IO64_CMD_VEC: reads the 16-byte iovecs (8-byte
/// compat_iovecs for a 32-bit caller; cmd.vector.len bytes) into cmd.data.
/// A segment length above SSIZE_MAX (a compat one above INT32_MAX) -> EINVAL, total
/// 0 -> EINVAL (bio_map_user_iov on an empty iterator), total above
/// limits.max_data_bytes -> EINVAL.
[[nodiscard]] std::expected<void, int> attach_iovecs(IoctlCommand& cmd, std::span<const std::byte> iovecs,
                                                     const DecodeLimits& limits = {});

/// Decodes nvme_user_io (48 bytes) for a route bound to namespace M
/// (kernel 6.1 nvme_submit_io):
/// - flags != 0 -> EINVAL; opcode not read/write/compare -> EINVAL;
/// - length = (nblocks + 1) * LBA size; metadata length = (nblocks + 1) *
///   ms, except PRACT with ms == 8 (PI inserted/stripped): then metadata
///   must be null (EINVAL otherwise) and nothing is transferred;
/// - extended-LBA namespaces add the metadata to the data length;
/// - separate metadata needed: pointer null or not 4-byte aligned -> EINVAL;
/// - length > limits.max_submit_io_bytes -> EINVAL;
/// - addr == 0: no data mapped (the kernel submits without a buffer);
/// - a 32-bit caller: addr and metadata pointers truncated to 32 bits, the
///   metadata alignment and null checks made on the full field as the
///   kernel makes them.
[[nodiscard]] std::expected<IoctlCommand, int>
decode_submit_io(const Route& route, std::uint64_t arg_addr, std::span<const std::byte> arg,
                 const DecodeLimits& limits = {});

/// decode_passthru or decode_submit_io by route.arg; EINVAL for other routes.
[[nodiscard]] std::expected<IoctlCommand, int>
decode(const Route& route, std::uint64_t arg_addr, std::span<const std::byte> arg,
       const DecodeLimits& limits = {});

/// The ctrlr::Command for `cmd` with buffers the caller filled (writes) or
/// that the controller fills (reads: pass zeroed buffers, never
/// uninitialised memory, which would leak to the caller).
[[nodiscard]] ctrlr::Command build_command(const IoctlCommand& cmd, ctrlr::DataBuffer data,
                                           ctrlr::DataBuffer metadata);

} // namespace nvmecuse::cuse
