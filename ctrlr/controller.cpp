// ctrlr::Controller: the public face, thread hand-off, and the state changes
// (reset, failure, shutdown) of the owner thread.
#include "nvmecuse/ctrlr/controller.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>

#include "nvmecuse/errno.hpp"
#include "nvmecuse/logging.hpp"

#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

namespace {
void call(DoneFn& done, std::error_code ec)
{
    if (done) done(ec);
}
} // namespace

// ---------------------------------------------------------------------------
// Impl: construction and cross-thread entry points
// ---------------------------------------------------------------------------

Controller::Impl::Impl(std::unique_ptr<transport::Transport> transport, Options options)
    : transport_(std::move(transport)), memory_(transport_->memory()), options_(std::move(options)),
      log_(logging::category("ctrlr")),
      info_(std::make_shared<ControllerInfo>()), worker_(options_.name)
{
    // Out of descriptors: an error start() reports, never an abort.
    startup_error_ = mailbox_.error();
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0 && !startup_error_) startup_error_ = last_errno();
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0 && !startup_error_) startup_error_ = last_errno();
}

Controller::Impl::~Impl()
{
    stop();
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
}

void Controller::Impl::log_startup_error(std::error_code ec) const
{
    log_->error("{}: cannot start: {}", options_.name, ec.message());
}

void Controller::Impl::start_thread()
{
    create_lanes();
    thread_ = std::thread([this] { run(); });
}

void Controller::Impl::stop()
{
    if (!thread_.joinable()) return;
    post_task([this] { begin_shutdown(); });
    thread_.join();
    remove_lanes(); // none has a queue lent: the shutdown took them back
    // A lane's handler that ran after the owner's last look may have
    // submitted more: nothing is left unanswered.
    const auto canceled = std::make_error_code(std::errc::operation_canceled);
    while (auto raw = mailbox_.pop()) {
        auto* node = static_cast<OwnerNode*>(raw.get());
        if (node->kind != OwnerNode::Kind::command) continue;
        raw.release();
        finish(std::unique_ptr<CommandNode>(static_cast<CommandNode*>(node)), canceled);
    }
}

void Controller::Impl::submit(QueueKind queue, Command&& command, CompletionHandler&& handler)
{
    auto node = std::make_unique<CommandNode>(queue, std::move(command), std::move(handler));
    if (queue == QueueKind::io && node->command.direction != nvme::DataTransfer::bidirectional)
        if (IoLane* lane = current_lane(); lane != nullptr && lane->submit(node)) return;
    mailbox_.post(std::move(node));
}

void Controller::Impl::submit_node(std::unique_ptr<CommandNode> node)
{
    mailbox_.post(std::move(node));
}

void Controller::Impl::post_task(std::move_only_function<void()> fn)
{
    mailbox_.post(std::make_unique<TaskNode>(std::move(fn)));
}

std::shared_ptr<const ControllerInfo> Controller::Impl::info() const
{
    std::lock_guard lock(info_mutex_);
    return info_;
}

Controller::ListenerId
Controller::Impl::add_listener(std::function<void(const NamespaceEvent&)> listener)
{
    std::lock_guard lock(listeners_mutex_);
    const ListenerId id = next_listener_id_++;
    listeners_.emplace(
        id, std::make_shared<std::function<void(const NamespaceEvent&)>>(std::move(listener)));
    return id;
}

void Controller::Impl::remove_listener(ListenerId id)
{
    {
        std::lock_guard lock(listeners_mutex_);
        listeners_.erase(id);
    }
    // Wait for a dispatch that may be calling it right now (it re-checks
    // registration before each call, so later dispatches skip it). From a
    // listener on the owner thread waiting would deadlock, and is not needed.
    if (!on_owner_thread()) std::lock_guard wait(dispatch_mutex_);
}

