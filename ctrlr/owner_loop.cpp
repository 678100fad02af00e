// The owner thread: mailbox → queues → completions → handlers → timeouts →
// sleep. Everything in this file runs on the owner thread only.
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "admin_commands.hpp"
#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

namespace {
/// Nodes taken from the mailbox per loop iteration before completions are
/// reaped again (keeps latency bounded under a flood of submissions).
constexpr int mailbox_batch = 256;
/// While only Asynchronous Event Requests are outstanding on a queue that
/// cannot signal completions (no completion_fd), the sleeping owner still
/// reaps it this often, so it never burns a core for an event that may
/// not come for days.
constexpr int idle_poll_ms = 100;
/// Busy owner-loop turns per clock read.
constexpr unsigned clock_every_busy_turns = 16;
/// While polling, the owner yields its CPU once per this much idle time:
/// callers that outnumber the CPUs get to run within it, and an owner that
/// is idle only between a busy submitter's batches (well under it) makes
/// no sched_yield at all (each one a system call on the hot path).
constexpr auto yield_interval = std::chrono::microseconds(20);

constexpr bool effects_change_namespaces(std::uint8_t opc)
{
    using nvme::AdminOpcode;
    switch (static_cast<AdminOpcode>(opc)) {
    case AdminOpcode::namespace_management:
    case AdminOpcode::namespace_attachment:
    case AdminOpcode::format_nvm:
    case AdminOpcode::firmware_commit:
        return true;
    default:
        return false;
    }
}
} // namespace

void Controller::Impl::run()
{
    owner_id_ = std::this_thread::get_id();
    // Name the owner thread after the controller (top -H, perf --comm, gdb).
    pthread_setname_np(pthread_self(), options_.name.substr(0, 15).c_str());
    auto last_work = Clock::now();
    unsigned busy_turns = 0;
    for (;;) {
        // The clock on every idle turn (the spin window and the yield pacing
        // need it), on busy ones only every few: in a VM a clock read costs
        // as much as handing a command over, and millisecond deadlines do not
        // need a fresher one.
        if (busy_turns % clock_every_busy_turns == 0) now_ = Clock::now();
        bool worked = drain_mailbox();
        if (state_ == State::stopping) break;
        if (reset_requested_) {
            do_reset();
            continue;
        }
        if (std::exchange(loss_reported_, false) && state_ == State::live) {
            begin_reconnect();
            continue;
        }
        if (std::exchange(removal_reported_, false)) {
            device_removed();
            continue;
        }
        while (!deferred_.empty()) {
            auto tasks = std::exchange(deferred_, {});
            for (auto& t : tasks)
                t();
            worked = true;
        }
        if (state_ == State::stopping) break; // a deferred shutdown finished
        // Readiness of watched fds and of signalling queues, without
        // sleeping; then reap what is ready (and every polled queue).
        // (Not right after a sleep: its epoll_wait just told.)
        const bool woke = std::exchange(just_woke_, false);
        if (!woke && (watch_count_.load(std::memory_order_relaxed) != 0 || awaits_signal()))
            worked |= poll_events_or_direct();
        worked |= reap_all();
        if (now_ >= next_timer()) worked |= run_due_timers(now_);
        if (now_ >= next_deadline_) check_timeouts(now_);
        if (state_ == State::reconnecting && now_ >= recovery_deadline()) worked |= recovery_tick();
        if (worked || reset_requested_ || !deferred_.empty()) {
            ++busy_turns;
            continue;
        }
        if (busy_turns != 0) {
            // The first idle turn: the polling window starts now, not at the
            // clock read up to 15 busy turns ago (a turn with system calls
            // can take 100 us under emulation).
            busy_turns = 0;
            now_ = Clock::now();
            last_work = now_;
            if (expect_answers()) {
                // A command just went to a queue whose completion another
                // task produces (NVMe/TCP over loopback: the target's
                // kworker, woken on this CPU by our own send): let it run
                // now rather than after the yield interval or the tick.
                std::this_thread::yield();
                last_yield_ = now_;
                // Having run, it has most likely answered: those queues are
                // reaped next without asking epoll first (one system call
                // less per command; a queue with nothing to read answers
                // like an empty epoll_wait would have).
                just_woke_ = true;
                continue;
            }
        }
        if (must_poll()) continue;
        if (now_ - last_work < options_.spin_before_sleep) {
            // Polling, but second to any thread that could run on this CPU
            // (the callers themselves, when they outnumber the CPUs); not on
            // every turn, which would slow the poll itself down.
            if (now_ - std::max(last_work, last_yield_) >= yield_interval) {
                std::this_thread::yield();
                last_yield_ = now_;
            }
            continue;
        }
        sleep();
        last_work = Clock::now();
    }
}

