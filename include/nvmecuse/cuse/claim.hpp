// Claiming a controller index N, so that two daemons never expose the same
// /dev/nvmecuse/nvme<N> (docs/security.md).
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <string>
#include <system_error>

namespace nvmecuse::cuse {

/// Where the lock files live: root-only, under /run (a tmpfs, emptied at
/// boot), never a world-writable directory such as /var/tmp.
inline constexpr const char* default_claim_directory = "/run/nvmecuse";
/// Indexes tried by IndexClaim::claim_lowest() unless told otherwise.
inline constexpr unsigned default_max_controllers = 256;

/// Why a claim was refused, beyond plain errno values.
enum class ClaimErrc {
    directory_is_symlink = 1, ///< the lock directory is a symbolic link
    not_a_directory,          ///< the lock directory exists but is something else
    directory_wrong_owner,    ///< not owned by the daemon's effective uid
    directory_insecure_mode,  ///< group or world writable
    lock_file_is_symlink,     ///< nvme<N>.lock is a symbolic link
    lock_file_insecure,       ///< not a regular file owned by us with one link
    index_in_use,             ///< another open file description holds the lock
    no_free_index,            ///< every index below `max` is in use
};

/// The category of ClaimErrc ("nvmecuse.claim"); messages say what to fix.
[[nodiscard]] const std::error_category& claim_category() noexcept;
[[nodiscard]] std::error_code make_error_code(ClaimErrc e) noexcept;

/// Ownership of one controller index, held as an OFD write lock
/// (`fcntl(F_OFD_SETLK)`) on `<dir>/nvme<N>.lock`.
///
/// The lock belongs to the open file description, so it disappears when the
/// process dies however it dies: a stale lock file of a dead daemon is
/// reclaimed simply by trying. Two claims in one process conflict like claims
/// in two processes. The descriptors are O_CLOEXEC; a child made by fork()
/// without exec shares the lock until both have closed it. The file holds
/// the owner's pid in decimal, for diagnostics only (see holder_pid()).
///
/// Move-only. Destruction unlinks the lock file (only while the lock is still
/// held, so it never removes a file another daemon has locked since) and
/// releases the lock. Not thread-safe per object; distinct objects are
/// independent.
class IndexClaim {
public:
    /// Claims the lowest index in [0, max) whose lock is free.
    ///
    /// `dir` is created 0700 when missing (its parent must exist). It is
    /// refused when it is a symlink, not a directory, not owned by our euid
    /// or group/world writable (ClaimErrc); a lock file that is a symlink or
    /// not a regular file of ours is refused too rather than skipped.
    /// Errors: those, ClaimErrc::no_free_index, or an errno of mkdir/open/
    /// fcntl/write. Blocking file-system calls, no waiting for locks; any thread.
    [[nodiscard]] static std::expected<IndexClaim, std::error_code>
    claim_lowest(const std::filesystem::path& dir = default_claim_directory,
                 unsigned max = default_max_controllers);

    /// Claims exactly index `n`. Errors as claim_lowest(), and
    /// ClaimErrc::index_in_use when another holder has it.
    [[nodiscard]] static std::expected<IndexClaim, std::error_code>
    claim_exact(const std::filesystem::path& dir, unsigned n);

    /// The pid written into `<dir>/nvme<n>.lock` by its last holder (which
    /// may be dead: use only in messages such as "nvme0 is held by pid 42").
    /// Errors: errno of open/read, invalid_argument for unparsable contents.
    [[nodiscard]] static std::expected<pid_t, std::error_code>
    holder_pid(const std::filesystem::path& dir, unsigned n);

    IndexClaim(IndexClaim&& other) noexcept;
    IndexClaim& operator=(IndexClaim&& other) noexcept;
    IndexClaim(const IndexClaim&) = delete;
    IndexClaim& operator=(const IndexClaim&) = delete;
    ~IndexClaim();

    /// N of /dev/nvmecuse/nvme<N>.
    [[nodiscard]] unsigned index() const noexcept { return index_; }
    /// `<dir>/nvme<N>.lock`.
    [[nodiscard]] const std::filesystem::path& lock_path() const noexcept { return path_; }
    /// False after being moved from or released.
    [[nodiscard]] bool held() const noexcept { return lock_fd_ >= 0; }
    /// Unlinks the lock file and drops the lock now (what the destructor does).
    void release() noexcept;

private:
    IndexClaim(int dir_fd, int lock_fd, unsigned index, std::filesystem::path path) noexcept;

    int dir_fd_ = -1;
    int lock_fd_ = -1;
    unsigned index_ = 0;
    std::filesystem::path path_;
};

/// The lock file name of index `n`: "nvme<n>.lock".
[[nodiscard]] std::string lock_file_name(unsigned n);

} // namespace nvmecuse::cuse

template <> struct std::is_error_code_enum<nvmecuse::cuse::ClaimErrc> : std::true_type {
};
