// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
// NVMe/TCP header and data digests (NVMe TCP Transport 1.0, 3.3.1.1, which
// refers to RFC 3385; the same CRC as iSCSI, RFC 3720 B.4).
//
// Debian 12 ships no C/C++ CRC32C library (only python3-crc32c), so this is
// our own: a byte-wise table for any CPU and the SSE4.2 CRC32 instruction
// where cpuid reports it. Both give identical results; tests check both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace nvmecuse::transport::tcp {

/// CRC32C of `bytes`: initial value ~0, final complement, as the digests use
/// it. crc32c("123456789") == 0xE3069283. Thread-safe, allocation-free.
[[nodiscard]] uint32_t crc32c(std::span<const std::byte> bytes) noexcept;

/// Incremental CRC32C for data that arrives in pieces: the result of
/// update(a); update(b); value() equals crc32c(a ++ b).
class Crc32c {
public:
    void update(std::span<const std::byte> bytes) noexcept;
    [[nodiscard]] uint32_t value() const noexcept { return ~state_; }
    void reset() noexcept { state_ = ~uint32_t{0}; }

private:
    uint32_t state_ = ~uint32_t{0};
};

namespace detail {
/// Raw (uncomplemented) CRC32C register update, table-driven, any CPU.
[[nodiscard]] uint32_t crc32c_update_portable(uint32_t state,
                                              std::span<const std::byte> bytes) noexcept;
/// Raw register update with the SSE4.2 CRC32 instruction. Call only when
/// crc32c_hardware_available() is true.
[[nodiscard]] uint32_t crc32c_update_hardware(uint32_t state,
                                              std::span<const std::byte> bytes) noexcept;
/// True when this CPU has SSE4.2 (checked once with cpuid).
[[nodiscard]] bool crc32c_hardware_available() noexcept;
} // namespace detail

} // namespace nvmecuse::transport::tcp
