// An I/O queue pair of a controller lent to one serving thread (a Reactor):
// commands submitted on that thread go straight to it, and their
// completions are reaped and handled there, with no hand-off to the owner.
// The owner thread lends the queue while the controller is live and
// recalls it before any reset, reconnect or shutdown touches the queues.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/reactor.hpp"

#include "command_table.hpp"
#include "queue_slot.hpp"

namespace nvmecuse::ctrlr {

class IoLane final : public Reactor::Poller {
public:
    IoLane(Controller::Impl& owner, Reactor& reactor, std::chrono::milliseconds io_timeout);
    IoLane(const IoLane&) = delete;
    IoLane& operator=(const IoLane&) = delete;

    [[nodiscard]] Reactor& reactor() const noexcept { return reactor_; }

    // ---- the reactor's thread ---------------------------------------------
    /// Issues `node` on the lent queue (or queues it behind the commands
    /// waiting for a free entry); false, with `node` untouched, when no
    /// queue is lent now: the owner takes it then.
    [[nodiscard]] bool submit(std::unique_ptr<CommandNode>& node);
    bool poll(Clock::time_point now) override;
    [[nodiscard]] bool needs_polling() const override;
    [[nodiscard]] int wake_fd() const override;
    [[nodiscard]] std::uint64_t wake_generation() const override;
    void signal() override { signalled_.store(true, std::memory_order_relaxed); }
    [[nodiscard]] Clock::time_point next_deadline() const override;

    // ---- the owner thread -------------------------------------------------
    /// From now on the reactor drives `slot`.
    void lend(QueueSlot& slot);
    /// Takes the queue back (null when none was lent). After it returns the
    /// reactor no longer touches it; completions it already took are its to
    /// hand out.
    QueueSlot* recall();

private:
    struct Finished {
        std::unique_ptr<CommandNode> node;
        Result result;
        bool to_owner = false; ///< refused by the transport: the owner decides
    };
    /// Under mutex_: reaps the queue into done_, issues what waits.
    bool reap_locked();
    /// Under mutex_: marks expired commands, collects their handlers.
    void expire_locked(Clock::time_point now);
    /// Under mutex_: the state the reactor reads without the lock.
    void publish_locked();
    void run_finished();

    Controller::Impl& owner_;
    Reactor& reactor_;
    const std::chrono::milliseconds io_timeout_;

    mutable std::mutex mutex_; ///< the reactor while it uses slot_; the owner to lend/recall
    QueueSlot* slot_ = nullptr;
    Clock::time_point table_deadline_ = Clock::time_point::max(); ///< earliest in slot_

    std::atomic<int> fd_{-1};
    std::atomic<std::uint64_t> generation_{0}; ///< one more at every lend() and recall()
    std::atomic<bool> must_poll_{false};
    std::atomic<Clock::rep> deadline_{Clock::time_point::max().time_since_epoch().count()};

    std::atomic<bool> signalled_{true}; ///< wake_fd() was readable since the last reap
    // reactor thread only
    std::vector<Finished> done_;
};

} // namespace nvmecuse::ctrlr
