// Bit-field accessors, 128-bit counters and fixed-size string helpers shared
// by every spec/ header. Header-only, standard library only.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

static_assert(std::endian::native == std::endian::little,
              "nvmecuse spec/ structs mirror little-endian wire layouts; "
              "a big-endian host would need byte swapping");

namespace nvme {

// ---------------------------------------------------------------------------
// Bit fields
// ---------------------------------------------------------------------------

/// Mask of `width` low bits in T (width may equal the bit width of T).
template <class T> constexpr T low_mask(unsigned width) noexcept
{
    static_assert(std::is_unsigned_v<T>);
    return width >= sizeof(T) * 8 ? static_cast<T>(~T{0}) : static_cast<T>((T{1} << width) - 1);
}

/// Extract bits [lo, lo+width) of v.
template <class T> constexpr T get_bits(T v, unsigned lo, unsigned width) noexcept
{
    return static_cast<T>((v >> lo) & low_mask<T>(width));
}

/// Return v with bits [lo, lo+width) replaced by x (x is truncated to width).
template <class T> constexpr T set_bits(T v, unsigned lo, unsigned width, T x) noexcept
{
    const T m = static_cast<T>(low_mask<T>(width) << lo);
    return static_cast<T>((v & ~m) | ((x << lo) & m));
}

/// A named bit field of a 32- or 64-bit value, in the spirit of libvfn's
/// NVME_FIELD_GET: `using Mqes = Field<0, 16, uint64_t>; Mqes::get(cap)`.
template <unsigned Lo, unsigned Width, class T = uint32_t> struct Field {
    static_assert(std::is_unsigned_v<T>);
    static_assert(Width > 0 && Lo + Width <= sizeof(T) * 8, "field outside of value");
    using value_type = T;
    static constexpr unsigned lo = Lo;
    static constexpr unsigned width = Width;
    /// Mask of the field in place (already shifted).
    static constexpr T mask = static_cast<T>(low_mask<T>(Width) << Lo);

    [[nodiscard]] static constexpr T get(T v) noexcept { return get_bits<T>(v, Lo, Width); }
    [[nodiscard]] static constexpr T set(T v, T x) noexcept { return set_bits<T>(v, Lo, Width, x); }
    /// The field value x placed in an otherwise zero word.
    [[nodiscard]] static constexpr T make(T x) noexcept { return set_bits<T>(T{0}, Lo, Width, x); }
    /// True when x fits the field without truncation.
    [[nodiscard]] static constexpr bool fits(T x) noexcept
    {
        return (x & ~low_mask<T>(Width)) == 0;
    }
};

/// A single-bit flag, `Bit<0>::get(v)` returns bool.
template <unsigned Pos, class T = uint32_t> struct Bit {
    static_assert(Pos < sizeof(T) * 8);
    using value_type = T;
    static constexpr T mask = static_cast<T>(T{1} << Pos);
    [[nodiscard]] static constexpr bool get(T v) noexcept { return (v & mask) != 0; }
    [[nodiscard]] static constexpr T set(T v, bool on) noexcept
    {
        return on ? static_cast<T>(v | mask) : static_cast<T>(v & ~mask);
    }
    [[nodiscard]] static constexpr T make(bool on) noexcept { return on ? mask : T{0}; }
};

// ---------------------------------------------------------------------------
// Unaligned little-endian storage
// ---------------------------------------------------------------------------

/// A T stored as raw bytes with alignment 1. Used where the spec places a
/// multi-byte field at an offset not aligned to its size (SMART composite
/// temperature at byte 1, self-test POH at byte 4), so that the enclosing
/// struct keeps its spec layout without `#pragma pack`.
template <class T> struct Unaligned {
    static_assert(std::is_trivially_copyable_v<T>);
    std::array<uint8_t, sizeof(T)> bytes;

    [[nodiscard]] constexpr T get() const noexcept { return std::bit_cast<T>(bytes); }
    constexpr void set(const T& v) noexcept
    {
        bytes = std::bit_cast<std::array<uint8_t, sizeof(T)>>(v);
    }
};
static_assert(alignof(Unaligned<uint64_t>) == 1 && sizeof(Unaligned<uint64_t>) == 8);

// ---------------------------------------------------------------------------
// 128-bit counters (SMART data units, tnvmcap, nvmcap, ...)
// ---------------------------------------------------------------------------

/// Little-endian 128-bit unsigned integer as laid out by the spec (low
/// quadword first). Arithmetic saturates nowhere: it wraps like uint64_t.
struct Uint128 {
    uint64_t lo;
    uint64_t hi;

