// heap_memory(): DeviceMemory for transports that copy (NVMe/TCP, emu).
#include <cstdlib>
#include <memory_resource>
#include <new>

#include "nvmecuse/sanitizers.hpp"
#include "nvmecuse/transport/buffer.hpp"

namespace nvmecuse::transport {

namespace {

/// Buffers up to this size are recycled (a 4 KiB read or Identify, up to a
/// typical MDTS-sized I/O); larger ones come from malloc each time.
constexpr std::size_t largest_pooled = 128u << 10;
constexpr std::size_t buffer_alignment = 64;

class HeapMemory final : public DeviceMemory, public DataBuffer::Releaser {
public:
    std::expected<DataBuffer, std::error_code> allocate(std::size_t size) override
    {
        if (size == 0) return DataBuffer();
        void* p = nullptr;
        if (pooled(size)) {
            try {
                p = pool_.allocate(size, buffer_alignment);
            } catch (const std::bad_alloc&) {
                p = nullptr;
            }
        } else {
            p = std::malloc(size);
        }
        if (p == nullptr)
            return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
        return DataBuffer(static_cast<std::byte*>(p), size, 0, *this);
    }
    void release(std::byte* bytes, std::size_t size) noexcept override
    {
        if (pooled(size))
            pool_.deallocate(bytes, size, buffer_alignment);
        else
            std::free(bytes);
    }

private:
    /// Under AddressSanitizer every buffer comes from malloc, so a use after
    /// release is still reported.
    static bool pooled(std::size_t size) noexcept
    {
#ifdef NVMECUSE_ASAN
        (void)size;
        return false;
#else
        return size <= largest_pooled;
#endif
    }

    /// Keeps what it was given back (per size class, per thread, with the
    /// standard library's locking): steady-state I/O allocates no buffer.
    /// What it holds is bounded by the most buffers ever in flight at once.
    std::pmr::synchronized_pool_resource pool_{std::pmr::pool_options{
        .max_blocks_per_chunk = 32, .largest_required_pool_block = largest_pooled}};
};

} // namespace

DeviceMemory& heap_memory() noexcept
{
    // Never destroyed: a buffer may be released by a thread that outlives
    // static destruction at exit.
    static auto* heap = new HeapMemory;
    return *heap;
}

} // namespace nvmecuse::transport
