#include "nvmecuse/cuse/claim.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>
#include <string_view>
#include <utility>

#include "nvmecuse/errno.hpp"
#include "nvmecuse/transport/unique_fd.hpp"

namespace nvmecuse::cuse {
namespace {

using transport::UniqueFd;

bool same_file(const struct stat& a, const struct stat& b)
{
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/// Why opening `dir` with O_NOFOLLOW|O_DIRECTORY failed with `error`.
std::error_code classify_directory_error(const std::filesystem::path& dir, int error)
{
    struct stat st {};
    if ((error == ELOOP || error == ENOTDIR) && ::lstat(dir.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) return ClaimErrc::directory_is_symlink;
        if (!S_ISDIR(st.st_mode)) return ClaimErrc::not_a_directory;
    }
    return errno_code(error);
}

/// Opens the lock directory, creating it 0700 when missing, and checks that
/// only we can create or replace files in it.
std::expected<UniqueFd, std::error_code> open_lock_directory(const std::filesystem::path& dir)
{
    constexpr int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    bool created = false;
    int fd = ::open(dir.c_str(), flags);
    if (fd < 0 && errno == ENOENT) {
        if (::mkdir(dir.c_str(), 0700) == 0)
            created = true;
        else if (errno != EEXIST) // another daemon may have just made it
            return std::unexpected(last_errno());
        fd = ::open(dir.c_str(), flags);
    }
    if (fd < 0) return std::unexpected(classify_directory_error(dir, errno));
    UniqueFd dir_fd(fd);

    // The umask may have taken bits away; 0700 exactly is what we promise.
    if (created && ::fchmod(dir_fd.get(), 0700) != 0) return std::unexpected(last_errno());

    struct stat st {};
    if (::fstat(dir_fd.get(), &st) != 0) return std::unexpected(last_errno());
    if (st.st_uid != ::geteuid()) return std::unexpected(ClaimErrc::directory_wrong_owner);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return std::unexpected(ClaimErrc::directory_insecure_mode);
    return dir_fd;
}

/// Writes "<pid>\n" over the file's contents.
std::error_code write_pid(int fd)
{
    const std::string text = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0) return last_errno();
    const ssize_t n = ::pwrite(fd, text.data(), text.size(), 0);
    if (n < 0) return last_errno();
    if (static_cast<std::size_t>(n) != text.size())
        return std::make_error_code(std::errc::io_error);
    return {};
}

/// Takes the write lock of `<dir>/nvme<n>.lock`; returns the locked fd.
std::expected<UniqueFd, std::error_code> lock_index(int dir_fd, unsigned n)
{
    const std::string name = lock_file_name(n);
    // A holder that releases unlinks the file while still locking it. We
    // may have opened that file just before the unlink and get its lock
    // right after: then our lock is on a nameless file that protects
    // nothing, so check the name still leads to our inode, and retry if
    // not. Each retry means another process made progress; the bound only
    // guards against a file system that keeps changing under us.
    constexpr int max_attempts = 64;
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        const int fd =
            ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == ELOOP) return std::unexpected(ClaimErrc::lock_file_is_symlink);
            return std::unexpected(last_errno());
        }
        UniqueFd lock_fd(fd);

        struct stat mine {};
        if (::fstat(lock_fd.get(), &mine) != 0) return std::unexpected(last_errno());
        if (!S_ISREG(mine.st_mode) || mine.st_uid != ::geteuid() || mine.st_nlink > 1)
            return std::unexpected(ClaimErrc::lock_file_insecure);

        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        lock.l_start = 0;
        lock.l_len = 0; // the whole file
        lock.l_pid = 0; // required for OFD locks
        int rc = 0;
        do {
            rc = ::fcntl(lock_fd.get(), F_OFD_SETLK, &lock);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            if (errno == EAGAIN || errno == EACCES) return std::unexpected(ClaimErrc::index_in_use);
            return std::unexpected(last_errno());
        }

        struct stat at_name {};
        if (::fstatat(dir_fd, name.c_str(), &at_name, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue; // unlinked by the previous holder
            return std::unexpected(last_errno());
        }
        if (!same_file(mine, at_name)) continue; // replaced by the next holder

        if (const auto ec = write_pid(lock_fd.get())) return std::unexpected(ec);
        return lock_fd;
    }
    return std::unexpected(ClaimErrc::index_in_use);
}

