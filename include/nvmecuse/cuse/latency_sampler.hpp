#pragma once
// A node's ioctl latency, sampled: one ioctl in `every` per serving thread
// reads the clock when the daemon starts on it and when its answer goes
// out, so the others cost one thread-local increment (a clock read in the
// test guest costs about as much as handing a command over).

#include <cstdint>
#include <mutex>

#include "nvmecuse/latency_histogram.hpp"

namespace nvmecuse::cuse {

struct LatencyPercentiles {
    std::uint64_t samples = 0; ///< ioctls measured
    std::uint64_t p50_ns = 0;
    std::uint64_t p90_ns = 0;
    std::uint64_t p99_ns = 0;
    std::uint64_t p999_ns = 0;
    std::uint64_t max_ns = 0;
    std::uint64_t sum_ns = 0; ///< of every sample
};

class LatencySampler {
public:
    /// One ioctl in this many, per thread, is measured.
    static constexpr unsigned every = 64;

    /// Called as the daemon starts on an ioctl: its start in steady-clock
    /// nanoseconds (never 0) when this one is measured, else 0. Any thread.
    [[nodiscard]] static std::uint64_t start() noexcept;
    /// The ioctl begun at `start_ns` (from start(); 0: not measured) is
    /// answered now. Any thread.
    void finish(std::uint64_t start_ns) noexcept;
    /// Adds a measured latency. Any thread.
    void record(std::uint64_t ns) noexcept;

    [[nodiscard]] LatencyPercentiles percentiles() const;

private:
    mutable std::mutex mutex_;
    LatencyHistogram histogram_;
};

} // namespace nvmecuse::cuse
