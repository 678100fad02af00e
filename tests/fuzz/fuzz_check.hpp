// What every fuzz target shares: FUZZ_CHECK, an invariant that stays on in
// every build type (assert() would vanish under NDEBUG) and aborts with the
// failed condition, which libFuzzer reports as a crash and saves the input
// of; and a reader that takes fixed-width fields off the front of the input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#define FUZZ_CHECK(condition)                                                                  \
    do {                                                                                       \
        if (!(condition)) {                                                                    \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (false)

namespace nvmecuse::fuzz {

/// Reads the fuzz input front to back: fixed-width little-endian fields,
/// zero once the input is exhausted, then the rest as bytes. Seed files are
/// written in the same order (tests/fuzz/make-corpus).
class InputReader {
public:
    InputReader(const std::uint8_t* data, std::size_t size) : bytes_(data, size) {}

    template <class T> [[nodiscard]] T take() noexcept
    {
        T v{};
        const std::size_t n = std::min(sizeof v, bytes_.size());
        std::memcpy(&v, bytes_.data(), n);
        bytes_ = bytes_.subspan(n);
        return v;
    }
    [[nodiscard]] std::span<const std::uint8_t> take_bytes(std::size_t n) noexcept
    {
        const auto out = bytes_.first(std::min(n, bytes_.size()));
        bytes_ = bytes_.subspan(out.size());
        return out;
    }
    [[nodiscard]] std::span<const std::uint8_t> rest() noexcept { return take_bytes(bytes_.size()); }
    [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size(); }

private:
    std::span<const std::uint8_t> bytes_;
};

/// A small deterministic generator (xorshift64*) for choices that must not
/// eat input bytes, such as how a stream is cut into chunks.
class Xorshift {
public:
    explicit Xorshift(std::uint64_t seed) : state_(seed | 1u) {}
    std::uint64_t next() noexcept
    {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1Dull;
    }
    /// 1..max (max >= 1), small values more often than large ones.
    std::size_t chunk(std::size_t max) noexcept
    {
        const std::uint64_t r = next();
        const std::size_t cap = (r & 3u) == 0 ? max : std::min<std::size_t>(max, 1u << (r >> 2) % 9);
        return 1 + static_cast<std::size_t>((r >> 8) % cap);
    }

private:
    std::uint64_t state_;
};

} // namespace nvmecuse::fuzz
