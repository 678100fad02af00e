// The retry of --attach targets that were down at start
// (service/attach_retry.cpp): the kernel's count of reconnect
// attempts, and a thread that tries each target until it is up, out of
// attempts, or stopped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "nvmecuse/service/attach_retry.hpp"

namespace {

using namespace std::chrono_literals;
using nvmecuse::service::AttachRetry;
using nvmecuse::service::reconnect_attempts;

TEST(NvmecusedAttachRetry, AttemptsAreCtrlLossTmoOverReconnectDelayRoundedUp)
{
    EXPECT_EQ(reconnect_attempts(10s, 600s), 60u); // the kernel's defaults
    EXPECT_EQ(reconnect_attempts(7s, 20s), 3u);
    EXPECT_EQ(reconnect_attempts(1s, 1s), 1u);
    EXPECT_EQ(reconnect_attempts(10s, 0s), 0u);            // give up at once
    EXPECT_EQ(reconnect_attempts(10s, -1s), std::nullopt); // forever
}

/// Waits until `count` reaches `value` or 5 s have passed.
bool wait_for(const std::atomic<int>& count, int value)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (count.load() < value && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    return count.load() >= value;
}

/// An attempt that counts its calls and succeeds at call `up_at` (0: never).
AttachRetry::Attempt counting(std::atomic<int>& calls, int up_at)
{
    return [&calls, up_at] { return ++calls == up_at; };
}

TEST(NvmecusedAttachRetry, RetriesUntilTheTargetIsUp)
{
    std::atomic<int> calls{0};
    AttachRetry retry;
    retry.add("t", counting(calls, 2), 1s, 5u);
    retry.start();
    ASSERT_TRUE(wait_for(calls, 2));
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(calls.load(), 2); // up: no more attempts
    retry.stop();
}

TEST(NvmecusedAttachRetry, GivesUpAfterItsAttempts)
{
    std::atomic<int> calls{0};
    AttachRetry retry;
    retry.add("t", counting(calls, 0), 1s, 1u);
    retry.start();
    ASSERT_TRUE(wait_for(calls, 1));
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(calls.load(), 1);
    retry.stop();
}

TEST(NvmecusedAttachRetry, StopEndsTheWaitAtOnce)
{
    std::atomic<int> calls{0};
    AttachRetry retry;
    retry.add("t", counting(calls, 0), 3600s, std::nullopt);
    retry.start();
    const auto start = std::chrono::steady_clock::now();
    retry.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(calls.load(), 0);
}

} // namespace
