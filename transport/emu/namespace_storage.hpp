#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace nvmecuse::emu {

/// The bytes of one namespace: its user data (NSZE × LBA data size) and,
/// separately, its metadata (NSZE × metadata size). The I/O path interleaves
/// the two for extended-LBA formats; storage always keeps them apart.
///
/// RAM storage is one private anonymous MAP_NORESERVE mapping: unwritten
/// bytes read as zero and cost nothing. Anonymous memory never raises SIGBUS;
/// that it cannot exhaust the host is the caller's check (ram_budget_bytes()).
///
/// File storage is a file laid out as [data][metadata], accessed with
/// preadv/pwritev only, never mapped: a full file system, a truncated file
/// or a media error is an error code here, never SIGBUS. Bytes past the end
/// of the file (after an external truncate) and holes read as zero. What is
/// written survives the process.
///
/// Errors are the errno of the failing system call: ENOSPC, EDQUOT, EFBIG
/// (file system or quota full, or RLIMIT_FSIZE), EIO (media), EINVAL (a
/// range outside the region). RAM storage never fails a read or a write.
///
/// Threading: owned by the EmulatedController; single-threaded.
class NamespaceStorage {
public:
    /// Sparse RAM storage. Errors: the errno of mmap (ENOMEM).
    [[nodiscard]] static std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
    create_ram(std::uint64_t data_bytes, std::uint64_t metadata_bytes);

    /// Storage in the file at `path` (created sparse when missing, grown to
    /// data + metadata bytes when shorter, never shrunk). Errors: the errno
    /// of open/fstat/ftruncate.
    [[nodiscard]] static std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
    open_file(const std::string& path, std::uint64_t data_bytes, std::uint64_t metadata_bytes);

    ~NamespaceStorage();
    NamespaceStorage(const NamespaceStorage&) = delete;
    NamespaceStorage& operator=(const NamespaceStorage&) = delete;

    /// Which half of the storage an offset is relative to.
    enum class Region : std::uint8_t { data, metadata };

    [[nodiscard]] std::uint64_t data_bytes() const noexcept { return data_bytes_; }
    [[nodiscard]] std::uint64_t metadata_bytes() const noexcept { return metadata_bytes_; }
    [[nodiscard]] bool file_backed() const noexcept { return fd_ >= 0; }

    /// Scatters the bytes of `region` starting at `offset` into `to`, in
    /// order, as preadv does. Short reads and EINTR are retried; bytes past
    /// the end of the file read as zero. Errors: EIO and the rest of preadv's,
    /// EINVAL when the range leaves the region.
    [[nodiscard]] std::error_code read(Region region, std::uint64_t offset,
                                       std::span<const iovec> to) noexcept;
    /// Gathers `from` into `region` starting at `offset`, as pwritev does.
    /// Short writes and EINTR are retried. Errors: ENOSPC/EDQUOT/EFBIG, EIO
    /// and the rest of pwritev's, EINVAL when the range leaves the region.
    /// After an error, a prefix of the range may hold the new bytes.
    [[nodiscard]] std::error_code write(Region region, std::uint64_t offset,
                                        std::span<const iovec> from) noexcept;
    /// One contiguous buffer.
    [[nodiscard]] std::error_code read(Region region, std::uint64_t offset,
                                       std::span<std::byte> to) noexcept;
    [[nodiscard]] std::error_code write(Region region, std::uint64_t offset,
                                        std::span<const std::byte> from) noexcept;

    /// Zeroes [offset, offset+length) of `region`, returning the space to
    /// the system: FALLOC_FL_PUNCH_HOLE for files (the file system zeroes
    /// partial blocks; nothing is allocated), MADV_DONTNEED for the whole
    /// pages of RAM. Where a file system cannot punch holes, zeroes are
    /// written. A later write into a punched hole allocates again and may
    /// then fail with ENOSPC. Errors: those of write() (only when zeroes are
    /// written); EINVAL when the range leaves the region.
    [[nodiscard]] std::error_code discard(Region region, std::uint64_t offset,
                                          std::uint64_t length) noexcept;
    /// Zeroes everything (Format NVM).
    [[nodiscard]] std::error_code erase_all() noexcept;

    /// Makes written data durable (fdatasync for files; nothing for RAM).
    [[nodiscard]] std::error_code flush() noexcept;
    /// Durability for one range of the data region (FUA): sync_file_range
    /// cannot report every error, so this is fdatasync too.
    [[nodiscard]] std::error_code flush_data(std::uint64_t offset, std::uint64_t length) noexcept;

private:
    NamespaceStorage(std::byte* base, std::uint64_t data_bytes, std::uint64_t metadata_bytes,
                     int fd) noexcept
        : base_(base), data_bytes_(data_bytes), metadata_bytes_(metadata_bytes), fd_(fd)
    {
    }
    /// Absolute offset of [offset, offset+length) of `region`, or nothing
    /// when the range leaves it.
    [[nodiscard]] std::expected<std::uint64_t, std::error_code>
    locate(Region region, std::uint64_t offset, std::uint64_t length) const noexcept;
    /// Zeroes [at, at+length) of the whole storage.
    [[nodiscard]] std::error_code zero(std::uint64_t at, std::uint64_t length) noexcept;
    [[nodiscard]] std::uint64_t total() const noexcept { return data_bytes_ + metadata_bytes_; }

    std::byte* base_; ///< the RAM mapping; nullptr for files
    std::uint64_t data_bytes_;
    std::uint64_t metadata_bytes_;
    int fd_; ///< -1 for RAM
};

} // namespace nvmecuse::emu
