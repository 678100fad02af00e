// The CommandNode pool: blocks are recycled on the freeing thread and
// handed across threads in batches, never lost or handed out twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <memory_resource>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/command.hpp"
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

TEST(NodePool, MemoryResourceServesSmallRequestsFromBlocksAndLargeOnesElsewhere)
{
    std::pmr::memory_resource* r = node_pool::memory_resource();
    EXPECT_TRUE(r->is_equal(*node_pool::memory_resource()));
    EXPECT_FALSE(r->is_equal(*std::pmr::new_delete_resource()));
    std::pmr::vector<std::uint64_t> small(r);
    small.assign({1, 2, 3});
    std::pmr::vector<std::uint64_t> large(r);
    large.resize(node_pool::block_size); // 2 KiB: past a block
    large.back() = 7;
    EXPECT_EQ(small[2], 3u);
    EXPECT_EQ(large.back(), 7u);
    // A move keeps the resource: no new allocation, same storage.
    const auto* storage = small.data();
    std::pmr::vector<std::uint64_t> moved(std::move(small));
    EXPECT_EQ(moved.data(), storage);
    EXPECT_EQ(moved.get_allocator().resource(), r);
}

TEST(PooledHandler, RunsOnceWithTheResultAndReleasesItsStateWithTheHandler)
{
    auto state = std::make_shared<int>(0);
    std::array<std::byte, 150> bulk{}; // past std::move_only_function's inline storage
    bulk[149] = std::byte{9};
    CompletionHandler h = pooled_handler([state, bulk](Result&& r) {
        *state = static_cast<int>(r.dw0) + static_cast<int>(bulk[149]);
    });
    EXPECT_EQ(state.use_count(), 2);
    Result r;
    r.dw0 = 33;
    h(std::move(r));
    EXPECT_EQ(*state, 42);
    h = nullptr;
    EXPECT_EQ(state.use_count(), 1); // the captured copy went with the handler

    // Too large for a block: an ordinary handler, still correct.
    std::array<std::byte, node_pool::block_size + 64> huge{};
    huge[0] = std::byte{5};
    CompletionHandler big = pooled_handler([state, huge](Result&&) { *state = int(huge[0]); });
    big(Result{});
    EXPECT_EQ(*state, 5);
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
