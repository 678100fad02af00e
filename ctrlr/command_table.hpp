// The in-flight command table of one queue: a slot per cid, a free list, and
// the tombstones of timed-out commands. Owner thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/ctrlr/mailbox.hpp"
#include "nvmecuse/ctrlr/node_pool.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::ctrlr {

using Clock = std::chrono::steady_clock;

/// What travels through the mailbox to the owner thread.
struct OwnerNode : MailboxNode {
    enum class Kind : std::uint8_t { command, task };
    explicit OwnerNode(Kind k) noexcept : kind(k) {}
    Kind kind;
};

/// One command and its handler: the only allocation a command costs, and
/// that one recycled (node_pool.hpp: allocated on the submitter's thread,
/// freed on the owner's).
struct CommandNode final : OwnerNode {
    CommandNode(QueueKind q, Command&& c, CompletionHandler&& h) noexcept
        : OwnerNode(Kind::command), queue(q), command(std::move(c)), handler(std::move(h))
    {
    }
    static void* operator new(std::size_t) { return node_pool::allocate(); }
    static void operator delete(void* p) noexcept { node_pool::deallocate(p); }
    QueueKind queue;
    bool internal = false; ///< issued by the core (init, scan, AER, abort)
    bool untimed = false;  ///< no timeout at all (Asynchronous Event Requests)
    Command command;
    CompletionHandler handler;
    CommandNode* fifo_next = nullptr; ///< link in an overflow / held FIFO
};

static_assert(sizeof(CommandNode) <= node_pool::block_size);
static_assert(alignof(CommandNode) <= alignof(std::max_align_t));

/// A closure to run on the owner thread (reset, rescan, stop, init).
struct TaskNode final : OwnerNode {
    explicit TaskNode(std::move_only_function<void()> f) noexcept
        : OwnerNode(Kind::task), fn(std::move(f))
    {
    }
    std::move_only_function<void()> fn;
};

/// Intrusive FIFO of CommandNodes; owns the nodes it holds.
class NodeFifo {
public:
    NodeFifo() = default;
    NodeFifo(const NodeFifo&) = delete;
    NodeFifo& operator=(const NodeFifo&) = delete;
    ~NodeFifo()
    {
        while (auto n = pop()) {
        }
    }
    void push(std::unique_ptr<CommandNode> node) noexcept
    {
        CommandNode* n = node.release();
        n->fifo_next = nullptr;
        if (tail_ != nullptr) {
            tail_->fifo_next = n;
        } else {
            head_ = n;
        }
        tail_ = n;
        ++size_;
    }
    void push_front(std::unique_ptr<CommandNode> node) noexcept
    {
        CommandNode* n = node.release();
        n->fifo_next = head_;
        head_ = n;
        if (tail_ == nullptr) tail_ = n;
        ++size_;
    }
    std::unique_ptr<CommandNode> pop() noexcept
    {
        CommandNode* n = head_;
        if (n == nullptr) return nullptr;
        head_ = n->fifo_next;
        if (head_ == nullptr) tail_ = nullptr;
        n->fifo_next = nullptr;
        --size_;
        return std::unique_ptr<CommandNode>(n);
    }
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    CommandNode* head_ = nullptr;
    CommandNode* tail_ = nullptr;
    std::size_t size_ = 0;
};

/// Slots indexed by transport::cid_slot(cid). A slot is free, holds a
/// command in flight, or holds the tombstone of a timed-out command whose
/// handler already ran: its cid stays reserved (and its buffers alive, the
/// transport may still write to them) until the real completion arrives or
/// the queue is torn down. Each use of a slot goes out under a cid of a new
/// generation (transport.hpp), so that a completion that names an earlier
/// use, a device's or a target's repeated or late CQE, is not taken for
/// the command that holds the slot now.
class CommandTable {
public:
    enum class State : std::uint8_t { free, in_flight, timed_out };
    struct Slot {
        std::unique_ptr<CommandNode> node;
        Clock::time_point deadline = Clock::time_point::max();
        State state = State::free;
        std::uint16_t next_free = 0;
        std::uint16_t cid = 0; ///< the cid of the slot's current (or last) use, on the wire
    };

    explicit CommandTable(std::uint16_t capacity);

    /// The generations a slot's cids go through (0..14; transport.hpp).
    static constexpr unsigned generations = 15;

    /// A free slot, its `cid` set to the next generation; -1 when every
    /// slot is in use.
    [[nodiscard]] int allocate() noexcept;
    /// Returns slot `index` to the free list; the slot must already be emptied.
    void release(std::uint16_t index) noexcept;

    [[nodiscard]] Slot& operator[](std::uint16_t index) noexcept { return slots_[index]; }
    [[nodiscard]] bool valid(std::uint16_t index) const noexcept { return index < slots_.size(); }
    [[nodiscard]] std::uint16_t capacity() const noexcept
    {
        return static_cast<std::uint16_t>(slots_.size());
    }
    /// Slots not free (in flight + tombstones).
    [[nodiscard]] std::uint32_t used() const noexcept { return used_; }
    /// Used slots whose command has no timeout (AERs).
    [[nodiscard]] std::uint32_t untimed() const noexcept { return untimed_; }
    void add_untimed(int delta) noexcept
    {
        untimed_ = static_cast<std::uint32_t>(static_cast<int>(untimed_) + delta);
    }

private:
    static constexpr std::uint16_t none = 0xffff;
    std::vector<Slot> slots_;
    std::uint16_t free_head_ = none;
    std::uint32_t used_ = 0;
    std::uint32_t untimed_ = 0;
};

} // namespace nvmecuse::ctrlr
