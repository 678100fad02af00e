// nvmecuse-perf's latency histogram: exact below 64 ns, within ~3 % above,
// percentiles by rank, merge equal to recording everything in one.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "nvmecuse/latency_histogram.hpp"

using nvmecuse::LatencyHistogram;

TEST(LatencyHistogram, EmptyReportsZero)
{
    const LatencyHistogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.percentile(0.5), 0u);
    EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogram, SmallValuesAreExact)
{
    LatencyHistogram h;
    for (std::uint64_t v = 1; v <= 60; ++v) h.record(v);
    EXPECT_EQ(h.percentile(0.5), 30u);
    EXPECT_EQ(h.percentile(1.0), 60u);
    EXPECT_EQ(h.min(), 1u);
    EXPECT_DOUBLE_EQ(h.mean(), 30.5);
}

TEST(LatencyHistogram, PercentilesWithinThreePercent)
{
    LatencyHistogram h;
    // 1..100000 us: p50 = 50000 us, p99 = 99000 us, p99.9 = 99900 us.
    for (std::uint64_t us = 1; us <= 100000; ++us) h.record(us * 1000);
    auto near = [](std::uint64_t got, double want) { return std::abs(static_cast<double>(got) - want) <= want * 0.03; };
    EXPECT_PRED2(near, h.percentile(0.5), 50e6);
    EXPECT_PRED2(near, h.percentile(0.99), 99e6);
    EXPECT_PRED2(near, h.percentile(0.999), 99.9e6);
    EXPECT_EQ(h.max(), 100000u * 1000);
    EXPECT_EQ(h.count(), 100000u);
}

TEST(LatencyHistogram, HugeValuesStayInRange)
{
    LatencyHistogram h;
    h.record(UINT64_MAX);
    h.record(1ull << 40);
    EXPECT_EQ(h.max(), UINT64_MAX);
    EXPECT_EQ(h.percentile(1.0), UINT64_MAX);
    EXPECT_LE(h.percentile(0.5), (1ull << 40) * 103 / 100);
}

TEST(LatencyHistogram, MergeEqualsOneHistogram)
{
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> latency(10.0, 1.0);
    LatencyHistogram all;
    LatencyHistogram a;
    LatencyHistogram b;
    for (int i = 0; i < 20000; ++i) {
        const auto v = static_cast<std::uint64_t>(latency(rng));
        all.record(v);
        (i % 3 ? a : b).record(v);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    for (double p : {0.1, 0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(a.percentile(p), all.percentile(p)) << p;
}
