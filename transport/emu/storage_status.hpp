// The NVMe status a failed access to a namespace's storage completes with.
#pragma once

#include <cstdint>
#include <system_error>

#include "nvmecuse/spec/status.hpp"

namespace nvmecuse::emu {

enum class StorageAccess : std::uint8_t { read, write };

/// The status a storage error `ec` (an errno from NamespaceStorage) gives,
/// as a real SSD reports the same condition (NVMe Base 2.0, Figures 102 and
/// 104; NVM Command Set 2.0, Figure 35):
/// - ENOSPC, EDQUOT or EFBIG on a write (file system or quota full, file
///   past RLIMIT_FSIZE): Capacity Exceeded (SCT 0h, SC 81h), DNR set. The
///   namespace is thin provisioned on its sparse file and the pool ran out,
///   which is what the status says, and Linux hands it to the host's file
///   system as ENOSPC (BLK_STS_NOSPC) where Write Fault would be a media
///   error (BLK_STS_MEDIUM). Retrying cannot help until space is freed.
/// - EIO on a read: Unrecovered Read Error (SCT 2h, SC 81h); any other
///   write error (EIO, EROFS, ...): Write Fault (SCT 2h, SC 80h). Both
///   leave DNR clear, as a media error may be transient (QEMU's
///   nvme_aio_err() answers the same).
/// - Any other read error: Internal Error (SCT 0h, SC 06h).
/// Flush failures are write failures. Pure; any thread.
[[nodiscard]] nvme::Status storage_status(std::error_code ec, StorageAccess access) noexcept;

} // namespace nvmecuse::emu
