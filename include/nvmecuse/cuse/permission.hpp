// Who may send what through a node: the permission model of the kernel the
// daemon runs on. Linux 6.1 lets only CAP_SYS_ADMIN pass commands through;
// since 6.2 drivers/nvme/host/ioctl.c nvme_cmd_allowed() also lets any
// caller with access to the node send the commands the controller's
// Commands Supported and Effects log declares harmless. Pure functions
// (running_kernel_rules() calls uname); any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::cuse {

/// Which kernel generation's rules a node follows.
enum class KernelRules : std::uint8_t {
    linux_6_1, ///< every passthrough needs CAP_SYS_ADMIN, checked before the argument is read
    linux_6_2, ///< nvme_cmd_allowed(), checked after the argument's flags and nsid
};

/// "6.1" or "6.2" (the --kernel-rules spelling); empty for anything else.
[[nodiscard]] std::optional<KernelRules> parse_kernel_rules(std::string_view text) noexcept;
[[nodiscard]] std::string_view to_string(KernelRules rules) noexcept;

/// The rules of a kernel release as uname(2) spells it ("6.1.0-28-amd64",
/// "6.12.38+deb13-amd64"): 6.2 rules from 6.2 on. Empty when the release
/// does not start with <major>.<minor>.
[[nodiscard]] std::optional<KernelRules>
kernel_rules_for_release(std::string_view release) noexcept;

/// The rules of the running kernel; 6.1's (the stricter ones) when its
/// release cannot be read.
[[nodiscard]] KernelRules running_kernel_rules() noexcept;

/// FMODE_WRITE of a file opened with `open_flags` (the kernel's
/// OPEN_FMODE(): O_WRONLY and O_RDWR write; O_RDONLY and the ioctl-only
/// access mode 3 do not).
[[nodiscard]] constexpr bool open_for_write(std::uint32_t open_flags) noexcept
{
    const std::uint32_t access = open_flags & 3u;
    return access == 1u || access == 2u;
}

/// The effects Linux acts on for I/O command `opcode` (nvme_command_effects()
/// with a namespace): the log's IOCS entry without the Command Submission
/// and Execution bits, which the driver ignores for I/O commands. 0 when
/// there is no log.
[[nodiscard]] std::uint32_t io_command_effects(const nvme::CommandsSupportedEffectsLog* effects,
                                               std::uint8_t opcode) noexcept;

/// Linux 6.2+ nvme_cmd_allowed() short of its final capable(): true when a
/// caller without CAP_SYS_ADMIN may send `sqe`.
/// - opcode 7Fh (Fabrics) or 80h and up (vendor specific as far as the
///   driver knows): no;
/// - not bound to a namespace (admin passthrough on either node; the
///   kernel's ns == NULL): only Identify with CNS 00h, 01h, 05h, 06h, 08h;
/// - bound: the command must be CSUPP in `effects` (null: no log, nothing
///   is supported) with no effect but CSUPP, LBCC, USS (UUID selection)
///   and the scope bits 31:20; a command that writes data (opcode bit 0)
///   or changes logical block content (LBCC) also needs `for_write`.
[[nodiscard]] bool unprivileged_command_allowed(const nvme::SubmissionQueueEntry& sqe,
                                                bool bound_namespace,
                                                const nvme::CommandsSupportedEffectsLog* effects,
                                                bool for_write) noexcept;

} // namespace nvmecuse::cuse