bool Controller::Impl::drain_mailbox()
{
    int n = 0;
    for (; n < mailbox_batch; ++n) {
        auto raw = mailbox_.pop();
        if (!raw) break;
        auto* node = static_cast<OwnerNode*>(raw.get());
        if (node->kind == OwnerNode::Kind::command) {
            raw.release();
            accept(std::unique_ptr<CommandNode>(static_cast<CommandNode*>(node)));
        } else {
            static_cast<TaskNode*>(node)->fn();
            // A reset or stop takes effect before anything posted after it.
            if (reset_requested_ || state_ == State::stopping) return true;
        }
    }
    return n > 0;
}

std::chrono::milliseconds Controller::Impl::default_timeout(QueueKind q) const noexcept
{
    return q == QueueKind::admin ? options_.admin_timeout : options_.io_timeout;
}

void Controller::Impl::finish(std::unique_ptr<CommandNode> node, std::error_code ec,
                              bool hand_back_buffers)
{
    Result r;
    r.error = ec;
    if (hand_back_buffers) {
        r.data = std::move(node->command.data);
        r.metadata = std::move(node->command.metadata);
    }
    if (node->handler) node->handler(std::move(r));
}

void Controller::Impl::accept(std::unique_ptr<CommandNode> node)
{
    if (node->command.direction == nvme::DataTransfer::bidirectional) {
        finish(std::move(node), std::make_error_code(std::errc::invalid_argument));
        return;
    }
    switch (state_) {
    case State::live:
        dispatch(std::move(node));
        return;
    case State::starting:
    case State::resetting:
        held_.push(std::move(node));
        return;
    case State::reconnecting:
        fail_fast(std::move(node)); // REQ_FAILFAST_DRIVER (reconnect.cpp)
        return;
    case State::failed:
        finish(std::move(node), failed_error());
        return;
    case State::shutting_down:
    case State::stopping:
        finish(std::move(node), std::make_error_code(std::errc::operation_canceled));
        return;
    }
}

void Controller::Impl::dispatch(std::unique_ptr<CommandNode> node)
{
    QueueSlot* q = nullptr;
    if (node->queue == QueueKind::admin) {
        if (!queues_.empty()) q = queues_[0].get();
    } else if (queues_.size() > 1) {
        // Round robin over the I/O queues the owner drives (queue 1 always).
        std::size_t io = queues_.size() - 1;
        while (io > 1 && queues_[io]->lent_to != nullptr)
            --io;
        q = queues_[1 + next_io_ % io].get();
        ++next_io_;
    }
    if (q == nullptr) {
        finish(std::move(node), std::make_error_code(std::errc::not_connected));
        return;
    }
    if (!q->overflow.empty() || try_issue(*q, node) == IssueResult::full)
        q->overflow.push(std::move(node));
}

void Controller::Impl::issue_internal(QueueKind queue, Command command, CompletionHandler handler,
                                      bool untimed)
{
    auto node = std::make_unique<CommandNode>(queue, std::move(command), std::move(handler));
    node->internal = true;
    node->untimed = untimed;
    if (state_ == State::stopping) {
        finish(std::move(node), std::make_error_code(std::errc::operation_canceled));
        return;
    }
    dispatch(std::move(node));
}

