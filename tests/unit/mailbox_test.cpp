// Mailbox: FIFO order, multi-producer delivery, wake elision without lost
// wake-ups.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/mailbox.hpp"

namespace nvmecuse::ctrlr {
namespace {

struct TestNode final : MailboxNode {
    TestNode(int p, std::uint32_t s) : producer(p), seq(s) {}
    int producer;
    std::uint32_t seq;
};

std::unique_ptr<TestNode> pop_test(Mailbox& mb)
{
    auto n = mb.pop();
    return std::unique_ptr<TestNode>(static_cast<TestNode*>(n.release()));
}

bool fd_readable(int fd, int timeout_ms)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

TEST(Mailbox, StartsEmpty)
{
    Mailbox mb;
    EXPECT_TRUE(mb.empty());
    EXPECT_EQ(mb.pop(), nullptr);
    EXPECT_GE(mb.fd(), 0);
    EXPECT_FALSE(fd_readable(mb.fd(), 0));
}

TEST(Mailbox, SingleProducerFifo)
{
    Mailbox mb;
    for (std::uint32_t i = 0; i < 100; ++i)
        mb.post(std::make_unique<TestNode>(0, i));
    EXPECT_FALSE(mb.empty());
    for (std::uint32_t i = 0; i < 100; ++i) {
        auto n = pop_test(mb);
        ASSERT_NE(n, nullptr);
        EXPECT_EQ(n->seq, i);
    }
    EXPECT_EQ(mb.pop(), nullptr);
    EXPECT_TRUE(mb.empty());
    // Reusable after draining through the stub.
    mb.post(std::make_unique<TestNode>(0, 7));
    EXPECT_FALSE(mb.empty());
    EXPECT_EQ(pop_test(mb)->seq, 7u);
    EXPECT_TRUE(mb.empty());
}

TEST(Mailbox, InterleavedPostAndPop)
{
    Mailbox mb;
    std::uint32_t next_post = 0, next_pop = 0;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < round % 4; ++i)
            mb.post(std::make_unique<TestNode>(0, next_post++));
        for (int i = 0; i < (round + 1) % 3; ++i) {
            auto n = pop_test(mb);
            if (next_pop == next_post) {
                EXPECT_EQ(n, nullptr);
            } else {
                ASSERT_NE(n, nullptr);
                EXPECT_EQ(n->seq, next_pop++);
            }
        }
    }
    while (auto n = pop_test(mb))
        EXPECT_EQ(n->seq, next_pop++);
    EXPECT_EQ(next_pop, next_post);
}

TEST(Mailbox, DestructorFreesQueuedNodes)
{
    // ASan reports a leak if the destructor does not delete them.
    Mailbox mb;
    for (std::uint32_t i = 0; i < 10; ++i)
        mb.post(std::make_unique<TestNode>(0, i));
}

TEST(Mailbox, PrepareSleepRefusesWhenWorkIsQueued)
{
    Mailbox mb;
    mb.post(std::make_unique<TestNode>(0, 1));
    EXPECT_FALSE(mb.prepare_sleep());
    // Not sleeping: the post did not (and the refused sleep does not) signal the fd.
    EXPECT_FALSE(fd_readable(mb.fd(), 0));
    EXPECT_NE(mb.pop(), nullptr);
    EXPECT_TRUE(mb.prepare_sleep());
    mb.finish_sleep();
}

TEST(Mailbox, WakeElidedWhileAwakeSignalledWhileSleeping)
{
    Mailbox mb;
    mb.post(std::make_unique<TestNode>(0, 1));
    EXPECT_FALSE(fd_readable(mb.fd(), 0)) << "awake consumer must not be signalled";
    EXPECT_NE(mb.pop(), nullptr);

    ASSERT_TRUE(mb.prepare_sleep());
    EXPECT_FALSE(fd_readable(mb.fd(), 0));
    mb.post(std::make_unique<TestNode>(0, 2));
    EXPECT_TRUE(fd_readable(mb.fd(), 0)) << "sleeping consumer must be signalled";
    mb.finish_sleep();
    EXPECT_FALSE(fd_readable(mb.fd(), 0)) << "finish_sleep() drains the eventfd";
    EXPECT_EQ(pop_test(mb)->seq, 2u);
}

TEST(Mailbox, ManyProducersEveryNodeOnceInProducerOrder)
{
    constexpr int producers = 4;
    constexpr std::uint32_t per_producer = 100'000;
    Mailbox mb;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
        threads.emplace_back([&mb, p] {
            for (std::uint32_t i = 0; i < per_producer; ++i)
                mb.post(std::make_unique<TestNode>(p, i));
        });

    std::vector<std::uint32_t> next(producers, 0);
    std::uint64_t received = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received < std::uint64_t{producers} * per_producer) {
        auto n = pop_test(mb);
        if (!n) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "nodes lost: " << received;
            std::this_thread::yield();
            continue;
        }
        ASSERT_GE(n->producer, 0);
        ASSERT_LT(n->producer, producers);
        ASSERT_EQ(n->seq, next[n->producer]) << "producer " << n->producer << " out of order";
        ++next[n->producer];
        ++received;
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(mb.pop(), nullptr);
    EXPECT_TRUE(mb.empty());
    for (int p = 0; p < producers; ++p)
        EXPECT_EQ(next[p], per_producer);
}

// The consumer behaves like the owner thread: drain, announce sleep, poll the
// fd. Producers post with random gaps. A lost wake-up leaves the consumer in
// poll() with work queued; the bounded poll turns that into a failure.
TEST(Mailbox, SleepingConsumerIsAlwaysWoken)
{
    constexpr int producers = 2;
    constexpr std::uint32_t per_producer = 2'000;
    Mailbox mb;
    std::atomic<bool> start{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
        threads.emplace_back([&, p] {
            std::mt19937 rng(static_cast<unsigned>(p) * 7919u + 1u);
            std::uniform_int_distribution<int> gap(0, 40);
            while (!start.load())
                std::this_thread::yield();
            for (std::uint32_t i = 0; i < per_producer; ++i) {
                const int g = gap(rng);
                if (g > 30) {
                    std::this_thread::sleep_for(std::chrono::microseconds(g - 30));
                } else if (g > 20) {
                    std::this_thread::yield();
                }
                mb.post(std::make_unique<TestNode>(p, i));
            }
        });
    start = true;

    std::uint64_t received = 0, sleeps = 0;
    bool hung = false;
    while (received < std::uint64_t{producers} * per_producer) {
        while (auto n = mb.pop())
            ++received;
        if (received == std::uint64_t{producers} * per_producer) break;
        if (!mb.prepare_sleep()) continue;
        ++sleeps;
        // Nothing from a producer is ever more than a few hundred µs away.
        if (!fd_readable(mb.fd(), 2'000)) {
            hung = !mb.empty();
            mb.finish_sleep();
            if (hung) break;
            continue; // producers descheduled for 2 s; not a lost wake-up
        }
        mb.finish_sleep();
    }
    for (auto& t : threads)
        t.join();
    ASSERT_FALSE(hung) << "lost wake-up after " << received << " nodes";
    EXPECT_EQ(received, std::uint64_t{producers} * per_producer);
    EXPECT_GT(sleeps, 0u) << "the test never exercised sleeping";
}

} // namespace
} // namespace nvmecuse::ctrlr
