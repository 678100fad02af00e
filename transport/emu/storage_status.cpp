#include "storage_status.hpp"

#include <cerrno>

#include "nvmecuse/errno.hpp"

namespace nvmecuse::emu {

namespace {

/// Whether `ec` is the errno `value`. Not `ec == std::errc::...`: libstdc++
/// maps only the errnos std::errc names (EDQUOT is not one) to generic.
bool is_errno(std::error_code ec, int value)
{
    return errno_of(ec, 0) == value;
}

} // namespace

nvme::Status storage_status(std::error_code ec, StorageAccess access) noexcept
{
    using nvme::GenericStatus;
    using nvme::MediaStatus;
    using nvme::Status;
    const bool full = is_errno(ec, ENOSPC) || is_errno(ec, EDQUOT) || is_errno(ec, EFBIG);
    if (access == StorageAccess::write)
        return full ? Status(GenericStatus::capacity_exceeded).with_dnr()
                    : Status(MediaStatus::write_fault);
    if (is_errno(ec, EIO)) return Status(MediaStatus::unrecovered_read_error);
    return Status(GenericStatus::internal_error);
}

} // namespace nvmecuse::emu
