// Memory on the stack for a function's temporary containers: a std::pmr
// monotonic resource over an inline buffer, falling back to the heap only
// past it. The per-ioctl path's iovec lists and write lists (a few entries
// each) then allocate nothing.
#pragma once

#include <array>
#include <cstddef>
#include <memory_resource>

namespace nvmecuse::cuse {

template <std::size_t Bytes>
class StackArena {
public:
    StackArena() = default;
    StackArena(const StackArena&) = delete;
    StackArena& operator=(const StackArena&) = delete;
    [[nodiscard]] std::pmr::memory_resource* resource() noexcept { return &resource_; }

private:
    alignas(std::max_align_t) std::array<std::byte, Bytes> buffer_;
    std::pmr::monotonic_buffer_resource resource_{buffer_.data(), buffer_.size()};
};

} // namespace nvmecuse::cuse