Controller::Impl::IssueResult Controller::Impl::try_issue(QueueSlot& q,
                                                          std::unique_ptr<CommandNode>& node)
{
    std::error_code error;
    switch (issue_on(q, node, now_, default_timeout(node->queue), next_deadline_, error)) {
    case Issue::issued:
        return IssueResult::issued;
    case Issue::full:
        return IssueResult::full;
    case Issue::failed:
        break;
    }
    if (!node->internal && state_ == State::live && transport_->connection_lost()) {
        // Lost before the core heard of it: the command waits for the
        // reconnect like those submitted a moment later.
        held_.push(std::move(node));
        loss_reported_ = true;
        return IssueResult::failed;
    }
    log_->debug("{}: qid {} opc {:#04x} refused by the transport: {}", options_.name, q.qid,
                node->command.sqe.opc, error.message());
    finish(std::move(node), error);
    return IssueResult::failed;
}

bool Controller::Impl::reap_all()
{
    if (transport_busy_) return false; // the worker is using it (off_loop())
    bool any = false;
    // Index loop: a handler may add I/O queues (never remove them; resets
    // run at the top of the loop).
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        QueueSlot& q = *queues_[i];
        if (q.lent_to != nullptr) continue; // its serving thread reaps it
        if (q.fd < 0 ? q.table.used() == 0 && q.overflow.empty()
                     : !q.signalled && q.overflow.empty())
            continue;
        q.signalled = false;
        for (;;) {
            const std::size_t n = q.qp->reap(cqes_);
            for (std::size_t k = 0; k < n; ++k)
                complete(q, cqes_[k]);
            if (n == 0) break;
            any = true;
            if (n < cqes_.size()) break;
        }
        if (!q.overflow.empty()) flush_overflow(q);
    }
    return any;
}

void Controller::Impl::flush_overflow(QueueSlot& q)
{
    while (!q.overflow.empty()) {
        auto node = q.overflow.pop();
        if (try_issue(q, node) == IssueResult::full) {
            q.overflow.push_front(std::move(node));
            return;
        }
    }
}

void Controller::Impl::complete(QueueSlot& q, const nvme::CompletionQueueEntry& cqe)
{
    std::unique_ptr<CommandNode> node = take_completed(q, cqe, *log_, options_.name);
    if (!node) return;
    Result r = result_of(cqe, *node);
    const std::uint8_t opc = node->command.sqe.opc;
    // Like the Linux driver's nvme_passthru_end(): the core refreshes what
    // the command may have changed before the user's handler runs, so the
    // caller sees the new namespaces and formats as soon as it hears back.
    const bool refresh = !node->internal && node->queue == QueueKind::admin &&
                         r.status.is_success() && effects_change_namespaces(opc);
    if (!refresh) {
        if (node->handler) node->handler(std::move(r));
        return;
    }
    after_admin_passthrough(opc, [handler = std::move(node->handler),
                                  r = std::move(r)](std::error_code) mutable {
        if (handler) handler(std::move(r));
    });
}

void Controller::Impl::check_timeouts(Clock::time_point now)
{
    next_deadline_ = Clock::time_point::max();
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        QueueSlot& q = *queues_[i];
        if (q.lent_to != nullptr || q.table.used() == q.table.untimed()) continue;
        for (std::uint16_t index = 0; index < q.table.capacity(); ++index) {
            auto& slot = q.table[index];
            if (slot.state == CommandTable::State::free) continue;
            if (slot.deadline <= now) on_timeout(q, index, now);
            if (slot.state != CommandTable::State::free)
                next_deadline_ = std::min(next_deadline_, slot.deadline);
        }
    }
}

