// IoLane: a queue pair driven by a serving thread (see io_lane.hpp).
#include "io_lane.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

IoLane::IoLane(Controller::Impl& owner, Reactor& reactor, std::chrono::milliseconds io_timeout)
    : owner_(owner), reactor_(reactor), io_timeout_(io_timeout),
      wake_(::epoll_create1(EPOLL_CLOEXEC))
{
    done_.reserve(64);
    if (!wake_.valid())
        spdlog::warn("{}: lane of serving thread {}: no epoll set ({}); it polls instead",
                     owner.options_.name, reactor.index(), std::strerror(errno));
}

IoLane::~IoLane() = default;

bool IoLane::submit(std::unique_ptr<CommandNode>& node)
{
    std::unique_lock lock(mutex_);
    if (slot_ == nullptr) return false;
    QueueSlot& q = *slot_;
    if (!q.overflow.empty()) {
        q.overflow.push(std::move(node));
        publish_locked();
        return true;
    }
    std::error_code error;
    switch (issue_on(q, node, Clock::now(), io_timeout_, table_deadline_, error)) {
    case Issue::issued:
        break;
    case Issue::full:
        q.overflow.push(std::move(node));
        break;
    case Issue::failed: {
        publish_locked();
        lock.unlock();
        // Lost connection or a refused command: the owner sorts it out
        // (waits for the reconnect, or fails it).
        owner_.submit_node(std::move(node));
        return true;
    }
    }
    publish_locked();
    return true;
}

bool IoLane::poll(Clock::time_point now)
{
    {
        std::lock_guard lock(mutex_);
        if (slot_ == nullptr) return false;
        bool look = !watched_ ? slot_->table.used() != 0 || !slot_->overflow.empty()
                                  : signalled_.exchange(false, std::memory_order_relaxed) || !slot_->overflow.empty();
        if (look) reap_locked();
        if (now >= table_deadline_) expire_locked(now);
        publish_locked();
    }
    if (done_.empty()) return false;
    run_finished();
    return true;
}

bool IoLane::reap_locked()
{
    QueueSlot& q = *slot_;
    std::array<nvme::CompletionQueueEntry, 32> cqes{};
    bool any = false;
    for (;;) {
        const std::size_t n = q.qp->reap(cqes);
        for (std::size_t k = 0; k < n; ++k) {
            auto node = take_completed(q, cqes[k], *owner_.log_, owner_.options_.name);
            if (!node) continue;
            Result r = result_of(cqes[k], *node);
            done_.push_back({std::move(node), std::move(r)});
        }
        any |= n > 0;
        if (n < cqes.size()) break;
    }
    while (!q.overflow.empty()) {
        auto node = q.overflow.pop();
        std::error_code error;
        const Issue r = issue_on(q, node, Clock::now(), io_timeout_, table_deadline_, error);
        if (r == Issue::full) {
            q.overflow.push_front(std::move(node));
            break;
        }
        if (r == Issue::failed) {
            // The owner decides (a lost connection: wait for the reconnect).
            done_.push_back({std::move(node), {}, true});
        }
    }
    return any;
}

void IoLane::expire_locked(Clock::time_point now)
{
    QueueSlot& q = *slot_;
    table_deadline_ = Clock::time_point::max();
    for (std::uint16_t index = 0; index < q.table.capacity(); ++index) {
        auto& slot = q.table[index];
        if (slot.state == CommandTable::State::free) continue;
        if (slot.deadline <= now) {
            const std::uint16_t qid = q.qid;
            const std::uint16_t cid = slot.cid;
            if (slot.state == CommandTable::State::timed_out) {
                // No completion a timeout after the abort: reset (owner).
                slot.deadline = Clock::time_point::max();
                owner_.post_task([o = &owner_, qid, cid] { o->lane_command_expired(qid, cid, true); });
            } else {
                // Like the owner's on_timeout(): the handler hears now, the
                // buffers stay with the tombstone until the real completion.
                slot.state = CommandTable::State::timed_out;
                slot.deadline = now + io_timeout_;
                Finished f{nullptr, {}, false};
                f.result.error = std::make_error_code(std::errc::timed_out);
                auto handler = std::move(slot.node->handler);
                slot.node->handler = nullptr;
                f.node = std::make_unique<CommandNode>(QueueKind::io, Command{}, std::move(handler));
                done_.push_back(std::move(f));
                owner_.post_task([o = &owner_, qid, cid] { o->lane_command_expired(qid, cid, false); });
            }
        }
        if (slot.state != CommandTable::State::free)
            table_deadline_ = std::min(table_deadline_, slot.deadline);
    }
}

void IoLane::publish_locked()
{
    const QueueSlot* q = slot_;
    const bool poll_needed =
        q != nullptr && (!q->overflow.empty() || (!watched_ && q->table.used() != 0));
    must_poll_.store(poll_needed, std::memory_order_relaxed);
    deadline_.store((q != nullptr ? table_deadline_ : Clock::time_point::max())
                         .time_since_epoch()
                         .count(),
                     std::memory_order_relaxed);
}

void IoLane::run_finished()
{
    // Handlers may submit again (to this lane): none runs under the lock.
    // Index loop: a handler's submit never appends here.
    for (std::size_t i = 0; i < done_.size(); ++i) {
        Finished& f = done_[i];
        if (f.to_owner)
            owner_.submit_node(std::move(f.node));
        else if (f.node->handler)
            f.node->handler(std::move(f.result));
    }
    done_.clear();
}

bool IoLane::needs_polling() const { return must_poll_.load(std::memory_order_relaxed); }
Clock::time_point IoLane::next_deadline() const
{
    return Clock::time_point(Clock::duration(deadline_.load(std::memory_order_relaxed)));
}

void IoLane::lend(QueueSlot& slot)
{
    std::lock_guard lock(mutex_);
    slot_ = &slot;
    if (slot.fd >= 0 && wake_.valid()) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        if (::epoll_ctl(wake_.get(), EPOLL_CTL_ADD, slot.fd, &ev) != 0)
            watched_ = false; // polled instead (publish_locked())
        else
            watched_ = true;
    }
    signalled_.store(true, std::memory_order_relaxed);
    table_deadline_ = Clock::time_point::min(); // recomputed on the first poll
    publish_locked();
    // The queue may hold commands already (those the owner held during the
    // reset): a sleeping reactor must look.
    reactor_.post([] {});
}

QueueSlot* IoLane::recall()
{
    std::lock_guard lock(mutex_);
    QueueSlot* slot = std::exchange(slot_, nullptr);
    // Before the owner may close it: the reactor's set holds only ours.
    if (slot != nullptr && watched_) ::epoll_ctl(wake_.get(), EPOLL_CTL_DEL, slot->fd, nullptr);
    watched_ = false;
    publish_locked();
    return slot;
}

} // namespace nvmecuse::ctrlr
