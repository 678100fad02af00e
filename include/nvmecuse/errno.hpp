// errno values as std::error_code, the one way every layer reports a failed
// system call: `std::expected<T, std::error_code>` at layer boundaries, with
// the generic category (compares equal to std::errc, messages are
// strerror's), and back to the errno an ioctl or a reply returns.
#pragma once

#include <cerrno>
#include <system_error>

namespace nvmecuse {

/// `e` (an errno value) as an error_code.
[[nodiscard]] inline std::error_code errno_code(int e) noexcept
{
    return {e, std::generic_category()};
}

/// The calling thread's errno, as an error_code: right after the call
/// that failed.
[[nodiscard]] inline std::error_code last_errno() noexcept
{
    return errno_code(errno);
}

/// The errno `ec` stands for: 0 for success; its value where it is an errno
/// (the generic or system category); `otherwise` for any other category
/// (NVMe/TCP protocol errors, claim errors, ...).
[[nodiscard]] inline int errno_of(std::error_code ec, int otherwise = EIO) noexcept
{
    if (!ec) return 0;
    if (ec.category() == std::generic_category() || ec.category() == std::system_category())
        return ec.value();
    return otherwise;
}

} // namespace nvmecuse
