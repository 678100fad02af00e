// Vyukov's intrusive MPSC queue with an eventfd for a sleeping consumer.
//
// Memory ordering, and why no wake-up is lost
// -------------------------------------------
// Producer (post):   (P1) head_.exchange(n)          seq_cst
//                    (P2) prev->mailbox_next = n     release
//                    (P3) sleeping_.load()           seq_cst -> write(eventfd) if true
// Consumer (prepare_sleep):
//                    (C1) sleeping_.store(true)      seq_cst
//                    (C2) head_.load()               seq_cst -> empty iff == &stub_ && tail_ ==
//                    &stub_
//
// All four are seq_cst, so they sit in one total order S. If C2 precedes P1
// in S, then C1 precedes P1 precedes P3, so P3 reads `true` and the producer
// writes the eventfd: the consumer's epoll sees it. Otherwise P1 precedes C2,
// C2 reads n (or a later node), the queue is not empty and prepare_sleep()
// returns false: the consumer does not sleep. (Both may happen: one spurious
// wake-up, harmless.) A producer that saw `true` from an earlier sleep cycle
// may write the eventfd after finish_sleep() drained it; that is a spurious
// wake-up on the next sleep, again harmless.
//
// The node's contents are published by P2 (release) and acquired by pop()'s
// acquire load of mailbox_next. Between P1 and P2 the queue is "non-empty but
// not poppable": pop() returns nullptr and empty() returns false, so the
// owner keeps polling instead of sleeping until P2 lands.
#include "nvmecuse/ctrlr/mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "nvmecuse/errno.hpp"

namespace nvmecuse::ctrlr {

Mailbox::Mailbox() : head_(&stub_), tail_(&stub_)
{
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // Without the fd the owner thread could never sleep safely; its owner
    // must not start (error()). Only a process out of descriptors sees this.
    if (event_fd_ < 0) error_ = last_errno();
}

Mailbox::~Mailbox()
{
    while (auto node = pop()) {
    }
    // A node caught between P1 and P2 cannot exist here: producers must not
    // post to a mailbox being destroyed.
    ::close(event_fd_);
}

void Mailbox::post(std::unique_ptr<MailboxNode> owned) noexcept
{
    MailboxNode* node = owned.release();
    node->mailbox_next.store(nullptr, std::memory_order_relaxed);
    MailboxNode* prev = head_.exchange(node, std::memory_order_seq_cst); // P1
    prev->mailbox_next.store(node, std::memory_order_release);           // P2
    if (sleeping_.load(std::memory_order_seq_cst)) wake();               // P3
}

void Mailbox::wake() noexcept
{
    const std::uint64_t one = 1;
    ssize_t r;
    do {
        r = ::write(event_fd_, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
    // EAGAIN means the counter is saturated: the fd is readable anyway.
}

namespace {
/// Starts fetching the next node (written by a producer on another core)
/// while the owner handles this one, for writing: the owner moves out of it.
void prefetch(const MailboxNode* node) noexcept
{
    const auto* p = reinterpret_cast<const char*>(node);
    for (int line = 0; line < 4; ++line)
        __builtin_prefetch(p + line * 64, 1);
}
} // namespace

std::unique_ptr<MailboxNode> Mailbox::pop() noexcept
{
    MailboxNode* tail = tail_;
    MailboxNode* next = tail->mailbox_next.load(std::memory_order_acquire);
    if (tail == &stub_) {
        if (next == nullptr) return nullptr;
        tail_ = next;
        tail = next;
        next = next->mailbox_next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
        tail_ = next;
        prefetch(next);
        return std::unique_ptr<MailboxNode>(tail);
    }
    // `tail` is the last linked node; is it also the newest one?
    if (tail != head_.load(std::memory_order_acquire)) return nullptr; // a producer is mid-post
    // Re-insert the stub behind `tail` so that `tail` can be handed out.
    stub_.mailbox_next.store(nullptr, std::memory_order_relaxed);
    MailboxNode* prev = head_.exchange(&stub_, std::memory_order_seq_cst);
    prev->mailbox_next.store(&stub_, std::memory_order_release);
    next = tail->mailbox_next.load(std::memory_order_acquire);
    if (next != nullptr) {
        tail_ = next;
        return std::unique_ptr<MailboxNode>(tail);
    }
    return nullptr; // a producer slipped in between; its link lands shortly
}

bool Mailbox::empty() const noexcept
{
    return tail_ == &stub_ && head_.load(std::memory_order_seq_cst) == &stub_; // C2
}

bool Mailbox::prepare_sleep() noexcept
{
    sleeping_.store(true, std::memory_order_seq_cst); // C1
    if (!empty()) {                                   // C2
        sleeping_.store(false, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void Mailbox::finish_sleep() noexcept
{
    sleeping_.store(false, std::memory_order_relaxed);
    std::uint64_t value;
    ssize_t r;
    do {
        r = ::read(event_fd_, &value, sizeof value);
    } while (r < 0 && errno == EINTR);
}

} // namespace nvmecuse::ctrlr
