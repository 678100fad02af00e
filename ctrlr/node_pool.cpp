#include "nvmecuse/ctrlr/node_pool.hpp"

#include <array>
#include <mutex>
#include <new>
#include <vector>

#include "nvmecuse/sanitizers.hpp"
#ifdef NVMECUSE_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace nvmecuse::ctrlr::node_pool {

namespace {

/// Blocks moved between a thread's cache and the depot at a time.
constexpr std::size_t batch_size = 32;
/// Batches the depot keeps; beyond that freed blocks go back to malloc
/// (bounds what a burst of commands leaves behind: 64 × 32 × 256 B = 512 KiB).
constexpr std::size_t depot_batches = 64;

struct alignas(64) Block {
    std::array<std::byte, block_size> bytes;
};

void poison(void* p) noexcept
{
#ifdef NVMECUSE_ASAN
    ASAN_POISON_MEMORY_REGION(p, block_size);
#else
    (void)p;
#endif
}

void unpoison(void* p) noexcept
{
#ifdef NVMECUSE_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, block_size);
#else
    (void)p;
#endif
}

void release_to_malloc(void* p) noexcept
{
    unpoison(p);
    delete static_cast<Block*>(p);
}

using Batch = std::vector<void*>;

/// Full batches shared by all threads.
class Depot {
public:
    /// An empty batch when the depot has none.
    Batch take()
    {
        std::lock_guard lock(mutex_);
        if (batches_.empty()) return {};
        Batch b = std::move(batches_.back());
        batches_.pop_back();
        return b;
    }
    /// Keeps `b` (full) or, when the depot is full, frees its blocks.
    void give(Batch&& b) noexcept
    {
        {
            std::lock_guard lock(mutex_);
            if (batches_.size() < depot_batches) {
                batches_.push_back(std::move(b));
                return;
            }
        }
        for (void* p : b)
            release_to_malloc(p);
        b.clear();
    }

private:
    std::mutex mutex_;
    std::vector<Batch> batches_;
};

Depot& depot()
{
    // Never destroyed: threads that exit during static destruction still
    // hand their caches back. Reachable, so leak checkers stay quiet.
    static auto* d = new Depot;
    return *d;
}

/// Set when this thread's cache is destroyed (thread exit): a node freed by
/// a later thread_local destructor goes straight back to malloc.
thread_local bool cache_destroyed = false;

/// One thread's free blocks: up to two batches, so a thread that both
/// allocates and frees (the owner issuing its own commands) rarely touches
/// the depot.
class ThreadCache {
public:
    ThreadCache() { blocks_.reserve(2 * batch_size); }
    ~ThreadCache()
    {
        cache_destroyed = true;
        Batch rest = std::move(blocks_);
        if (!rest.empty()) depot().give(std::move(rest));
    }
    ThreadCache(const ThreadCache&) = delete;
    ThreadCache& operator=(const ThreadCache&) = delete;

    void* take()
    {
        if (blocks_.empty()) {
            Batch b = depot().take();
            if (b.empty()) return new Block;
            // Keep the reserved vector; the batch's storage goes with it.
            blocks_.insert(blocks_.end(), b.begin(), b.end());
        }
        void* p = blocks_.back();
        blocks_.pop_back();
        unpoison(p);
        return p;
    }

    void put(void* p) noexcept
    {
        if (blocks_.size() == 2 * batch_size) {
            // Hand the older half to the depot: a thread that only frees (the
            // owner) feeds the threads that only allocate (the submitters).
            try {
                Batch half(blocks_.begin(), blocks_.begin() + batch_size);
                blocks_.erase(blocks_.begin(), blocks_.begin() + batch_size);
                depot().give(std::move(half));
            } catch (const std::bad_alloc&) {
                release_to_malloc(p); // no memory for a batch: this one goes back
                return;
            }
        }
        poison(p);
        blocks_.push_back(p);
    }

private:
    Batch blocks_;
};

ThreadCache* cache()
{
    if (cache_destroyed) return nullptr;
    thread_local ThreadCache c;
    return &c;
}

} // namespace

void* allocate()
{
    ThreadCache* c = cache();
    return c != nullptr ? c->take() : new Block;
}

void deallocate(void* block) noexcept
{
    if (block == nullptr) return;
    if (ThreadCache* c = cache()) {
        c->put(block);
    } else {
        delete static_cast<Block*>(block);
    }
}

namespace {

class PoolResource final : public std::pmr::memory_resource {
    static bool fits(std::size_t bytes, std::size_t alignment) noexcept
    {
        return bytes <= block_size && alignment <= alignof(std::max_align_t);
    }
    void* do_allocate(std::size_t bytes, std::size_t alignment) override
    {
        if (fits(bytes, alignment)) return node_pool::allocate();
        return std::pmr::new_delete_resource()->allocate(bytes, alignment);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override
    {
        if (fits(bytes, alignment)) return node_pool::deallocate(p);
        std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override
    {
        return this == &other;
    }
};

} // namespace

std::pmr::memory_resource* memory_resource() noexcept
{
    static PoolResource resource;
    return &resource;
}

} // namespace nvmecuse::ctrlr::node_pool