// Like Linux nvme_timeout(): the first expiry completes the command with
// `timed_out` and aborts it; an Abort that fails, a command that outlives a
// second timeout period, or a timed-out Abort resets the controller.
void Controller::Impl::on_timeout(QueueSlot& q, std::uint16_t index, Clock::time_point now)
{
    auto& slot = q.table[index];
    const std::uint16_t cid = slot.cid;
    CommandNode& node = *slot.node;
    const auto timeout =
        node.command.timeout.count() > 0 ? node.command.timeout : default_timeout(node.queue);
    if (slot.state == CommandTable::State::timed_out) {
        slot.deadline = Clock::time_point::max(); // one reset request per tombstone
        if (state_ == State::live) {
            log_->error("{}: qid {} cid {}: no completion after abort; resetting controller",
                        options_.name, q.qid, cid);
            request_reset(false, nullptr);
        }
        return;
    }
    log_->warn("{}: qid {} cid {} opc {:#04x}: timed out after {} ms", options_.name, q.qid, cid,
               node.command.sqe.opc, timeout.count());
    // The transport holds spans into the command's buffers until it
    // completes the cid or the queue is torn down: the buffers stay in the
    // tombstone and the handler gets empty ones.
    slot.state = CommandTable::State::timed_out;
    slot.deadline = now + timeout;
    const bool is_abort =
        node.internal && q.qid == 0 &&
        node.command.sqe.opc == static_cast<std::uint8_t>(nvme::AdminOpcode::abort);
    auto handler = std::move(node.handler);
    node.handler = nullptr;
    Result r;
    r.error = std::make_error_code(std::errc::timed_out);
    if (handler) handler(std::move(r));
    if (state_ != State::live) return; // (re)initialisation fails on its own
    if (is_abort) {
        log_->error("{}: Abort command timed out; resetting controller", options_.name);
        request_reset(false, nullptr);
        return;
    }
    send_abort(q.qid, cid);
}

void Controller::Impl::send_abort(std::uint16_t sqid, std::uint16_t cid)
{
    // ACL is 0's based (NVMe Base 2.0, Figure 275); beyond it the controller
    // would fail the Abort, so just let the second timeout reset.
    if (aborts_in_flight_ >= std::uint32_t{id_ctrl_.acl} + 1) return;
    ++aborts_in_flight_;
    const std::uint64_t epoch = epoch_;
    issue_internal(QueueKind::admin, admin::abort(sqid, cid), [this, epoch, sqid, cid](Result&& r) {
        if (epoch != epoch_) return;
        --aborts_in_flight_;
        if (r.error) return; // timed out: handled by on_timeout; canceled: reset in progress
        if (!r.status.is_success() &&
            !r.status.same_code(nvme::CommandSpecificStatus::abort_command_limit_exceeded)) {
            log_->error("{}: Abort of sqid {} cid {} failed: {}; resetting controller",
                        options_.name, sqid, cid, nvme::to_string(r.status));
            request_reset(false, nullptr);
            return;
        }
        log_->info("{}: Abort of sqid {} cid {}: {}", options_.name, sqid, cid,
                   (r.dw0 & 1u) != 0 ? "not aborted" : "aborted");
    });
}

bool Controller::Impl::must_poll() const noexcept
{
    if (state_ == State::failed) return false;
    for (const auto& q : queues_) {
        if (q->lent_to != nullptr) continue;
        if (!q->overflow.empty()) return true;
        if (q->fd < 0 && q->table.used() > q->table.untimed()) return true;
    }
    return false;
}

void Controller::Impl::rebuild_epoll()
{
    epoll_dirty_ = false;
    // A fresh set, or, out of descriptors, the old one with the new fds
    // added (closed ones have left it on their own).
    if (const int fresh = ::epoll_create1(EPOLL_CLOEXEC); fresh >= 0) {
        ::close(epoll_fd_);
        epoll_fd_ = fresh;
    } else {
        log_->error("{}: epoll_create1: {}; keeping the old epoll set", options_.name,
                    std::strerror(errno));
    }
    auto add = [this](int fd) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST)
            log_->error("{}: epoll_ctl add {}: {}", options_.name, fd, std::strerror(errno));
    };
    add(mailbox_.fd());
    add(timer_fd_);
    if (transport_event_fd_ >= 0) add(transport_event_fd_);
    for (const auto& q : queues_)
        if (q->fd >= 0 && q->lent_to == nullptr) add(q->fd);
    std::lock_guard lock(watches_mutex_);
    for (const auto& [id, w] : watches_)
        add(w.fd);
}

void Controller::Impl::arm_timer(Clock::time_point deadline)
{
    if (deadline == armed_deadline_) return;
    armed_deadline_ = deadline;
    itimerspec spec{};
    if (deadline != Clock::time_point::max()) {
        // steady_clock is CLOCK_MONOTONIC on Linux.
        const auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch())
                .count();
        spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
        log_->error("{}: timerfd_settime: {}", options_.name, std::strerror(errno));
}