Controller::WatchId Controller::Impl::add_watch(int fd, std::function<bool()> on_readable)
{
    WatchId id = 0;
    {
        std::lock_guard lock(watches_mutex_);
        id = next_watch_id_++;
        watches_.emplace(id, FdWatch{fd, std::make_shared<std::function<bool()>>(std::move(on_readable))});
        watch_count_.store(watches_.size());
    }
    watches_changed_.store(true);
    post_task([] {}); // a sleeping owner wakes up and adds the fd to its epoll set
    return id;
}

void Controller::Impl::remove_watch(WatchId id)
{
    {
        std::lock_guard lock(watches_mutex_);
        watches_.erase(id);
        watch_count_.store(watches_.size());
    }
    watches_changed_.store(true);
    // Wait for a handler that may be running now (later dispatches look the
    // fd up again and skip it). On the owner thread waiting would deadlock,
    // and is not needed.
    if (!on_owner_thread()) std::lock_guard wait(watch_dispatch_mutex_);
}

// ---------------------------------------------------------------------------
// Impl: state changes (owner thread)
// ---------------------------------------------------------------------------

void Controller::Impl::request_reset(bool subsystem, DoneFn done)
{
    if (state_ == State::stopping || state_ == State::shutting_down) {
        call(done, std::make_error_code(std::errc::operation_canceled));
        return;
    }
    if (state_ == State::reconnecting) {
        // As Linux refuses a reset while the controller is CONNECTING.
        call(done, std::make_error_code(std::errc::device_or_resource_busy));
        return;
    }
    if (subsystem) {
        // NVM Subsystem Reset (NVMe Base 2.0, 3.7.1): the controller then
        // needs the same bring-up as after a controller reset.
        log_->info("{}: NVM subsystem reset", options_.name);
        // Like Linux nvme_reset_subsystem(): `done` once NSSR is written
        // and the controller reset that must follow is scheduled, not when
        // it has finished (NVME_IOCTL_SUBSYS_RESET returns then).
        write_nssr([this, done = std::move(done)](std::error_code ec) mutable {
            if (!ec && state_ != State::resetting) reset_requested_ = true;
            call(done, ec);
        });
        return;
    }
    reset_waiters_.push_back(std::move(done));
    if (state_ != State::resetting) reset_requested_ = true; // else: merged into the one running
}

// Runs at the top of the owner loop, never inside a handler.
void Controller::Impl::do_reset()
{
    reset_requested_ = false;
    log_->info("{}: resetting controller", options_.name);
    recall_lanes();
    set_state(State::resetting);
    ++epoch_;
    aborts_in_flight_ = 0;
    const auto canceled = std::make_error_code(std::errc::operation_canceled);
    while (auto node = held_.pop())
        finish(std::move(node), canceled);
    const std::uint64_t epoch = epoch_;
    auto done = [this, epoch](std::error_code ec) {
        if (epoch != epoch_) return; // superseded: a later reset or stop reports
        auto waiters = std::exchange(reset_waiters_, {});
        for (auto& w : waiters)
            call(w, ec);
    };
    // Disable first (CC.EN=0, CSTS.RDY=0): only then has the controller
    // stopped touching the commands' buffers, and they can be handed back.
    // Commands arriving meanwhile wait for the bring-up.
    // The disable may end inside a completion handler that reap_all() runs
    // over the queues: the teardown, which drops them, runs at the top of
    // the loop.
    auto teardown = [this, epoch, canceled, done = std::move(done)](std::error_code ec) mutable {
        if (epoch != epoch_) return;
        if (ec) log_->warn("{}: disabling before the reset: {}; tearing down", options_.name,
                           ec.message());
        deferred_.push_back([this, epoch, canceled, done = std::move(done)]() mutable {
            when_transport_idle([this, epoch, canceled, done = std::move(done)]() mutable {
                if (epoch != epoch_) return;
                transport_->disconnect();
                cancel_queued(canceled);
                queues_.clear();
                epoll_dirty_ = true;
                initialize(std::move(done));
            });
        });
    };
    if (queues_.empty()) return teardown({}); // nothing connected, nothing to disable
    disable_controller(std::move(teardown));
}

