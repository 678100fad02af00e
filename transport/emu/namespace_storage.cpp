// Namespace backing store: sparse anonymous RAM, or a sparse file accessed
// with preadv/pwritev (never mapped, so storage errors are errors, not SIGBUS).
#include "namespace_storage.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>

#include "nvmecuse/errno.hpp"

namespace nvmecuse::emu {

namespace {

std::error_code invalid_range()
{
    return std::make_error_code(std::errc::invalid_argument);
}

std::uint64_t page_size()
{
    static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

/// Total bytes of storage, or an error when they overflow size_t/off_t.
std::expected<std::uint64_t, std::error_code> total_size(std::uint64_t data, std::uint64_t metadata)
{
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
    if (data == 0 || data > max || metadata > max - data || data + metadata > SIZE_MAX)
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return data + metadata;
}

std::uint64_t total_length(std::span<const iovec> iov)
{
    std::uint64_t n = 0;
    for (const iovec& v : iov)
        n += v.iov_len;
    return n;
}

enum class Direction : std::uint8_t { read, write };

/// preadv/pwritev of all of `iov` at `offset`: batches of IOV_MAX, short
/// transfers continued, EINTR retried. A read that reaches the end of the
/// file zero-fills the rest.
std::error_code transfer(int fd, Direction direction, std::uint64_t offset,
                         std::span<const iovec> iov) noexcept
{
    constexpr std::size_t batch_max = IOV_MAX;
    std::array<iovec, batch_max> batch{};
    while (!iov.empty()) {
        const std::size_t count = std::min(iov.size(), batch_max);
        std::copy_n(iov.begin(), count, batch.begin());
        iov = iov.subspan(count);
        std::size_t first = 0; // first iovec of the batch not yet done
        while (first < count) {
            if (batch[first].iov_len == 0) {
                ++first;
                continue;
            }
            const auto n = direction == Direction::read
                               ? ::preadv(fd, &batch[first], static_cast<int>(count - first),
                                          static_cast<off_t>(offset))
                               : ::pwritev(fd, &batch[first], static_cast<int>(count - first),
                                           static_cast<off_t>(offset));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return last_errno();
            if (n == 0) {
                // pwritev of a non-empty buffer does not return 0 on a regular
                // file; a read at the end of the file does.
                if (direction == Direction::write) return std::make_error_code(std::errc::io_error);
                for (std::size_t i = first; i < count; ++i)
                    std::memset(batch[i].iov_base, 0, batch[i].iov_len);
                offset += total_length(std::span(batch).subspan(first, count - first));
                break;
            }
            offset += static_cast<std::uint64_t>(n);
            auto left = static_cast<std::size_t>(n);
            while (left > 0 && left >= batch[first].iov_len) {
                left -= batch[first].iov_len;
                ++first;
            }
            if (left > 0) {
                batch[first].iov_base = static_cast<std::byte*>(batch[first].iov_base) + left;
                batch[first].iov_len -= left;
            }
        }
    }
    return {};
}

} // namespace

std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
NamespaceStorage::create_ram(std::uint64_t data_bytes, std::uint64_t metadata_bytes)
{
    auto total = total_size(data_bytes, metadata_bytes);
    if (!total) return std::unexpected(total.error());
    void* p = ::mmap(nullptr, static_cast<std::size_t>(*total), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return std::unexpected(last_errno());
    return std::unique_ptr<NamespaceStorage>(
        new NamespaceStorage(static_cast<std::byte*>(p), data_bytes, metadata_bytes, -1));
}

std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
NamespaceStorage::open_file(const std::string& path, std::uint64_t data_bytes,
                            std::uint64_t metadata_bytes)
{
    auto total = total_size(data_bytes, metadata_bytes);
    if (!total) return std::unexpected(total.error());
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(last_errno());
    struct stat st {};
    if (::fstat(fd, &st) != 0 || (static_cast<std::uint64_t>(st.st_size) < *total &&
                                  ::ftruncate(fd, static_cast<off_t>(*total)) != 0)) {
        const auto ec = last_errno();
        ::close(fd);
        return std::unexpected(ec);
    }
    return std::unique_ptr<NamespaceStorage>(
        new NamespaceStorage(nullptr, data_bytes, metadata_bytes, fd));
}

NamespaceStorage::~NamespaceStorage()
{
    if (fd_ >= 0) {
        (void)::fdatasync(fd_);
        ::close(fd_);
    } else {
        ::munmap(base_, static_cast<std::size_t>(total()));
    }
}

std::expected<std::uint64_t, std::error_code>
NamespaceStorage::locate(Region region, std::uint64_t offset, std::uint64_t length) const noexcept
{
    const std::uint64_t size = region == Region::data ? data_bytes_ : metadata_bytes_;
    if (offset > size || length > size - offset) return std::unexpected(invalid_range());
    return region == Region::data ? offset : data_bytes_ + offset;
}

std::error_code NamespaceStorage::read(Region region, std::uint64_t offset,
                                       std::span<const iovec> to) noexcept
{
    auto at = locate(region, offset, total_length(to));
    if (!at) return at.error();
    if (fd_ >= 0) return transfer(fd_, Direction::read, *at, to);
    for (const iovec& v : to) {
        std::memcpy(v.iov_base, base_ + *at, v.iov_len);
        *at += v.iov_len;
    }
    return {};
}

std::error_code NamespaceStorage::write(Region region, std::uint64_t offset,
                                        std::span<const iovec> from) noexcept
{
    auto at = locate(region, offset, total_length(from));
    if (!at) return at.error();
    if (fd_ >= 0) return transfer(fd_, Direction::write, *at, from);
    for (const iovec& v : from) {
        std::memcpy(base_ + *at, v.iov_base, v.iov_len);
        *at += v.iov_len;
    }
    return {};
}

std::error_code NamespaceStorage::read(Region region, std::uint64_t offset,
                                       std::span<std::byte> to) noexcept
{
    const iovec v{to.data(), to.size()};
    return read(region, offset, std::span(&v, 1));
}

std::error_code NamespaceStorage::write(Region region, std::uint64_t offset,
                                        std::span<const std::byte> from) noexcept
{
    // pwritev does not write through iov_base.
    const iovec v{const_cast<std::byte*>(from.data()), from.size()};
    return write(region, offset, std::span(&v, 1));
}

std::error_code NamespaceStorage::zero(std::uint64_t at, std::uint64_t length) noexcept
{
    if (length == 0) return {};
    if (fd_ < 0) {
        std::memset(base_ + at, 0, static_cast<std::size_t>(length));
        return {};
    }
    static constexpr std::array<std::byte, 64 * 1024> zeroes{};
    while (length > 0) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, zeroes.size()));
        const iovec v{const_cast<std::byte*>(zeroes.data()), n};
        if (auto ec = transfer(fd_, Direction::write, at, std::span(&v, 1))) return ec;
        at += n;
        length -= n;
    }
    return {};
}

