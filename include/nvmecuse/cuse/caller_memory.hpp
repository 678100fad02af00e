// Access to the memory of the task that issued an ioctl, for the fast path
// (docs/architecture.md, "Where an ioctl goes").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <system_error>

#include "nvmecuse/cuse/completion.hpp"
#include "nvmecuse/cuse/decode.hpp"

namespace nvmecuse::cuse {

/// The caller's address space. Implementations must never touch anything
/// but the named ranges and must report any shortfall as an error.
/// Use only while the caller is blocked in the ioctl (never after an
/// interrupt has been answered).
class CallerMemory {
public:
    virtual ~CallerMemory() = default;

    /// Gathers the bytes of `remote` (in order) into `local`; the sizes must
    /// match (else invalid_argument). A short transfer is an error (EFAULT).
    [[nodiscard]] virtual std::error_code read(std::span<const UserRange> remote,
                                               std::span<std::byte> local) = 0;
    /// Performs every write; a short transfer is an error (EFAULT). Writes
    /// before the failing one may have happened.
    [[nodiscard]] virtual std::error_code write(std::span<const UserWrite> writes) = 0;

    [[nodiscard]] std::error_code read(std::uint64_t addr, std::span<std::byte> local);
    [[nodiscard]] std::error_code write(std::uint64_t addr, std::span<const std::byte> bytes);
};

/// process_vm_readv / process_vm_writev on the caller's task (the pid in
/// the FUSE request header). Permission follows ptrace access rules
/// (PTRACE_MODE_ATTACH_REALCREDS): a root daemon may, a restricted one
/// (Yama ptrace_scope 3, no CAP_SYS_PTRACE) gets EPERM and the session falls
/// back to the retry protocol. Any thread; stateless apart from the pid.
class ProcessVmMemory final : public CallerMemory {
public:
    explicit ProcessVmMemory(pid_t pid) noexcept : pid_(pid) {}
    using CallerMemory::read;
    using CallerMemory::write;
    [[nodiscard]] std::error_code read(std::span<const UserRange> remote,
                                       std::span<std::byte> local) override;
    [[nodiscard]] std::error_code write(std::span<const UserWrite> writes) override;

private:
    pid_t pid_;
};

/// The caller's memory when the kernel has already copied the ioctl's
/// argument: a restricted ioctl's request carries the _IOC_SIZE(cmd) bytes
/// at `arg` (fs/fuse/ioctl.c), so a read that lies within them is served
/// from the request and costs no system call; every other access goes to
/// `rest`. Same thread and lifetime rules as `rest`.
class KernelCopiedArgument final : public CallerMemory {
public:
    KernelCopiedArgument(std::uint64_t arg, std::span<const std::byte> copied,
                         CallerMemory& rest) noexcept
        : arg_(arg), copied_(copied), rest_(rest)
    {
    }
    using CallerMemory::read;
    using CallerMemory::write;
    [[nodiscard]] std::error_code read(std::span<const UserRange> remote,
                                       std::span<std::byte> local) override;
    [[nodiscard]] std::error_code write(std::span<const UserWrite> writes) override
    {
        return rest_.write(writes);
    }

private:
    std::uint64_t arg_;
    std::span<const std::byte> copied_;
    CallerMemory& rest_;
};

/// Whether process_vm_readv/writev can reach every task that may call the
/// daemon's nodes, so that the fast path never needs the retry protocol:
/// the daemon holds CAP_SYS_PTRACE, lives in the initial user namespace,
/// and the memory of a forked child can be read (Yama's ptrace_scope 3 or
/// an LSM may still refuse). Forks once per call; call it at start-up.
[[nodiscard]] bool process_vm_reaches_every_caller();

} // namespace nvmecuse::cuse
