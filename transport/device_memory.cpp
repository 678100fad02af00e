// heap_memory(): DeviceMemory for transports that copy (NVMe/TCP, emu).
#include <cstdlib>

#include "nvmecuse/transport/buffer.hpp"

namespace nvmecuse::transport {

namespace {
class HeapMemory final : public DeviceMemory, public DataBuffer::Releaser {
public:
    std::expected<DataBuffer, std::error_code> allocate(std::size_t size) override
    {
        if (size == 0) return DataBuffer();
        void* p = std::malloc(size);
        if (p == nullptr)
            return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
        return DataBuffer(static_cast<std::byte*>(p), size, 0, *this);
    }
    void release(std::byte* bytes, std::size_t) noexcept override { std::free(bytes); }
};
} // namespace

DeviceMemory& heap_memory() noexcept
{
    static HeapMemory heap;
    return heap;
}

} // namespace nvmecuse::transport