void Controller::Impl::cancel_everything(std::error_code ec)
{
    cancel_queued(ec);
    while (auto node = held_.pop())
        finish(std::move(node), ec);
}

void Controller::Impl::cancel_queued(std::error_code ec)
{
    recall_lanes();
    for (std::size_t i = 0; i < queues_.size(); ++i) {
        QueueSlot& q = *queues_[i];
        for (std::uint16_t index = 0; index < q.table.capacity(); ++index) {
            auto& slot = q.table[index];
            if (slot.state == CommandTable::State::free) continue;
            auto node = std::move(slot.node);
            const bool tombstone = slot.state == CommandTable::State::timed_out;
            if (node->untimed) q.table.add_untimed(-1);
            q.table.release(index);
            if (!tombstone) finish(std::move(node), ec);
        }
        while (auto node = q.overflow.pop())
            finish(std::move(node), ec);
    }
    next_deadline_ = Clock::time_point::max();
}

void Controller::Impl::enter_failed(std::error_code ec)
{
    recall_lanes();
    set_state(State::failed);
    failure_ = ec;
    const auto error = failed_error();
    log_->error("{}: controller failed: {}; commands fail with \"{}\" until a reset succeeds",
                options_.name, ec.message(), error.message());
    while (auto node = held_.pop())
        finish(std::move(node), error);
    for (auto& q : queues_)
        while (auto node = q->overflow.pop())
            finish(std::move(node), error);
    auto scans = std::exchange(scan_next_waiters_, {});
    for (auto& w : scans)
        call(w, error);
    // The transport is idle again: a device that is removed while the
    // controller is failed must still be let go (PCIe hot removal).
    if (transport_event_fd_ < 0 && !transport_busy_) {
        transport_event_fd_ = transport_->event_fd();
        epoll_dirty_ = true;
    }
}

std::error_code Controller::Impl::failed_error() const noexcept
{
    return failure_ == std::errc::no_such_device ? failure_
                                                 : std::make_error_code(std::errc::not_connected);
}

void Controller::Impl::device_removed()
{
    if (state_ == State::stopping) return;
    log_->error("{}: the device was removed", options_.name);
    const auto gone = std::make_error_code(std::errc::no_such_device);
    ++epoch_; // every chain of the core ends (scan, AERs, aborts, a bring-up)
    aborts_in_flight_ = 0;
    // The device is gone with the commands on it: nothing completes them.
    cancel_queued(gone);
    queues_.clear();
    epoll_dirty_ = true;
    when_transport_idle([this] { transport_->disconnect(); });
    if (state_ == State::shutting_down) {
        finish_shutdown(); // nothing left to notify
        return;
    }
    auto waiters = std::exchange(reset_waiters_, {});
    recovery_ = {};
    enter_failed(gone);
    for (auto& w : waiters)
        call(w, gone);
}

void Controller::Impl::go_live()
{
    if (state_ == State::reconnecting)
        log_->info("{}: reconnected after {} attempt(s)", options_.name, recovery_.attempts);
    set_state(State::live);
    path_state_.store(PathState::live);
    failure_ = {};
    recovery_ = {};
    lend_queues(); // first: what was held goes to the owner's own queues
    while (auto node = held_.pop())
        dispatch(std::move(node));
    // Rescans asked for while (re)initialising were satisfied by its scan,
    // except those that arrived after it.
    if (!scan_next_waiters_.empty() || scan_again_) request_scan(nullptr);
}

