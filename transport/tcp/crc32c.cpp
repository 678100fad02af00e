// CRC32C: a 256-entry table built at compile time, and the SSE4.2 path
// selected once at run time (cpuid). See crc32c.hpp.
#include "nvmecuse/transport/tcp/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace nvmecuse::transport::tcp {

namespace {

/// Castagnoli polynomial 0x1EDC6F41, bit-reversed (LSB-first processing).
constexpr uint32_t castagnoli_reflected = 0x82F63B78u;

constexpr std::array<uint32_t, 256> make_table() noexcept
{
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t r = i;
        for (int bit = 0; bit < 8; ++bit)
            r = (r & 1u) != 0 ? (r >> 1) ^ castagnoli_reflected : r >> 1;
        table[i] = r;
    }
    return table;
}
constexpr std::array<uint32_t, 256> table = make_table();
static_assert(table[0] == 0 && table[128] == castagnoli_reflected);

using UpdateFn = uint32_t (*)(uint32_t, std::span<const std::byte>) noexcept;

UpdateFn select_update() noexcept
{
    return detail::crc32c_hardware_available() ? detail::crc32c_update_hardware
                                               : detail::crc32c_update_portable;
}

uint32_t update(uint32_t state, std::span<const std::byte> bytes) noexcept
{
    static const UpdateFn fn = select_update();
    return fn(state, bytes);
}

} // namespace

namespace detail {

uint32_t crc32c_update_portable(uint32_t state, std::span<const std::byte> bytes) noexcept
{
    for (const std::byte b : bytes)
        state = (state >> 8) ^ table[(state ^ std::to_integer<uint32_t>(b)) & 0xffu];
    return state;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) uint32_t
crc32c_update_hardware(uint32_t state, std::span<const std::byte> bytes) noexcept
{
    const std::byte* p = bytes.data();
    std::size_t n = bytes.size();
    uint64_t wide = state;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t word; // unaligned input: memcpy, not a cast
        std::memcpy(&word, p, sizeof word);
        wide = _mm_crc32_u64(wide, word);
    }
    auto narrow = static_cast<uint32_t>(wide);
    for (; n > 0; --n, ++p)
        narrow = _mm_crc32_u8(narrow, std::to_integer<uint8_t>(*p));
    return narrow;
}

bool crc32c_hardware_available() noexcept
{
    return __builtin_cpu_supports("sse4.2");
}

#else

uint32_t crc32c_update_hardware(uint32_t state, std::span<const std::byte> bytes) noexcept
{
    return crc32c_update_portable(state, bytes);
}

bool crc32c_hardware_available() noexcept
{
    return false;
}

#endif

} // namespace detail

uint32_t crc32c(std::span<const std::byte> bytes) noexcept
{
    return ~update(~uint32_t{0}, bytes);
}

void Crc32c::update(std::span<const std::byte> bytes) noexcept
{
    state_ = tcp::update(state_, bytes);
}

} // namespace nvmecuse::transport::tcp
