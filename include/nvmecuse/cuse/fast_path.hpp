// The one-round-trip fast path: decode an ioctl by reading the caller's
// memory directly (CallerMemory), instead of the retry protocol. Any
// failure to access that memory yields Fallback: the session then answers
// the same FUSE request with the retry protocol (advance()), and the real
// kernel produces the exact EFAULT semantics.
#pragma once

#include <cstdint>
#include <system_error>
#include <variant>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/cuse/caller_memory.hpp"
#include "nvmecuse/cuse/retry.hpp"

namespace nvmecuse::cuse {

/// Ready to submit: `command` owns buffers already filled from the caller
/// (writes) or zeroed (reads).
struct FastExecute {
    IoctlCommand plan;
    ctrlr::Command command;
};
/// The caller's memory could not be accessed; use the retry protocol.
struct Fallback {
    std::error_code why;
};

/// Reply/Error/Control have the retry protocol's meaning; a Reply for BLK*
/// has already been written to the caller (its `out` is empty).
using FastStep = std::variant<FastExecute, Control, Reply, Error, Fallback>;

/// Decodes and gathers an ioctl in one go. Checks in the kernel's order
/// (classify, permission, then the argument); classification,
/// permission and decode errors are final. Any thread; blocks on
/// process_vm_readv only. No 128 KiB cap: ctx.decode_limits still apply.
[[nodiscard]] FastStep fast_prepare(const IoctlContext& ctx, unsigned int cmd, std::uint64_t arg,
                                    std::uint32_t flags, CallerMemory& memory);

/// Writes a reply plan's result, data and metadata into the caller. After
/// the command executed there is no falling back: an error here means the
/// ioctl must fail with EFAULT (the kernel would have faulted while
/// pinning the buffer, before executing; nvmecuse learns it only now).
[[nodiscard]] std::error_code fast_deliver(const ReplyPlan& plan, CallerMemory& memory);

} // namespace nvmecuse::cuse
