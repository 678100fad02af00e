#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <system_error>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <utility>

namespace nvmecuse::transport {

/// An owned byte buffer for command data or metadata.
///
/// Where it comes from decides who can reach it: DataBuffer(size) is plain
/// heap (malloc-aligned, 16 bytes: enough for every spec structure); a
/// transport's DeviceMemory hands out buffers the controller can reach by
/// DMA, with their device_address() (an IOVA for PCIe), and takes them back
/// when they are destroyed. The core and the CUSE layer ask the transport
/// (Controller::memory()), so data is never bounced on the way.
///
/// Commands own their buffers (they travel with the command through the
/// mailbox and come back in its result), so a caller that goes away while a
/// command is in flight never leaves the controller writing to freed memory.
/// Contents are uninitialised after construction. Move-only.
class DataBuffer {
public:
    /// Takes back what a DeviceMemory handed out. Thread-safe: a buffer may
    /// be destroyed on any thread.
    class Releaser {
    public:
        virtual void release(std::byte* bytes, std::size_t size) noexcept = 0;

    protected:
        ~Releaser() = default;
    };

    DataBuffer() = default;
    /// Allocates `size` uninitialised heap bytes; throws std::bad_alloc on failure.
    explicit DataBuffer(std::size_t size) : size_(size)
    {
        if (size == 0) return;
        // Plain malloc: its per-thread cache serves the hot 4 KiB case without
        // the locking and splitting that aligned_alloc(4096) costs.
        void* p = std::malloc(size);
        if (p == nullptr) throw std::bad_alloc();
        bytes_ = static_cast<std::byte*>(p);
    }
    /// A buffer of a DeviceMemory: `bytes` go back to `owner` on destruction.
    DataBuffer(std::byte* bytes, std::size_t size, std::uint64_t device_address,
               Releaser& owner) noexcept
        : bytes_(bytes), size_(size), device_address_(device_address), owner_(&owner)
    {
    }
    DataBuffer(DataBuffer&& other) noexcept
        : bytes_(std::exchange(other.bytes_, nullptr)), size_(std::exchange(other.size_, 0)),
          device_address_(std::exchange(other.device_address_, 0)),
          owner_(std::exchange(other.owner_, nullptr))
    {
    }
    DataBuffer& operator=(DataBuffer&& other) noexcept
    {
        if (this != &other) {
            reset();
            bytes_ = std::exchange(other.bytes_, nullptr);
            size_ = std::exchange(other.size_, 0);
            device_address_ = std::exchange(other.device_address_, 0);
            owner_ = std::exchange(other.owner_, nullptr);
        }
        return *this;
    }
    DataBuffer(const DataBuffer&) = delete;
    DataBuffer& operator=(const DataBuffer&) = delete;
    ~DataBuffer() { reset(); }

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

    [[nodiscard]] std::byte* data() noexcept { return bytes_; }
    [[nodiscard]] const std::byte* data() const noexcept { return bytes_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::span<std::byte> span() noexcept { return {data(), size_}; }
    [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data(), size_}; }
    /// Where the controller reaches data(): the IOVA of a VFIO-mapped
    /// buffer; 0 for heap memory, which only copying transports take.
    [[nodiscard]] std::uint64_t device_address() const noexcept { return device_address_; }

    /// Views the start of the buffer as a trivially copyable T (sizeof(T) <= size()).
    template <class T> [[nodiscard]] T& as() noexcept { return *std::launder(reinterpret_cast<T*>(data())); }
    template <class T> [[nodiscard]] const T& as() const noexcept { return *std::launder(reinterpret_cast<const T*>(data())); }

private:
    void reset() noexcept
    {
        if (bytes_ == nullptr) return;
        if (owner_ != nullptr)
            owner_->release(bytes_, size_);
        else
            std::free(bytes_);
        bytes_ = nullptr;
    }

    std::byte* bytes_ = nullptr;
    std::size_t size_ = 0;
    std::uint64_t device_address_ = 0;
    Releaser* owner_ = nullptr; ///< null: heap (free())
};

/// Memory a controller can reach, from the transport that drives it
/// (NVMe Base 2.0, 4.1: PRP/SGL name host memory by the address the device
/// uses). PCIe hands out VFIO-mapped memory with its IOVA; transports that
/// copy into their medium (NVMe/TCP, the emulator) hand out heap.
class DeviceMemory {
public:
    virtual ~DeviceMemory() = default;
    /// Required. Any thread. `size` uninitialised bytes the controller can
    /// reach. Errors: `not_enough_memory` (ENOMEM) when none is left; never
    /// throws.
    [[nodiscard]] virtual std::expected<DataBuffer, std::error_code> allocate(std::size_t size) = 0;
};

/// The heap as DeviceMemory: malloc, for transports that copy. Any thread.
[[nodiscard]] DeviceMemory& heap_memory() noexcept;

/// `size` bytes from `memory` for data the controller returns: zeroed
/// unless the transport writes every byte (TransportInfo::fills_host_buffers),
/// so old memory contents never reach a caller.
[[nodiscard]] inline std::expected<DataBuffer, std::error_code>
allocate_for_controller_data(DeviceMemory& memory, std::size_t size, bool transport_fills)
{
    auto b = memory.allocate(size);
    if (b && !transport_fills && size != 0) std::memset(b->data(), 0, size);
    return b;
}

} // namespace nvmecuse::transport
