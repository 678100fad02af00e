#pragma once
// A log-linear latency histogram (32 sub-buckets per power of two, so a
// percentile is within ~3 % of the true value) of fixed size: recording is
// an increment, merging is a sum, memory does not grow with the run.

#include <array>
#include <cstdint>

namespace nvmecuse {

class LatencyHistogram {
public:
    /// Records one latency in nanoseconds. Not thread-safe.
    void record(std::uint64_t ns) noexcept;
    /// Adds `other`'s samples to this one.
    void merge(const LatencyHistogram& other) noexcept;

    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    [[nodiscard]] std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
    [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
    [[nodiscard]] double mean() const noexcept;
    /// The latency below which `fraction` (0..1) of the samples lie; 0 when empty.
    [[nodiscard]] std::uint64_t percentile(double fraction) const noexcept;

private:
    static constexpr unsigned sub_bucket_bits = 5;
    static constexpr unsigned linear_limit = 2u << sub_bucket_bits; // 64: exact below
    static constexpr std::size_t bucket_count = linear_limit + (63 - sub_bucket_bits) * 32;

    static std::size_t index_of(std::uint64_t ns) noexcept;
    static std::uint64_t midpoint_of(std::size_t index) noexcept;

    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

} // namespace nvmecuse