void Controller::Impl::begin_shutdown()
{
    if (state_ == State::shutting_down || state_ == State::stopping) return;
    log_->debug("{}: shutting down", options_.name);
    const bool live = state_ == State::live;
    recall_lanes();
    set_state(State::shutting_down);
    ++epoch_; // the core's own chains (scan, AERs, Keep Alive) end
    aborts_in_flight_ = 0;
    // What has not reached the controller fails now; what has is failed
    // once the controller stopped (its buffers may still be written).
    const auto canceled = std::make_error_code(std::errc::operation_canceled);
    while (auto node = held_.pop())
        finish(std::move(node), canceled);
    for (auto& q : queues_)
        while (auto node = q->overflow.pop())
            finish(std::move(node), canceled);
    if (!live) return finish_shutdown(); // never enabled, or lost: nothing to notify
    // Always ends (every wait has a deadline), and always finishes the
    // shutdown: stop() joins the owner thread on it.
    shutdown_controller([this](std::error_code ec) {
        if (ec) log_->warn("{}: shutdown notification: {}", options_.name, ec.message());
        // Possibly inside a completion handler that reap_all() runs over
        // the queues finish_shutdown() drops: at the top of the loop.
        deferred_.push_back([this] {
            if (state_ == State::shutting_down) finish_shutdown();
        });
    });
}

void Controller::Impl::when_transport_idle(std::move_only_function<void()> fn)
{
    if (transport_busy_)
        after_transport_idle_.push_back(std::move(fn));
    else
        fn();
}

void Controller::Impl::run_when_transport_idle()
{
    while (!transport_busy_ && !after_transport_idle_.empty()) {
        auto fn = std::move(after_transport_idle_.front());
        after_transport_idle_.erase(after_transport_idle_.begin());
        fn();
    }
}

void Controller::Impl::finish_shutdown()
{
    if (transport_busy_) {
        // A connect step is running on the worker (bounded by the
        // transport's connect timeout); the transport is disconnected
        // once it has returned.
        when_transport_idle([this] {
            if (state_ == State::shutting_down) finish_shutdown();
        });
        return;
    }
    set_state(State::stopping);
    ++epoch_;
    transport_->disconnect();
    const auto canceled = std::make_error_code(std::errc::operation_canceled);
    cancel_everything(canceled);
    // Handlers may have submitted more; cancel until the mailbox stays empty.
    while (auto raw = mailbox_.pop()) {
        auto* node = static_cast<OwnerNode*>(raw.get());
        if (node->kind == OwnerNode::Kind::command) {
            raw.release();
            finish(std::unique_ptr<CommandNode>(static_cast<CommandNode*>(node)), canceled);
        } else {
            static_cast<TaskNode*>(node)->fn();
        }
    }
    cancel_everything(canceled);
    queues_.clear();
    deferred_.clear();
    timers_.clear();
    for (auto* waiters : {&reset_waiters_, &scan_waiters_, &scan_next_waiters_}) {
        auto w = std::exchange(*waiters, {});
        for (auto& f : w)
            call(f, canceled);
    }
}

// ---------------------------------------------------------------------------
// Controller
// ---------------------------------------------------------------------------

