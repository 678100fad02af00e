// Recovery from a lost connection (owner thread): live → reconnecting →
// live again, or failed when ctrl_loss_tmo runs out. Behaves like Linux
// nvme-fabrics error recovery (drivers/nvme/host/fabrics.c, tcp.c):
// outstanding commands fail (Command Aborted By Host, as
// nvme_cancel_request() cancels them), the controller is CONNECTING, and an
// attempt runs every reconnect_delay while fewer than ceil(ctrl_loss_tmo /
// reconnect_delay) have run. Every command of a caller is a passthrough
// command, which Linux marks REQ_FAILFAST_DRIVER: on a fabrics controller
// that is not live it fails at once with NVME_SC_HOST_PATH_ERROR
// (nvme_fail_nonready_command()), fast_io_fail_tmo or not, so nothing
// waits for a reconnect here either.
#include <spdlog/spdlog.h>

#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

namespace {
Clock::time_point after(Clock::time_point t, std::chrono::milliseconds d) noexcept
{
    return d.count() < 0 ? Clock::time_point::max() : t + d;
}
} // namespace

Clock::time_point Controller::Impl::recovery_deadline() const noexcept
{
    if (state_ != State::reconnecting) return Clock::time_point::max();
    return recovery_.attempt_running ? Clock::time_point::max() : recovery_.next_attempt;
}

void Controller::Impl::begin_reconnect()
{
    log_->warn("{}: connection lost; reconnecting every {} ms (ctrl_loss_tmo {} ms, "
               "fast_io_fail_tmo {} ms); commands fail with a host path error meanwhile",
               options_.name, options_.reconnect_delay.count(), options_.ctrl_loss_tmo.count(),
               options_.fast_io_fail_tmo.count());
    recall_lanes();
    set_state(State::reconnecting);
    path_state_.store(PathState::reconnecting);
    ++epoch_; // the core's own chains (scan, AERs, aborts) end
    aborts_in_flight_ = 0;
    // Not yet submitted (or held by a reset that was bringing the
    // controller up): these fail now, as they would a moment later.
    while (auto node = held_.pop())
        fail_fast(std::move(node));
    for (auto& q : queues_)
        while (auto node = q->overflow.pop()) {
            if (node->internal)
                finish(std::move(node), std::make_error_code(std::errc::operation_canceled));
            else
                fail_fast(std::move(node));
        }
    // The transport completed what was outstanding (Command Aborted By
    // Host); hand those completions to their handlers as they are.
    for (auto& q : queues_) {
        for (;;) {
            const std::size_t n = q->qp->reap(cqes_);
            for (std::size_t k = 0; k < n; ++k)
                complete(*q, cqes_[k]);
            if (n < cqes_.size()) break;
        }
        q->signalled = false;
    }
    transport_->disconnect();
    cancel_queued(std::make_error_code(std::errc::operation_canceled)); // anything left
    queues_.clear();
    epoll_dirty_ = true;
    const auto now = Clock::now();
    recovery_ = {};
    recovery_.lost_at = now;
    recovery_.next_attempt = now + options_.reconnect_delay;
    recovery_.give_up_at = after(now, options_.ctrl_loss_tmo);
    if (recovery_.next_attempt > recovery_.give_up_at)
        reconnect_attempt_failed(std::make_error_code(std::errc::not_connected));
}

bool Controller::Impl::recovery_tick()
{
    if (state_ != State::reconnecting || recovery_.attempt_running ||
        Clock::now() < recovery_.next_attempt)
        return false;
    start_reconnect_attempt();
    return true;
}

void Controller::Impl::start_reconnect_attempt()
{
    recovery_.attempt_running = true;
    ++recovery_.attempts;
    log_->info("{}: reconnect attempt {}", options_.name, recovery_.attempts);
    ++epoch_;
    drop_queues();
    const std::uint64_t epoch = epoch_;
    initialize([this, epoch](std::error_code ec) {
        if (epoch != epoch_ || !ec) return; // stopped or superseded; or live again
        // Possibly inside a completion handler that reap_all() runs over
        // the queues: drop them at the top of the loop instead.
        deferred_.push_back([this, epoch, ec] {
            if (epoch == epoch_) reconnect_attempt_failed(ec);
        });
    });
}

void Controller::Impl::drop_queues()
{
    // Only the core's own commands can be on them while reconnecting.
    cancel_queued(std::make_error_code(std::errc::operation_canceled));
    queues_.clear();
    transport_->disconnect();
    epoll_dirty_ = true;
}

void Controller::Impl::reconnect_attempt_failed(std::error_code ec)
{
    recovery_.attempt_running = false;
    ++epoch_; // what is left of the attempt's bring-up ends
    drop_queues();
    recovery_.next_attempt = Clock::now() + options_.reconnect_delay;
    if (recovery_.next_attempt <= recovery_.give_up_at) {
        if (recovery_.attempts > 0)
            log_->warn("{}: reconnect attempt {} failed: {}; next in {} ms", options_.name,
                       recovery_.attempts, ec.message(), options_.reconnect_delay.count());
        return;
    }
    log_->error("{}: ctrl_loss_tmo ({} ms) expired after {} reconnect attempt(s); giving up",
                options_.name, options_.ctrl_loss_tmo.count(), recovery_.attempts);
    recovery_ = {};
    path_state_.store(PathState::lost);
    enter_failed(ec); // new commands fail
}

// NVME_SC_HOST_PATH_ERROR, as nvme_host_path_error() completes a request
// nvme_fail_nonready_command() refuses. Nothing was transferred.
void Controller::Impl::fail_fast(std::unique_ptr<CommandNode> node)
{
    Result r;
    r.status = nvme::Status(nvme::StatusCodeType::path,
                            static_cast<std::uint8_t>(nvme::PathStatus::host_pathing_error));
    r.data = std::move(node->command.data);
    r.metadata = std::move(node->command.metadata);
    if (node->handler) node->handler(std::move(r));
}

} // namespace nvmecuse::ctrlr
