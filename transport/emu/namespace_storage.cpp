// Namespace backing store: sparse RAM or a sparse file, both mmap'ed.
#include "namespace_storage.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace nvmecuse::emu {

namespace {

std::error_code last_error()
{
    return {errno, std::system_category()};
}

std::uint64_t page_size()
{
    static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

/// Total bytes to map, or an error when they overflow size_t/off_t.
std::expected<std::size_t, std::error_code> total_size(std::uint64_t data, std::uint64_t metadata)
{
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
    if (data == 0 || data > max || metadata > max - data)
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return static_cast<std::size_t>(data + metadata);
}

} // namespace

std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
NamespaceStorage::create_ram(std::uint64_t data_bytes, std::uint64_t metadata_bytes)
{
    auto total = total_size(data_bytes, metadata_bytes);
    if (!total) return std::unexpected(total.error());
    void* p = ::mmap(nullptr, *total, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return std::unexpected(last_error());
    return std::unique_ptr<NamespaceStorage>(
        new NamespaceStorage(static_cast<std::byte*>(p), *total, data_bytes, metadata_bytes, -1));
}

std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
NamespaceStorage::open_file(const std::string& path, std::uint64_t data_bytes,
                            std::uint64_t metadata_bytes)
{
    auto total = total_size(data_bytes, metadata_bytes);
    if (!total) return std::unexpected(total.error());
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(last_error());
    struct stat st {};
    if (::fstat(fd, &st) != 0 || (static_cast<std::uint64_t>(st.st_size) < *total &&
                                  ::ftruncate(fd, static_cast<off_t>(*total)) != 0)) {
        const auto ec = last_error();
        ::close(fd);
        return std::unexpected(ec);
    }
    void* p = ::mmap(nullptr, *total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        const auto ec = last_error();
        ::close(fd);
        return std::unexpected(ec);
    }
    return std::unique_ptr<NamespaceStorage>(
        new NamespaceStorage(static_cast<std::byte*>(p), *total, data_bytes, metadata_bytes, fd));
}

NamespaceStorage::~NamespaceStorage()
{
    if (fd_ >= 0) ::msync(base_, mapped_, MS_SYNC);
    ::munmap(base_, mapped_);
    if (fd_ >= 0) ::close(fd_);
}

void NamespaceStorage::discard(std::uint64_t offset, std::uint64_t length) noexcept
{
    if (offset >= mapped_ || length == 0) return;
    length = std::min<std::uint64_t>(length, mapped_ - offset);
    const std::uint64_t page = page_size();
    const std::uint64_t first_page = (offset + page - 1) / page * page;
    const std::uint64_t end = offset + length;
    const std::uint64_t last_page = end / page * page;
    if (first_page >= last_page) { // no whole page inside
        std::memset(base_ + offset, 0, length);
        return;
    }
    std::memset(base_ + offset, 0, first_page - offset);
    std::memset(base_ + last_page, 0, end - last_page);
    const auto whole = last_page - first_page;
    bool done = false;
    if (fd_ >= 0) {
        done = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           static_cast<off_t>(first_page), static_cast<off_t>(whole)) == 0;
    } else {
        done = ::madvise(base_ + first_page, whole, MADV_DONTNEED) == 0;
    }
    if (!done) std::memset(base_ + first_page, 0, whole);
}

void NamespaceStorage::discard_data(std::uint64_t offset, std::uint64_t length) noexcept
{
    if (offset >= data_bytes_) return;
    discard(offset, std::min(length, data_bytes_ - offset));
}

void NamespaceStorage::discard_metadata(std::uint64_t offset, std::uint64_t length) noexcept
{
    if (offset >= metadata_bytes_) return;
    discard(data_bytes_ + offset, std::min(length, metadata_bytes_ - offset));
}

void NamespaceStorage::erase_all() noexcept
{
    discard(0, mapped_);
}

std::error_code NamespaceStorage::sync(std::uint64_t offset, std::uint64_t length) noexcept
{
    if (fd_ < 0 || length == 0 || offset >= mapped_) return {};
    length = std::min<std::uint64_t>(length, mapped_ - offset);
    const std::uint64_t page = page_size();
    const std::uint64_t start = offset / page * page;
    if (::msync(base_ + start, length + (offset - start), MS_SYNC) != 0) return last_error();
    return {};
}

std::error_code NamespaceStorage::flush() noexcept
{
    return sync(0, mapped_);
}

std::error_code NamespaceStorage::flush_data(std::uint64_t offset, std::uint64_t length) noexcept
{
    if (offset >= data_bytes_) return {};
    return sync(offset, std::min(length, data_bytes_ - offset));
}

} // namespace nvmecuse::emu
