// Recycled memory for CommandNodes: a submitter allocates a node on its
// thread, the owner thread frees it after the completion, a million times a
// second. Through glibc's malloc both sides then lock the same arena for
// every node (the owner's tcache is full of nodes it never reuses, the
// submitter's empty), and the two threads spend the time in futex calls.
// Here each thread keeps a small cache of free blocks and exchanges whole
// batches with a shared depot: one lock per batch, none per node.
#pragma once

#include <cstddef>
#include <memory_resource>

namespace nvmecuse::ctrlr::node_pool {

/// Block size every call serves; a larger request is a programming error.
inline constexpr std::size_t block_size = 256;

/// Any thread. A block of block_size bytes, suitably aligned for any
/// object of that size; throws std::bad_alloc like operator new.
[[nodiscard]] void* allocate();

/// Any thread, for a block from allocate(). Under AddressSanitizer the
/// block stays poisoned until allocate() hands it out again, so a use after
/// free of a node is still reported.
void deallocate(void* block) noexcept;

/// The pool as a std::pmr resource: requests of up to block_size bytes
/// (and at most max_align_t's alignment) take a block, larger ones go to
/// operator new. For the small per-request containers that cross threads
/// with a command (the CUSE layer's segment lists). Any thread.
[[nodiscard]] std::pmr::memory_resource* memory_resource() noexcept;

} // namespace nvmecuse::ctrlr::node_pool