Controller::Controller(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::expected<std::unique_ptr<Controller>, std::error_code>
Controller::start(std::unique_ptr<transport::Transport> transport, Options options)
{
    if (!transport) return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    auto impl = std::make_unique<Impl>(std::move(transport), std::move(options));
    if (const auto ec = impl->startup_error()) {
        impl->log_startup_error(ec);
        return std::unexpected(ec);
    }
    impl->start_thread();
    std::promise<std::error_code> started;
    auto result = started.get_future();
    impl->post_task([p = impl.get(), started = std::move(started)]() mutable {
        p->initialize(
            [started = std::move(started)](std::error_code ec) mutable { started.set_value(ec); });
    });
    if (const auto ec = result.get()) {
        impl->stop();
        return std::unexpected(ec);
    }
    return std::unique_ptr<Controller>(new Controller(std::move(impl)));
}

Controller::~Controller()
{
    if (!impl_) return;
    if (impl_->on_owner_thread()) {
        std::fprintf(stderr, "nvmecuse: ctrlr::Controller destroyed on its own owner thread\n");
        std::abort();
    }
    impl_->stop();
}

void Controller::submit(QueueKind queue, Command command, CompletionHandler handler)
{
    impl_->submit(queue, std::move(command), std::move(handler));
}

Result Controller::execute(QueueKind queue, Command command)
{
    if (impl_->on_owner_thread()) {
        // Waiting here would stop the only thread that can complete it.
        Result r;
        r.error = std::make_error_code(std::errc::resource_deadlock_would_occur);
        r.data = std::move(command.data);
        r.metadata = std::move(command.metadata);
        return r;
    }
    std::promise<Result> promise;
    auto future = promise.get_future();
    // Through the owner even on a serving thread: waiting there for its own
    // lane would stop the thread that completes it.
    impl_->submit_node(std::make_unique<CommandNode>(
        queue, std::move(command), [promise = std::move(promise)](Result&& r) mutable {
            promise.set_value(std::move(r));
        }));
    return future.get();
}

void Controller::reset(std::move_only_function<void(std::error_code)> done)
{
    impl_->post_task([p = impl_.get(), done = std::move(done)]() mutable {
        p->request_reset(false, std::move(done));
    });
}

void Controller::subsystem_reset(std::move_only_function<void(std::error_code)> done)
{
    impl_->post_task([p = impl_.get(), done = std::move(done)]() mutable {
        p->request_reset(true, std::move(done));
    });
}

void Controller::rescan(std::move_only_function<void(std::error_code)> done)
{
    impl_->post_task(
        [p = impl_.get(), done = std::move(done)]() mutable { p->request_scan(std::move(done)); });
}

Controller::PathState Controller::path_state() const noexcept
{
    return impl_->path_state();
}

Controller::State Controller::state() const noexcept
{
    return impl_->public_state();
}

void Controller::on_state_change(std::function<void(State)> listener)
{
    impl_->set_state_listener(std::move(listener));
}

void Controller::Impl::set_state_listener(std::function<void(Controller::State)> listener)
{
    std::lock_guard lock(state_listener_mutex_);
    state_listener_ = std::move(listener);
}

void Controller::on_async_event(std::function<void(std::uint32_t)> listener)
{
    impl_->set_event_listener(std::move(listener));
}

void Controller::Impl::set_event_listener(std::function<void(std::uint32_t)> listener)
{
    std::lock_guard lock(event_listener_mutex_);
    event_listener_ = std::move(listener);
}

void Controller::Impl::notify_event(std::uint32_t dw0)
{
    std::lock_guard lock(event_listener_mutex_);
    if (event_listener_) event_listener_(dw0);
}

void Controller::Impl::set_state(State next)
{
    state_ = next;
    const auto now = [next] {
        switch (next) {
        case State::starting: return Controller::State::starting;
        case State::live: return Controller::State::live;
        case State::resetting: return Controller::State::resetting;
        case State::reconnecting: return Controller::State::connecting;
        case State::failed: return Controller::State::failed;
        case State::shutting_down:
        case State::stopping: break;
        }
        return Controller::State::deleting;
    }();
    if (public_state_.exchange(now) == now) return; // shutting_down → stopping
    std::lock_guard lock(state_listener_mutex_);
    if (state_listener_) state_listener_(now);
}

std::shared_ptr<const ControllerInfo> Controller::info() const
{
    return impl_->info();
}

Controller::ListenerId
Controller::add_namespace_listener(std::function<void(const NamespaceEvent&)> listener)
{
    return impl_->add_listener(std::move(listener));
}

void Controller::remove_namespace_listener(ListenerId id)
{
    impl_->remove_listener(id);
}

Controller::WatchId Controller::watch_fd(int fd, std::function<bool()> on_readable)
{
    return impl_->add_watch(fd, std::move(on_readable));
}

void Controller::unwatch_fd(WatchId id)
{
    impl_->remove_watch(id);
}

std::size_t Controller::lanes() const noexcept
{
    return impl_->lane_count();
}

const transport::TransportInfo& Controller::transport_info() const
{
    return impl_->transport_info();
}

transport::DeviceMemory& Controller::memory() const
{
    return impl_->memory();
}

} // namespace nvmecuse::ctrlr
