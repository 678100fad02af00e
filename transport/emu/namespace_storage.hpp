#pragma once

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
/// RAM storage is one private anonymous MAP_NORESERVE mapping: sparse, a
/// 1 TiB namespace costs nothing until written, unwritten bytes read as zero.
/// File storage is one shared mapping of a sparse file laid out as
/// [data][metadata]; what is written survives the process.
///
/// Threading: owned by the EmulatedController; single-threaded.
class NamespaceStorage {
public:
    /// Sparse RAM storage. Errors: the errno of mmap (ENOMEM).
    [[nodiscard]] static std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
    create_ram(std::uint64_t data_bytes, std::uint64_t metadata_bytes);

    /// Storage in the file at `path` (created sparse when missing, grown to
    /// data + metadata bytes when shorter, never shrunk). Errors: the errno
    /// of open/ftruncate/mmap.
    [[nodiscard]] static std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
    open_file(const std::string& path, std::uint64_t data_bytes, std::uint64_t metadata_bytes);

    ~NamespaceStorage();
    NamespaceStorage(const NamespaceStorage&) = delete;
    NamespaceStorage& operator=(const NamespaceStorage&) = delete;

    [[nodiscard]] std::span<std::byte> data() noexcept { return {base_, data_bytes_}; }
    [[nodiscard]] std::span<std::byte> metadata() noexcept
    {
        return {base_ + data_bytes_, metadata_bytes_};
    }
    [[nodiscard]] bool file_backed() const noexcept { return fd_ >= 0; }

    /// Zeroes [offset, offset+length) of the data region, returning whole
    /// pages to the system (MADV_DONTNEED / FALLOC_FL_PUNCH_HOLE) and
    /// clearing the partial pages at the edges. The range must lie inside.
    void discard_data(std::uint64_t offset, std::uint64_t length) noexcept;
    /// The same for the metadata region.
    void discard_metadata(std::uint64_t offset, std::uint64_t length) noexcept;
    /// Zeroes everything (Format NVM).
    void erase_all() noexcept;

    /// Makes written data durable (msync for files; nothing for RAM).
    [[nodiscard]] std::error_code flush() noexcept;
    /// Durability for one range of the data region (FUA).
    [[nodiscard]] std::error_code flush_data(std::uint64_t offset, std::uint64_t length) noexcept;

private:
    NamespaceStorage(std::byte* base, std::size_t mapped, std::uint64_t data_bytes,
                     std::uint64_t metadata_bytes, int fd) noexcept
        : base_(base), mapped_(mapped), data_bytes_(data_bytes), metadata_bytes_(metadata_bytes),
          fd_(fd)
    {
    }
    /// Zeroes [offset, offset+length) of the whole mapping.
    void discard(std::uint64_t offset, std::uint64_t length) noexcept;
    std::error_code sync(std::uint64_t offset, std::uint64_t length) noexcept;

    std::byte* base_;
    std::size_t mapped_;
    std::uint64_t data_bytes_;
    std::uint64_t metadata_bytes_;
    int fd_; ///< -1 for RAM
};

} // namespace nvmecuse::emu
