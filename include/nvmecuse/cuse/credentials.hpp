// The caller's privileges, read from /proc the way the kernel's capable()
// would judge the task that issued the ioctl.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <string_view>
#include <system_error>

namespace nvmecuse::cuse {

/// Capability numbers we check (linux/capability.h).
inline constexpr unsigned cap_sys_ptrace = 19;
inline constexpr unsigned cap_sys_admin = 21;

/// What the daemon knows about the task behind a FUSE request.
struct CallerCredentials {
    pid_t pid = 0;                    ///< the thread id from the FUSE request header
    std::uint64_t effective_caps = 0; ///< CapEff of that thread
    /// True when the caller lives in the daemon's user namespace, so its
    /// CapEff means what the kernel's capable() (init user namespace) means.
    bool same_user_namespace = false;

    [[nodiscard]] bool has(unsigned cap) const noexcept
    {
        return cap < 64 && (effective_caps >> cap & 1u) != 0;
    }
    /// capable(CAP_SYS_ADMIN) as kernel 6.1's nvme ioctls check it.
    [[nodiscard]] bool has_sys_admin() const noexcept
    {
        return same_user_namespace && has(cap_sys_admin);
    }
};

/// Parses the `CapEff:` line (16 hex digits) of a /proc/<pid>/status text
/// (what read_caller_credentials() must agree with; diagnostics and tests).
/// Pure; any thread. Error: invalid_argument when the line is missing or
/// not hexadecimal.
[[nodiscard]] std::expected<std::uint64_t, std::error_code> parse_cap_eff(std::string_view status_text);

/// The task's effective capabilities with capget(2) and, when it has any,
/// whether /proc/<pid>/ns/user is the daemon's own user namespace. Any
/// thread; one system call, two when the namespace answer of this thread
/// (with these capabilities) is older than 100 ms (this runs once per
/// privileged ioctl; the namespace stat() is its most expensive part).
/// Errors: capget's errno (ESRCH when the task is gone). A user namespace
/// that cannot be inspected counts as foreign (fail closed).
[[nodiscard]] std::expected<CallerCredentials, std::error_code> read_caller_credentials(pid_t pid);

} // namespace nvmecuse::cuse
