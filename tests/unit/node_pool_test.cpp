// The CommandNode pool: blocks are recycled on the freeing thread and
// handed across threads in batches, never lost or handed out twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/node_pool.hpp"

namespace nvmecuse::ctrlr {
namespace {

TEST(NodePool, FreedBlockIsReusedOnTheSameThread)
{
    void* a = node_pool::allocate();
    node_pool::deallocate(a);
    void* b = node_pool::allocate();
    EXPECT_EQ(a, b);
    node_pool::deallocate(b);
}

TEST(NodePool, LiveBlocksAreDistinctAndWritable)
{
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) {
        void* p = node_pool::allocate();
        std::memset(p, i & 0xff, node_pool::block_size);
        blocks.push_back(p);
    }
    std::set<void*> distinct(blocks.begin(), blocks.end());
    EXPECT_EQ(distinct.size(), blocks.size());
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        const auto* bytes = static_cast<const unsigned char*>(blocks[i]);
        EXPECT_EQ(bytes[0], i & 0xff);
        EXPECT_EQ(bytes[node_pool::block_size - 1], i & 0xff);
    }
    for (void* p : blocks)
        node_pool::deallocate(p);
}

TEST(NodePool, BlocksFreedByAnotherThreadReachTheAllocator)
{
    // The controller's pattern: one thread allocates, another frees. What
    // the freeing thread collects must come back to the allocating thread
    // through the depot (the same addresses again), not pile up.
    std::vector<void*> first;
    for (int i = 0; i < 256; ++i)
        first.push_back(node_pool::allocate());
    std::thread freer([&] {
        for (void* p : first)
            node_pool::deallocate(p);
    });
    freer.join(); // its cache goes to the depot when it exits
    std::set<void*> before(first.begin(), first.end());
    std::vector<void*> second;
    int reused = 0;
    for (int i = 0; i < 256; ++i) {
        second.push_back(node_pool::allocate());
        reused += before.contains(second.back()) ? 1 : 0;
    }
    EXPECT_GE(reused, 128);
    for (void* p : second)
        node_pool::deallocate(p);
}

TEST(NodePool, ConcurrentAllocatorsAndFreersNeverShareABlock)
{
    // Producers allocate and stamp blocks, hand them through a locked
    // vector to consumers that check the stamp and free them. A block
    // handed out twice would carry another producer's stamp.
    constexpr int producers = 3;
    constexpr int per_producer = 20000;
    std::mutex m;
    std::vector<std::pair<void*, std::uint64_t>> handed;
    std::atomic<int> done{0};
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_producer; ++i) {
                void* p = node_pool::allocate();
                const std::uint64_t stamp = (std::uint64_t(t) << 32) | std::uint32_t(i);
                std::memcpy(p, &stamp, sizeof stamp);
                std::lock_guard lock(m);
                handed.emplace_back(p, stamp);
            }
            done.fetch_add(1);
        });
    }
    for (int c = 0; c < 2; ++c) {
        threads.emplace_back([&] {
            for (;;) {
                std::vector<std::pair<void*, std::uint64_t>> batch;
                {
                    std::lock_guard lock(m);
                    batch.swap(handed);
                }
                for (auto [p, stamp] : batch) {
                    std::uint64_t seen;
                    std::memcpy(&seen, p, sizeof seen);
                    if (seen != stamp) bad.fetch_add(1);
                    node_pool::deallocate(p);
                }
                if (batch.empty() && done.load() == producers) {
                    std::lock_guard lock(m);
                    if (handed.empty()) return;
                }
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0);
}

#ifdef __SANITIZE_ADDRESS__
TEST(NodePoolDeathTest, UseOfAFreedBlockIsReportedUnderAddressSanitizer)
{
    // Recycling must not hide a use after free of a node from ASan.
    EXPECT_DEATH(
        {
            auto* p = static_cast<volatile unsigned char*>(node_pool::allocate());
            node_pool::deallocate(const_cast<unsigned char*>(p));
            p[8] = 1;
        },
        "use-after-poison");
}
#endif

} // namespace
} // namespace nvmecuse::ctrlr
