// CRC32C for NVMe/TCP digests against the published check values: the
// CRC catalogue's "123456789" and RFC 3720 appendix B.4 (iSCSI, which
// NVMe/TCP 1.0 section 3.3.1.1 reuses), for the dispatching, table and
// SSE4.2 implementations alike.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "nvmecuse/transport/tcp/crc32c.hpp"

namespace {

using namespace nvmecuse::transport::tcp;

std::vector<std::byte> bytes_of(std::string_view s)
{
    std::vector<std::byte> v(s.size());
    for (std::size_t i = 0; i < s.size(); ++i)
        v[i] = static_cast<std::byte>(s[i]);
    return v;
}

std::vector<std::byte> filled(std::size_t n, uint8_t value)
{
    return std::vector<std::byte>(n, static_cast<std::byte>(value));
}

std::vector<std::byte> counting(bool up)
{
    std::vector<std::byte> v(32);
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<std::byte>(up ? i : 31 - i);
    return v;
}

struct Vector {
    std::string_view name;
    std::vector<std::byte> input;
    uint32_t expected;
};

std::vector<Vector> vectors()
{
    return {
        {"check value 123456789", bytes_of("123456789"), 0xE3069283u},
        {"RFC 3720 B.4: 32 bytes of zeros", filled(32, 0x00), 0x8A9136AAu},
        {"RFC 3720 B.4: 32 bytes of 0xff", filled(32, 0xff), 0x62A8AB43u},
        {"RFC 3720 B.4: 32 incrementing bytes", counting(true), 0x46DD794Eu},
        {"RFC 3720 B.4: 32 decrementing bytes", counting(false), 0x113FDB5Cu},
        {"empty input", {}, 0x00000000u},
    };
}

uint32_t portable(std::span<const std::byte> b)
{
    return ~detail::crc32c_update_portable(~0u, b);
}

uint32_t hardware(std::span<const std::byte> b)
{
    return ~detail::crc32c_update_hardware(~0u, b);
}

TEST(Crc32c, StandardVectors)
{
    for (const auto& v : vectors()) {
        EXPECT_EQ(crc32c(v.input), v.expected) << v.name;
        EXPECT_EQ(portable(v.input), v.expected) << v.name;
    }
}

TEST(Crc32c, HardwarePathMatchesVectors)
{
    if (!detail::crc32c_hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
    for (const auto& v : vectors())
        EXPECT_EQ(hardware(v.input), v.expected) << v.name;
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment)
{
    if (!detail::crc32c_hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
    std::mt19937 rng(7);
    std::vector<std::byte> buffer(600);
    for (auto& b : buffer)
        b = static_cast<std::byte>(rng());
    for (std::size_t offset = 0; offset < 9; ++offset)
        for (std::size_t length = 0; length + offset <= 520; ++length) {
            const auto piece = std::span<const std::byte>(buffer).subspan(offset, length);
            ASSERT_EQ(hardware(piece), portable(piece)) << offset << "+" << length;
        }
}

TEST(Crc32c, IncrementalEqualsOneShotForEverySplit)
{
    const auto input = bytes_of("The quick brown fox jumps over the lazy dog");
    const uint32_t whole = crc32c(input);
    EXPECT_EQ(whole, 0x22620404u); // CRC-32C of the pangram, as catalogued
    for (std::size_t split = 0; split <= input.size(); ++split) {
        Crc32c c;
        c.update(std::span(input).first(split));
        c.update(std::span(input).subspan(split));
        ASSERT_EQ(c.value(), whole) << "split at " << split;
    }
    Crc32c c;
    c.update(input);
    c.reset();
    EXPECT_EQ(c.value(), 0u) << "reset forgets what was hashed";
}

} // namespace
