#pragma once

#include <system_error>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace nvmecuse::ctrlr {

/// Base of everything that travels through a Mailbox (intrusive: no
/// allocation in the mailbox itself).
struct MailboxNode {
    std::atomic<MailboxNode*> mailbox_next{nullptr};
    virtual ~MailboxNode() = default;
};

/// Multi-producer, single-consumer queue with an eventfd for a sleeping
/// consumer (Vyukov's intrusive MPSC list).
///
/// Threading: post() from any thread; everything else on the consumer
/// (owner) thread only. Wake-ups are elided while the consumer is awake:
/// the eventfd is written only when the consumer announced it is going to
/// sleep (prepare_sleep()), so a busy owner drains batches without syscalls.
class Mailbox {
public:
    Mailbox();
    ~Mailbox();  ///< deletes nodes still queued
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;

    /// Any thread. Takes ownership of `node`.
    void post(std::unique_ptr<MailboxNode> node) noexcept;

    /// Owner thread. The oldest node, or nullptr when empty (or when a
    /// producer is between its two steps; it becomes visible shortly).
    [[nodiscard]] std::unique_ptr<MailboxNode> pop() noexcept;

    /// Owner thread. True when nothing is queued.
    [[nodiscard]] bool empty() const noexcept;

    /// Owner thread. Declare the intent to sleep. Returns false (and the
    /// owner must not sleep) when work arrived meanwhile. After `true`, the
    /// owner polls fd() and calls finish_sleep() when it wakes.
    [[nodiscard]] bool prepare_sleep() noexcept;
    /// Owner thread. Leave the sleeping state and consume any wake-up.
    void finish_sleep() noexcept;

    /// The eventfd that becomes readable when a sleeping owner has work.
    [[nodiscard]] int fd() const noexcept { return event_fd_; }
    /// Why the mailbox has no eventfd (EMFILE, ENFILE); empty when it has one.
    /// A mailbox with an error must not be used.
    [[nodiscard]] std::error_code error() const noexcept { return error_; }

private:
    void wake() noexcept;

    alignas(64) std::atomic<MailboxNode*> head_;  // producers exchange here
    // Read by every post(), written only around a sleep: a line of its own,
    // so the consumer's pops (tail_) do not take it from the producers' cores.
    alignas(64) std::atomic<bool> sleeping_{false};
    int event_fd_ = -1;
    std::error_code error_;
    alignas(64) MailboxNode* tail_;               // consumer pops here
    MailboxNode stub_;
};

} // namespace nvmecuse::ctrlr
