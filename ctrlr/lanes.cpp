// The owner thread's side of the lanes (io_lane.hpp): which queues are
// lent, taking them back, and what a lane asks of the owner.
#include <spdlog/spdlog.h>

#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

void Controller::Impl::create_lanes()
{
    if (!transport_->info().concurrent_queues) return;
    for (Reactor* r : options_.reactors)
        if (r != nullptr) lanes_.push_back(std::make_unique<IoLane>(*this, *r, options_.io_timeout));
    for (auto& lane : lanes_)
        lane->reactor().add_poller(*lane);
}

void Controller::Impl::remove_lanes()
{
    for (auto& lane : lanes_)
        lane->reactor().remove_poller(*lane);
}

IoLane* Controller::Impl::current_lane() const noexcept
{
    if (lanes_.empty()) return nullptr;
    Reactor* here = Reactor::current();
    if (here == nullptr) return nullptr;
    for (const auto& lane : lanes_)
        if (&lane->reactor() == here) return lane.get();
    return nullptr;
}

void Controller::Impl::lend_queues()
{
    // The owner keeps queue 1 (and its io_queues); lanes get the last ones.
    const std::size_t io = queues_.size() > 0 ? queues_.size() - 1 : 0;
    if (io < 2) return;
    const std::size_t lent = std::min(lanes_.size(), io - 1);
    for (std::size_t i = 0; i < lent; ++i) {
        QueueSlot& q = *queues_[queues_.size() - lent + i];
        q.lent_to = lanes_[i].get();
        lanes_[i]->lend(q);
    }
    if (lent > 0) epoll_dirty_ = true;
}

void Controller::Impl::recall_lanes()
{
    bool any = false;
    for (auto& lane : lanes_) {
        QueueSlot* q = lane->recall();
        if (q == nullptr) continue;
        q->lent_to = nullptr;
        q->signalled = true;
        any = true;
    }
    if (!any) return;
    epoll_dirty_ = true;
    next_deadline_ = Clock::time_point::min(); // check_timeouts() recomputes it
}

void Controller::Impl::lane_command_expired(std::uint16_t qid, std::uint16_t cid, bool again)
{
    if (state_ != State::live) return; // the reset or reconnect sweeps it anyway
    if (again) {
        log_->error("{}: qid {} cid {}: no completion after abort; resetting controller",
                    options_.name, qid, cid);
        request_reset(false, nullptr);
        return;
    }
    log_->warn("{}: qid {} cid {}: timed out after {} ms", options_.name, qid, cid,
               options_.io_timeout.count());
    send_abort(qid, cid);
}

} // namespace nvmecuse::ctrlr