class ClaimCategory final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "nvmecuse.claim"; }
    [[nodiscard]] std::string message(int value) const override
    {
        switch (static_cast<ClaimErrc>(value)) {
        case ClaimErrc::directory_is_symlink:
            return "controller claim directory is a symbolic link (refusing to follow it)";
        case ClaimErrc::not_a_directory:
            return "controller claim directory exists but is not a directory";
        case ClaimErrc::directory_wrong_owner:
            return "controller claim directory is not owned by the daemon's effective user";
        case ClaimErrc::directory_insecure_mode:
            return "controller claim directory is group or world writable (expected mode 0700)";
        case ClaimErrc::lock_file_is_symlink:
            return "controller lock file is a symbolic link (refusing to follow it)";
        case ClaimErrc::lock_file_insecure:
            return "controller lock file is not a regular file of the daemon's user with one link";
        case ClaimErrc::index_in_use:
            return "controller index is claimed by another holder";
        case ClaimErrc::no_free_index:
            return "every controller index is claimed";
        }
        return "unknown claim error " + std::to_string(value);
    }
};

} // namespace

const std::error_category& claim_category() noexcept
{
    static const ClaimCategory category;
    return category;
}

std::error_code make_error_code(ClaimErrc e) noexcept
{
    return {static_cast<int>(e), claim_category()};
}

std::string lock_file_name(unsigned n)
{
    return "nvme" + std::to_string(n) + ".lock";
}

IndexClaim::IndexClaim(int dir_fd, int lock_fd, unsigned index, std::filesystem::path path) noexcept
    : dir_fd_(dir_fd), lock_fd_(lock_fd), index_(index), path_(std::move(path))
{
}

std::expected<IndexClaim, std::error_code>
IndexClaim::claim_lowest(const std::filesystem::path& dir, unsigned max)
{
    auto dir_fd = open_lock_directory(dir);
    if (!dir_fd) return std::unexpected(dir_fd.error());
    for (unsigned n = 0; n < max; ++n) {
        auto lock_fd = lock_index(dir_fd->get(), n);
        if (lock_fd)
            return IndexClaim(dir_fd->release(), lock_fd->release(), n, dir / lock_file_name(n));
        if (lock_fd.error() != ClaimErrc::index_in_use) return std::unexpected(lock_fd.error());
    }
    return std::unexpected(ClaimErrc::no_free_index);
}

std::expected<IndexClaim, std::error_code> IndexClaim::claim_exact(const std::filesystem::path& dir,
                                                                   unsigned n)
{
    auto dir_fd = open_lock_directory(dir);
    if (!dir_fd) return std::unexpected(dir_fd.error());
    auto lock_fd = lock_index(dir_fd->get(), n);
    if (!lock_fd) return std::unexpected(lock_fd.error());
    return IndexClaim(dir_fd->release(), lock_fd->release(), n, dir / lock_file_name(n));
}

std::expected<pid_t, std::error_code> IndexClaim::holder_pid(const std::filesystem::path& dir,
                                                             unsigned n)
{
    const auto path = dir / lock_file_name(n);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return std::unexpected(last_errno());
    char buffer[32];
    ssize_t len = 0;
    do {
        len = ::read(fd.get(), buffer, sizeof buffer);
    } while (len < 0 && errno == EINTR);
    if (len < 0) return std::unexpected(last_errno());

    std::string_view text(buffer, static_cast<std::size_t>(len));
    if (text.ends_with('\n')) text.remove_suffix(1);
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || pid <= 0)
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return pid;
}

IndexClaim::IndexClaim(IndexClaim&& other) noexcept
    : dir_fd_(std::exchange(other.dir_fd_, -1)), lock_fd_(std::exchange(other.lock_fd_, -1)),
      index_(other.index_), path_(std::move(other.path_))
{
}

IndexClaim& IndexClaim::operator=(IndexClaim&& other) noexcept
{
    if (this != &other) {
        release();
        dir_fd_ = std::exchange(other.dir_fd_, -1);
        lock_fd_ = std::exchange(other.lock_fd_, -1);
        index_ = other.index_;
        path_ = std::move(other.path_);
    }
    return *this;
}

IndexClaim::~IndexClaim()
{
    release();
}

void IndexClaim::release() noexcept
{
    if (lock_fd_ >= 0) {
        // Still locked here, so the name is ours unless someone outside the
        // protocol replaced it; only then is it left alone.
        const std::string name = lock_file_name(index_);
        struct stat mine {};
        struct stat at_name {};
        if (::fstat(lock_fd_, &mine) == 0 &&
            ::fstatat(dir_fd_, name.c_str(), &at_name, AT_SYMLINK_NOFOLLOW) == 0 &&
            same_file(mine, at_name))
            ::unlinkat(dir_fd_, name.c_str(), 0);
        ::close(lock_fd_); // drops the OFD lock
        lock_fd_ = -1;
    }
    if (dir_fd_ >= 0) {
        ::close(dir_fd_);
        dir_fd_ = -1;
    }
}

} // namespace nvmecuse::cuse
