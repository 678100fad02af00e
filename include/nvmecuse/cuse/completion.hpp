// From a controller completion to what the ioctl returns and writes back:
// the kernel 6.1 conventions of nvme_execute_rq / nvme_submit_user_cmd /
// nvme_user_cmd{,64}, in one place (STYLE.md: "convert at the CUSE
// boundary"). Pure; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <memory_resource>
#include <vector>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/cuse/decode.hpp"

namespace nvmecuse::cuse {

/// The ioctl's outcome.
struct IoctlOutcome {
    /// >= 0: the ioctl's return value (0 or the positive 15-bit NVMe status
    /// field with More/DNR, `cqe.status >> 1`); < 0: -errno.
    int value = 0;
    /// Write `result` back (the kernel does whenever value >= 0).
    bool write_result = false;
    std::uint64_t result = 0;  ///< already truncated to the struct's width
    /// Copy read data back (value >= 0: blk_rq_unmap_user copies whatever
    /// arrived, also with an error status).
    bool copy_data = false;
    /// Copy read metadata back: only on success (nvme_finish_user_metadata).
    bool copy_metadata = false;

    [[nodiscard]] bool is_errno() const noexcept { return value < 0; }
};

/// Maps `r` to the ioctl outcome:
/// - timed_out / operation_canceled -> -EINTR (the kernel marks a request
///   cancelled by timeout handling or reset NVME_REQ_CANCELLED, and
///   nvme_execute_rq returns -EINTR), no result write;
/// - not_connected -> NVMe status Host Pathing Error (0x370): ioctl
///   commands are failfast, so nvme_fail_nonready_command ->
///   nvme_host_path_error completes them with NVME_SC_HOST_PATH_ERROR on a
///   controller that is not live; result written (0), no data copied;
/// - invalid_argument -> -EINVAL; not_enough_memory -> -ENOMEM; any other
///   error -> -EIO (blk_status_to_errno(BLK_STS_IOERR));
/// - completed -> status.to_field(); result = DW0 (bits32) or DW0 | DW1 << 32
///   (bits64), written back even with an error status (SPDK bug #2278:
///   create-ns must return its nsid).
[[nodiscard]] IoctlOutcome map_completion(const ctrlr::Result& r, ResultWidth width) noexcept;

/// One write into the caller's memory.
struct UserWrite {
    std::uint64_t addr = 0;
    std::span<const std::byte> bytes; ///< points into the ReplyPlan or the command's buffers
};

/// Where `result` lives in the caller's struct: the kernel put_user()s just
/// that field, so nvmecuse writes (and on the retry path asks for) only it.
[[nodiscard]] UserRange result_field(const IoctlCommand& cmd) noexcept;

/// What goes back to the caller, in the order of the retry protocol's out
/// iovecs: [result field] [data segments] [metadata].
struct ReplyPlan {
    int value = 0;                            ///< ioctl return value, or -errno
    std::uint64_t result_addr = 0;            ///< where `result` goes (if result_size)
    std::array<std::byte, 8> result_bytes{};  ///< the truncated result, host order
    std::size_t result_size = 0;              ///< 0 (no write), 4 or 8
    /// The caller's struct already holds exactly this result (as decoded):
    /// writing it back would change nothing (the fast path skips the
    /// system call; the retry reply still carries it).
    bool result_unchanged = false;
    std::pmr::vector<UserWrite> writes;       ///< data and metadata, after the result

    [[nodiscard]] std::span<const std::byte> result() const noexcept
    {
        return {result_bytes.data(), result_size};
    }
    /// The FUSE reply payload (retry path): result then every write,
    /// concatenated. Empty for errno outcomes.
    [[nodiscard]] std::vector<std::byte> flatten() const;
};

/// Builds the reply for `cmd` from the outcome and the buffers that came
/// back in the ctrlr::Result. `writes` point into `data`/`metadata` (keep
/// them alive while the plan is used); the result is held by value.
/// `memory` holds the plan's write list (the completion path passes a stack
/// arena: no allocation per ioctl).
[[nodiscard]] ReplyPlan build_reply(const IoctlCommand& cmd, const IoctlOutcome& outcome,
                                    std::span<const std::byte> data, std::span<const std::byte> metadata,
                                    std::pmr::memory_resource* memory = std::pmr::get_default_resource());

} // namespace nvmecuse::cuse
