// Steps on one queue pair shared by its drivers (see queue_slot.hpp).
#include "queue_slot.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace nvmecuse::ctrlr {

Issue issue_on(QueueSlot& q, std::unique_ptr<CommandNode>& node, Clock::time_point now,
               std::chrono::milliseconds default_timeout, Clock::time_point& earliest,
               std::error_code& error)
{
    const int allocated = q.table.allocate();
    if (allocated < 0) return Issue::full;
    const auto index = static_cast<std::uint16_t>(allocated);
    Command& c = node->command;
    c.sqe.cid = q.table[index].cid;
    transport::Request req;
    req.sqe = c.sqe;
    req.direction = c.direction;
    req.data = c.data.span();
    req.metadata = c.metadata.span();
    if (auto submitted = q.qp->submit(req); !submitted) {
        q.table.release(index);
        if (submitted.error() == std::errc::resource_unavailable_try_again) return Issue::full;
        error = submitted.error();
        return Issue::failed;
    }
    auto& slot = q.table[index];
    slot.state = CommandTable::State::in_flight;
    if (node->untimed) {
        slot.deadline = Clock::time_point::max();
        q.table.add_untimed(1);
    } else {
        slot.deadline = now + (c.timeout.count() > 0 ? c.timeout : default_timeout);
        earliest = std::min(earliest, slot.deadline);
    }
    slot.node = std::move(node);
    return Issue::issued;
}

std::unique_ptr<CommandNode> take_completed(QueueSlot& q, const nvme::CompletionQueueEntry& cqe,
                                            spdlog::logger& log, std::string_view name)
{
    const std::uint16_t index = transport::cid_slot(cqe.cid);
    if (!q.table.valid(index)) {
        log.warn("{}: qid {}: completion for invalid cid {:#x}", name, q.qid, cqe.cid);
        return nullptr;
    }
    auto& slot = q.table[index];
    if (slot.state == CommandTable::State::free) {
        log.warn("{}: qid {}: completion for idle cid {:#x}", name, q.qid, cqe.cid);
        return nullptr;
    }
    if (slot.cid != cqe.cid) {
        // Linux's nvme_find_rq(): "request genctr mismatch".
        log.warn("{}: qid {}: completion for cid {:#x}, whose slot is in use as cid {:#x}: "
                 "a repeated or late completion, dropped",
                 name, q.qid, cqe.cid, slot.cid);
        return nullptr;
    }
    std::unique_ptr<CommandNode> node = std::move(slot.node);
    const bool tombstone = slot.state == CommandTable::State::timed_out;
    if (node->untimed) q.table.add_untimed(-1);
    q.table.release(index);
    if (tombstone) {
        // Its handler already got `timed_out`; now the buffers may go.
        log.info("{}: qid {} cid {:#x}: late completion of a timed-out command dropped", name, q.qid,
                 cqe.cid);
        return nullptr;
    }
    return node;
}

Result result_of(const nvme::CompletionQueueEntry& cqe, CommandNode& node)
{
    Result r;
    r.status = nvme::Status::from_field(static_cast<std::uint16_t>(cqe.status >> 1));
    r.dw0 = cqe.dw0;
    r.dw1 = cqe.dw1;
    r.data = std::move(node.command.data);
    r.metadata = std::move(node.command.metadata);
    return r;
}

} // namespace nvmecuse::ctrlr
