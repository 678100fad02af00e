#include "nvmecuse/cuse/latency_sampler.hpp"

#include <chrono>

namespace nvmecuse::cuse {

namespace {
std::uint64_t now_ns() noexcept
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}
} // namespace

std::uint64_t LatencySampler::start() noexcept
{
    thread_local unsigned seen = 0;
    if (++seen % every != 0) return 0;
    const std::uint64_t t = now_ns();
    return t != 0 ? t : 1;
}

void LatencySampler::finish(std::uint64_t start_ns) noexcept
{
    if (start_ns == 0) return;
    const std::uint64_t end = now_ns();
    record(end > start_ns ? end - start_ns : 0);
}

void LatencySampler::record(std::uint64_t ns) noexcept
{
    std::lock_guard lock(mutex_);
    histogram_.record(ns);
}

LatencyPercentiles LatencySampler::percentiles() const
{
    std::lock_guard lock(mutex_);
    LatencyPercentiles p;
    p.samples = histogram_.count();
    p.p50_ns = histogram_.percentile(0.50);
    p.p90_ns = histogram_.percentile(0.90);
    p.p99_ns = histogram_.percentile(0.99);
    p.p999_ns = histogram_.percentile(0.999);
    p.max_ns = histogram_.max();
    p.sum_ns = static_cast<std::uint64_t>(histogram_.mean() * static_cast<double>(p.samples));
    return p;
}

} // namespace nvmecuse::cuse
