// The caps on caller data held for ioctls in flight
// (cuse/inflight_budget.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "nvmecuse/cuse/inflight_budget.hpp"

namespace nvmecuse::cuse {
namespace {

constexpr std::uint64_t KiB = 1024;

// Pids of their own per test: the process buckets are shared by every budget.
constexpr pid_t pid_a = 4'000'001;
constexpr pid_t pid_b = 4'000'002;

TEST(InflightBudget, AdmitsUpToTheNodeCapThenRefuses)
{
    InflightBudget budget({.per_node = 16 * KiB, .per_process = 1 << 30});
    auto first = budget.charge(pid_a, 8 * KiB);
    auto second = budget.charge(pid_b, 8 * KiB);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(budget.node_bytes(), 16 * KiB);
    EXPECT_FALSE(budget.charge(pid_b, 1));
    EXPECT_EQ(budget.node_bytes(), 16 * KiB) << "a refusal holds nothing";
    *first = InflightCharge{};
    EXPECT_EQ(budget.node_bytes(), 8 * KiB);
    EXPECT_TRUE(budget.charge(pid_b, 8 * KiB));
}

TEST(InflightBudget, AProcessCapSpansNodes)
{
    const InflightLimits limits{.per_node = 1 << 30, .per_process = 8 * KiB};
    InflightBudget one(limits), two(limits);
    auto on_one = one.charge(pid_a, 6 * KiB);
    ASSERT_TRUE(on_one);
    EXPECT_FALSE(two.charge(pid_a, 4 * KiB)) << "the same process on another node";
    EXPECT_EQ(two.node_bytes(), 0u) << "the node's part of a refused charge is returned";
    EXPECT_TRUE(two.charge(pid_b, 4 * KiB)) << "another process";
    EXPECT_EQ(InflightBudget::process_bytes(pid_a), 6 * KiB);
}

TEST(InflightBudget, OneCommandLargerThanTheCapsRunsAlone)
{
    InflightBudget budget({.per_node = 4 * KiB, .per_process = 4 * KiB});
    auto big = budget.charge(pid_a, 1 << 20);
    ASSERT_TRUE(big);
    EXPECT_EQ(big->bytes(), std::uint64_t{1} << 20);
    EXPECT_FALSE(budget.charge(pid_b, 512));
    big.reset();
    EXPECT_EQ(budget.node_bytes(), 0u);
    EXPECT_EQ(InflightBudget::process_bytes(pid_a), 0u);
}

TEST(InflightBudget, ZeroBytesAreNeitherCountedNorRefused)
{
    InflightBudget budget({.per_node = 4 * KiB, .per_process = 4 * KiB});
    auto full = budget.charge(pid_a, 4 * KiB);
    auto none = budget.charge(pid_a, 0);
    ASSERT_TRUE(full && none);
    EXPECT_EQ(budget.node_bytes(), 4 * KiB);
}

TEST(InflightBudget, AMovedChargeIsReturnedOnceAndOutlivesItsBudget)
{
    std::optional<InflightCharge> kept;
    {
        InflightBudget budget({.per_node = 8 * KiB, .per_process = 8 * KiB});
        auto c = budget.charge(pid_a, 4 * KiB);
        ASSERT_TRUE(c);
        InflightCharge moved = std::move(*c);
        c.reset();
        EXPECT_EQ(budget.node_bytes(), 4 * KiB);
        kept = std::move(moved);
    }
    // The node is gone (a detached controller) while a command completes.
    EXPECT_EQ(InflightBudget::process_bytes(pid_a), 4 * KiB);
    kept.reset();
    EXPECT_EQ(InflightBudget::process_bytes(pid_a), 0u);
}

TEST(InflightBudget, ConcurrentChargesNeverPassTheCap)
{
    InflightBudget budget({.per_node = 64 * KiB, .per_process = 1 << 30});
    std::atomic<bool> passed{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20'000; ++i) {
                auto c = budget.charge(pid_a + t, 16 * KiB);
                if (budget.node_bytes() > 64 * KiB) passed = true;
            }
        });
    for (auto& th : threads)
        th.join();
    EXPECT_FALSE(passed.load());
    EXPECT_EQ(budget.node_bytes(), 0u);
}

} // namespace
} // namespace nvmecuse::cuse