    [[nodiscard]] static constexpr Uint128 from(uint64_t v) noexcept { return {v, 0}; }

    constexpr Uint128& operator+=(Uint128 o) noexcept
    {
        const uint64_t l = lo + o.lo;
        hi += o.hi + (l < lo ? 1u : 0u);
        lo = l;
        return *this;
    }
    constexpr Uint128& operator+=(uint64_t v) noexcept { return *this += Uint128{v, 0}; }
    [[nodiscard]] friend constexpr Uint128 operator+(Uint128 a, Uint128 b) noexcept
    {
        return a += b;
    }
    [[nodiscard]] friend constexpr bool operator==(const Uint128&, const Uint128&) = default;
    [[nodiscard]] friend constexpr auto operator<=>(const Uint128& a, const Uint128& b) noexcept
    {
        return a.hi != b.hi ? a.hi <=> b.hi : a.lo <=> b.lo;
    }

    /// Approximate value (exact up to 2^64).
    [[nodiscard]] constexpr long double to_long_double() const noexcept
    {
        return static_cast<long double>(hi) * 18446744073709551616.0L +
               static_cast<long double>(lo);
    }

    /// Exact decimal representation, e.g. 2^64 -> "18446744073709551616".
    [[nodiscard]] std::string to_string() const
    {
        // Long division by 10^9 on four 32-bit limbs, most significant first.
        std::array<uint32_t, 4> limb{static_cast<uint32_t>(hi >> 32), static_cast<uint32_t>(hi),
                                     static_cast<uint32_t>(lo >> 32), static_cast<uint32_t>(lo)};
        std::string out;
        auto nonzero = [&] {
            return std::any_of(limb.begin(), limb.end(), [](uint32_t x) { return x != 0; });
        };
        do {
            uint64_t rem = 0;
            for (auto& l : limb) {
                const uint64_t cur = (rem << 32) | l;
                l = static_cast<uint32_t>(cur / 1000000000u);
                rem = cur % 1000000000u;
            }
            const bool more = nonzero();
            // Inner chunks keep their leading zeros; the top chunk does not.
            for (int i = 0; i < 9; ++i) {
                out.push_back(static_cast<char>('0' + rem % 10));
                rem /= 10;
                if (!more && rem == 0) break;
            }
        } while (nonzero());
        std::reverse(out.begin(), out.end());
        return out;
    }
};
static_assert(sizeof(Uint128) == 16 && std::is_trivially_copyable_v<Uint128> &&
              std::is_standard_layout_v<Uint128>);

/// Add to a 128-bit counter in place (SMART counters are never decremented).
constexpr void add(Uint128& counter, uint64_t v) noexcept
{
    counter += v;
}

// ---------------------------------------------------------------------------
// Fixed-size strings
// ---------------------------------------------------------------------------

/// ASCII field padded with spaces, not NUL terminated (sn, mn, fr; NVMe Base
/// 2.0, 1.5 "ASCII string"). Longer input is truncated.
template <std::size_t N>
constexpr void set_padded(std::array<char, N>& field, std::string_view s) noexcept
{
    const std::size_t n = std::min(N, s.size());
    std::fill(std::copy_n(s.begin(), n, field.begin()), field.end(), ' ');
}

/// UTF-8 field padded with NULs and always NUL terminated (subnqn). Input
/// longer than N-1 bytes is truncated.
template <std::size_t N>
constexpr void set_nul_padded(std::array<char, N>& field, std::string_view s) noexcept
{
    static_assert(N > 0);
    const std::size_t n = std::min(N - 1, s.size());
    std::fill(std::copy_n(s.begin(), n, field.begin()), field.end(), '\0');
}

/// View of a padded field without trailing spaces/NULs (and stopping at the
/// first NUL).
template <std::size_t N>
[[nodiscard]] constexpr std::string_view trimmed(const std::array<char, N>& field) noexcept
{
    std::string_view v(field.data(), N);
    if (auto nul = v.find('\0'); nul != std::string_view::npos) v = v.substr(0, nul);
    while (!v.empty() && v.back() == ' ')
        v.remove_suffix(1);
    return v;
}

// ---------------------------------------------------------------------------
// Name tables
// ---------------------------------------------------------------------------

/// One row of a value -> spec name table.
template <class E> struct NameEntry {
    E value;
    std::string_view name;
};

/// Look a value up in a name table; "Unknown" when absent.
template <class E, std::size_t N>
[[nodiscard]] constexpr std::string_view lookup_name(const std::array<NameEntry<E>, N>& table,
                                                     E value) noexcept
{
    for (const auto& e : table)
        if (e.value == value) return e.name;
    return "Unknown";
}

} // namespace nvme
