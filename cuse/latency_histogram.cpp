#include "nvmecuse/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace nvmecuse {

std::size_t LatencyHistogram::index_of(std::uint64_t ns) noexcept
{
    if (ns < linear_limit) return static_cast<std::size_t>(ns);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(ns));
    const unsigned shift = msb - sub_bucket_bits; // >= 1
    const std::uint64_t mantissa = ns >> shift;   // 32..63
    return linear_limit + (shift - 1) * 32 + static_cast<std::size_t>(mantissa - 32);
}

std::uint64_t LatencyHistogram::midpoint_of(std::size_t index) noexcept
{
    if (index < linear_limit) return index;
    const std::size_t rel = index - linear_limit;
    const unsigned shift = static_cast<unsigned>(rel / 32) + 1;
    const std::uint64_t mantissa = 32 + rel % 32;
    return (mantissa << shift) + (std::uint64_t{1} << (shift - 1));
}

void LatencyHistogram::record(std::uint64_t ns) noexcept
{
    ++buckets_[index_of(ns)];
    ++count_;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
    sum_ += static_cast<long double>(ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept
{
    for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

double LatencyHistogram::mean() const noexcept
{
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double fraction) const noexcept
{
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(
        std::ceil(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(count_)));
    if (rank >= count_) return max_; // the slowest sample is known exactly
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += buckets_[i];
        if (seen >= std::max<std::uint64_t>(rank, 1))
            return std::clamp(midpoint_of(i), min(), max_);
    }
    return max_;
}

} // namespace nvmecuse
