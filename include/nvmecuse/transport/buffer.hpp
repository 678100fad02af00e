#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <utility>

namespace nvmecuse::transport {

/// An owned byte buffer for command data or metadata (malloc-aligned, 16
/// bytes: enough for every spec structure; transports that need DMA-able
/// or page-aligned memory bounce into their own).
///
/// Commands own their buffers (they travel with the command through the
/// mailbox and come back in its result), so a caller that goes away while a
/// command is in flight never leaves the controller writing to freed memory.
/// Contents are uninitialised after construction. Move-only.
class DataBuffer {
public:
    DataBuffer() = default;
    /// Allocates `size` uninitialised bytes; throws std::bad_alloc on failure.
    explicit DataBuffer(std::size_t size) : size_(size)
    {
        if (size == 0) return;
        // Plain malloc: its per-thread cache serves the hot 4 KiB case without
        // the locking and splitting that aligned_alloc(4096) costs.
        void* p = std::malloc(size);
        if (p == nullptr) throw std::bad_alloc();
        bytes_.reset(static_cast<std::byte*>(p));
    }
    /// A buffer holding a copy of `bytes`.
    static DataBuffer copy_of(std::span<const std::byte> bytes)
    {
        DataBuffer b(bytes.size());
        if (!bytes.empty()) std::memcpy(b.data(), bytes.data(), bytes.size());
        return b;
    }
    /// A buffer of `size` zero bytes.
    static DataBuffer zeroed(std::size_t size)
    {
        DataBuffer b(size);
        if (size != 0) std::memset(b.data(), 0, size);
        return b;
    }

    /// A buffer for data the controller returns: uninitialised when the
    /// transport writes every byte of it (TransportInfo::fills_host_buffers),
    /// otherwise zeroed, so that what the controller leaves unwritten is
    /// zeroes and never old heap contents.
    static DataBuffer for_controller_data(std::size_t size, bool transport_fills)
    {
        return transport_fills ? DataBuffer(size) : zeroed(size);
    }

    [[nodiscard]] std::byte* data() noexcept { return bytes_.get(); }
    [[nodiscard]] const std::byte* data() const noexcept { return bytes_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::span<std::byte> span() noexcept { return {data(), size_}; }
    [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data(), size_}; }

    /// Views the start of the buffer as a trivially copyable T (sizeof(T) <= size()).
    template <class T> [[nodiscard]] T& as() noexcept { return *std::launder(reinterpret_cast<T*>(data())); }
    template <class T> [[nodiscard]] const T& as() const noexcept { return *std::launder(reinterpret_cast<const T*>(data())); }

private:
    struct Free {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<std::byte, Free> bytes_;
    std::size_t size_ = 0;
};

} // namespace nvmecuse::transport