void Controller::Impl::sleep()
{
    if (!mailbox_.prepare_sleep()) return;
    arm_timer(std::min({next_deadline_, recovery_deadline(), next_timer()}));
    int timeout_ms = -1;
    for (const auto& q : queues_)
        if (q->fd < 0 && q->lent_to == nullptr && q->table.untimed() > 0) timeout_ms = idle_poll_ms;
    std::array<epoll_event, 16> events{};
    const int n = wait_for_events(events, timeout_ms);
    // Awake before any handler runs: what it posts needs no wake-up.
    mailbox_.finish_sleep();
    just_woke_ = true;
    dispatch_events(std::span(events).first(static_cast<std::size_t>(std::max(n, 0))));
}

bool Controller::Impl::awaits_signal() const noexcept
{
    for (const auto& q : queues_)
        if (q->fd >= 0 && q->lent_to == nullptr && q->table.used() > 0) return true;
    return false;
}

bool Controller::Impl::expect_answers() noexcept
{
    bool any = false;
    for (auto& q : queues_) {
        if (q->fd >= 0 && q->lent_to == nullptr && q->table.used() > q->table.untimed()) {
            q->signalled = true;
            any = true;
        }
    }
    return any;
}

bool Controller::Impl::poll_events_or_direct()
{
    // A node with callers waiting has its next request queued already: one
    // read() instead of epoll_wait() + read(). Every third iteration still
    // asks epoll, so sockets and other nodes are never starved by it.
    constexpr unsigned max_direct_turns = 2;
    if (direct_watch_fd_ >= 0 && direct_turns_ < max_direct_turns) {
        ++direct_turns_;
        return serve_watch(direct_watch_fd_);
    }
    direct_turns_ = 0;
    return poll_events();
}

bool Controller::Impl::poll_events()
{
    std::array<epoll_event, 16> events{};
    const int n = wait_for_events(events, 0);
    return dispatch_events(std::span(events).first(static_cast<std::size_t>(std::max(n, 0))));
}

int Controller::Impl::wait_for_events(std::span<epoll_event> events, int timeout_ms)
{
    if (watches_changed_.exchange(false)) epoll_dirty_ = true;
    if (epoll_dirty_) rebuild_epoll();
    return ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
}

bool Controller::Impl::dispatch_events(std::span<const epoll_event> events)
{
    bool served = false;
    for (const epoll_event& e : events) {
        const int fd = e.data.fd;
        if (fd == timer_fd_) {
            std::uint64_t expirations;
            [[maybe_unused]] auto r = ::read(timer_fd_, &expirations, sizeof expirations);
            armed_deadline_ = Clock::time_point::max(); // a timerfd fires once
        } else if (fd == transport_event_fd_) {
            transport_->handle_event();
            if (transport_->device_removed())
                removal_reported_ = true;
            else if (state_ == State::live && transport_->connection_lost())
                loss_reported_ = true;
        } else if (fd == mailbox_.fd()) {
            // The loop drains it next.
        } else if (QueueSlot* q = queue_with_fd(fd)) {
            q->signalled = true; // the loop reaps it next
        } else {
            served |= serve_watch(fd);
        }
    }
    return served;
}

QueueSlot* Controller::Impl::queue_with_fd(int fd) noexcept
{
    for (auto& q : queues_)
        if (q->fd == fd && q->lent_to == nullptr) return q.get();
    return nullptr;
}

bool Controller::Impl::serve_watch(int fd)
{
    std::lock_guard dispatching(watch_dispatch_mutex_);
    std::shared_ptr<std::function<bool()>> handler;
    {
        std::lock_guard lock(watches_mutex_);
        for (const auto& [id, w] : watches_)
            if (w.fd == fd) handler = w.on_readable;
    }
    const bool consumed = handler && (*handler)();
    if (consumed)
        direct_watch_fd_ = fd;
    else if (direct_watch_fd_ == fd)
        direct_watch_fd_ = -1;
    return consumed;
}

} // namespace nvmecuse::ctrlr