std::error_code NamespaceStorage::discard(Region region, std::uint64_t offset,
                                          std::uint64_t length) noexcept
{
    auto start = locate(region, offset, length);
    if (!start) return start.error();
    if (length == 0) return {};
    if (fd_ >= 0) {
        // The file system zeroes partial blocks itself and frees whole ones;
        // nothing is allocated, so this cannot fail for lack of space.
        if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(*start),
                        static_cast<off_t>(length)) == 0)
            return {};
        return zero(*start, length);
    }
    const std::uint64_t page = page_size();
    const std::uint64_t first_page = (*start + page - 1) / page * page;
    const std::uint64_t end = *start + length;
    const std::uint64_t last_page = end / page * page;
    if (first_page >= last_page) return zero(*start, length); // no whole page inside
    if (auto ec = zero(*start, first_page - *start)) return ec;
    if (auto ec = zero(last_page, end - last_page)) return ec;
    const auto whole = last_page - first_page;
    if (::madvise(base_ + first_page, static_cast<std::size_t>(whole), MADV_DONTNEED) == 0)
        return {};
    return zero(first_page, whole);
}

std::error_code NamespaceStorage::erase_all() noexcept
{
    if (auto ec = discard(Region::data, 0, data_bytes_)) return ec;
    return discard(Region::metadata, 0, metadata_bytes_);
}

std::error_code NamespaceStorage::flush() noexcept
{
    if (fd_ < 0) return {};
    while (::fdatasync(fd_) != 0) {
        if (errno != EINTR) return last_errno();
    }
    return {};
}

std::error_code NamespaceStorage::flush_data(std::uint64_t offset, std::uint64_t length) noexcept
{
    if (fd_ < 0 || length == 0) return {};
    if (auto at = locate(Region::data, offset, length); !at) return at.error();
    return flush();
}

} // namespace nvmecuse::emu
