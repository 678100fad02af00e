// One queue pair and its bookkeeping, and the steps both of its drivers
// share: the owner thread (admin queue, its own I/O queues) and a serving
// thread that has the queue lent (io_lane.hpp).
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

#include "nvmecuse/transport/transport.hpp"

#include "command_table.hpp"

namespace nvmecuse::ctrlr {

class IoLane;

/// One queue pair and its bookkeeping (index 0 is the admin queue).
struct QueueSlot {
    QueueSlot(transport::QueuePair* q, std::unique_ptr<transport::QueuePair> o, std::uint16_t id)
        : qp(q), owned(std::move(o)), qid(id), table(q->depth()), fd(q->completion_fd())
    {
    }
    transport::QueuePair* qp;
    std::unique_ptr<transport::QueuePair> owned; ///< null for the admin queue
    std::uint16_t qid;
    CommandTable table;
    NodeFifo overflow; ///< accepted, waiting for a free cid / queue entry
    int fd;
    /// fd >= 0: epoll reported the fd readable since the last reap (level-
    /// triggered, so what one reap leaves is reported again). Queues that
    /// signal completions are reaped only then, not on every loop iteration:
    /// a reap may be a system call (a socket's recv) that finds nothing.
    bool signalled = true;
    /// Driven by this serving thread's lane, not by the owner (owner thread).
    IoLane* lent_to = nullptr;
};

enum class Issue : std::uint8_t {
    issued, ///< the slot holds the node now
    full,   ///< no free cid or queue entry; `node` untouched
    failed  ///< the transport refused it (`error`); `node` untouched
};
/// Gives `node` a cid and submits it with its deadline (its own timeout or
/// `default_timeout`; none when untimed), lowering `earliest` to it.
Issue issue_on(QueueSlot& q, std::unique_ptr<CommandNode>& node, Clock::time_point now,
               std::chrono::milliseconds default_timeout, Clock::time_point& earliest,
               std::error_code& error);

/// The node a completion answers, its cid released; null for a completion
/// of a cid that is not in flight (logged) and for the late completion of
/// a timed-out command (its tombstone is dropped).
std::unique_ptr<CommandNode> take_completed(QueueSlot& q, const nvme::CompletionQueueEntry& cqe,
                                            spdlog::logger& log, std::string_view name);

/// The Result of `node` completed by `cqe`; the buffers move into it.
Result result_of(const nvme::CompletionQueueEntry& cqe, CommandNode& node);

} // namespace nvmecuse::ctrlr
