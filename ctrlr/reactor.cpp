// ctrlr::Reactor: a serving thread's loop. mailbox → pollers → watched fds
// → (spin, then) sleep on epoll.
#include "nvmecuse/ctrlr/reactor.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "nvmecuse/ctrlr/mailbox.hpp"
#include "nvmecuse/errno.hpp"
#include "nvmecuse/logging.hpp"

#include "command_table.hpp"

namespace nvmecuse::ctrlr {

namespace {
thread_local Reactor* current_reactor = nullptr;
/// While spinning, the loop yields its CPU once per this much idle time, so
/// that callers (which outnumber the CPUs on a small machine) get to run.
constexpr auto yield_interval = std::chrono::microseconds(20);
/// Turns on which the watch that consumed input last is served again
/// directly (one read instead of epoll_wait and a read: its callers' next
/// requests are likely queued already) before epoll is asked again, so
/// that other fds are never starved by it.
constexpr unsigned max_direct_turns = 2;
/// Whether an idle reactor spins now. One at a time: a reactor that spins
/// is not waiting in epoll_wait, so an event of an fd that reactors share
/// (EPOLLEXCLUSIVE) wakes one of the sleeping ones as well; two spinning
/// would both take every CPU and every wake-up from the callers.
std::atomic<bool> someone_spins{false};
/// epoll data of the mailbox; watches carry their id (from 1), pollers'
/// fds poller_tag | index.
constexpr std::uint64_t mailbox_tag = 0;
constexpr std::uint64_t poller_tag = std::uint64_t{1} << 63;
} // namespace

class Reactor::Impl {
public:
    Impl(std::string name, unsigned index, std::chrono::microseconds spin)
        : name_(std::move(name)), index_(index), spin_(spin)
    {
        error_ = mailbox_.error();
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0 && !error_) error_ = last_errno();
        if (!error_) add_fd(mailbox_.fd(), mailbox_tag, false);
    }
    ~Impl()
    {
        stop();
        if (epoll_fd_ >= 0) ::close(epoll_fd_);
    }

    void start(Reactor* self)
    {
        thread_ = std::thread([this, self] {
            current_reactor = self;
            pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
            run();
        });
    }
    void stop()
    {
        if (!thread_.joinable()) return;
        post([this] { stopping_ = true; });
        thread_.join();
    }

    void post(std::move_only_function<void()> fn)
    {
        mailbox_.post(std::make_unique<TaskNode>(std::move(fn)));
    }

    std::expected<WatchId, std::error_code> watch(int fd, std::function<bool()> on_readable)
    {
        std::lock_guard lock(watches_mutex_);
        const WatchId id = next_watch_id_++;
        if (auto ec = add_fd(fd, id, true)) return std::unexpected(ec);
        watches_.emplace(id, Watch{fd, std::make_shared<std::function<bool()>>(
                                           std::move(on_readable))});
        return id;
    }
    void unwatch(WatchId id)
    {
        {
            std::lock_guard lock(watches_mutex_);
            const auto it = watches_.find(id);
            if (it == watches_.end()) return;
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
            watches_.erase(it);
        }
        // Wait for a handler running now (not from the handler itself).
        if (current_reactor == nullptr || current_reactor->impl_.get() != this)
            std::lock_guard dispatching(dispatch_mutex_);
    }

    void add_poller(Poller& p)
    {
        std::lock_guard lock(pollers_mutex_);
        pollers_.push_back({&p, -1});
    }
    void remove_poller(Poller& p)
    {
        std::lock_guard lock(pollers_mutex_); // not while it is being polled
        // Their epoll data is their index: every one is registered afresh
        // on the next turn.
        for (auto& e : pollers_)
            if (e.fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, std::exchange(e.fd, -1), nullptr);
        std::erase_if(pollers_, [&](const PollerEntry& e) { return e.poller == &p; });
    }

    [[nodiscard]] std::error_code error() const noexcept { return error_; }
    [[nodiscard]] unsigned index() const noexcept { return index_; }
    [[nodiscard]] Counters counters() const noexcept
    {
        Counters c;
        c.sleeps = sleeps_.load(std::memory_order_relaxed);
        c.idle_wakeups = idle_wakeups_.load(std::memory_order_relaxed);
        c.empty_events = empty_events_.load(std::memory_order_relaxed);
        c.handled = handled_.load(std::memory_order_relaxed);
        c.tasks = tasks_.load(std::memory_order_relaxed);
        c.yields = yields_.load(std::memory_order_relaxed);
        return c;
    }

private:
    struct Watch {
        int fd;
        std::shared_ptr<std::function<bool()>> on_readable;
    };
    struct PollerEntry {
        Poller* poller;
        int fd; ///< its wake_fd() as registered in the epoll set
    };

    std::error_code add_fd(int fd, std::uint64_t tag, bool shared)
    {
        epoll_event ev{};
        ev.events = EPOLLIN | (shared ? EPOLLEXCLUSIVE : 0u);
        ev.data.u64 = tag;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return last_errno();
        return {};
    }

    void run()
    {
        auto last_work = Clock::now();
        auto last_yield = last_work;
        while (!stopping_) {
            bool worked = drain_mailbox();
            const auto now = Clock::now();
            worked |= poll_pollers(now);
            worked |= poll_events_or_direct();
            if (worked) {
                last_work = now;
                continue;
            }
            if (now - std::max(last_work, last_yield) >= yield_interval) {
                std::this_thread::yield();
                count(yields_);
                last_yield = now;
            }
            if (busy_) continue;
            if (now - last_work < spin_ && spin_token()) continue;
            if (!mailbox_.prepare_sleep()) continue;
            release_spin_token();
            count(sleeps_);
            const int served = wait(sleep_timeout(now));
            mailbox_.finish_sleep();
            if (served == 0 && mailbox_.empty()) count(idle_wakeups_);
            last_work = Clock::now();
        }
        release_spin_token();
    }

    /// Holds or takes the right to spin while idle; false when another
    /// reactor spins.
    bool spin_token()
    {
        if (spinning_) return true;
        bool expected = false;
        spinning_ = someone_spins.compare_exchange_strong(expected, true, std::memory_order_relaxed);
        return spinning_;
    }
    void release_spin_token()
    {
        if (std::exchange(spinning_, false)) someone_spins.store(false, std::memory_order_relaxed);
    }

    bool drain_mailbox()
    {
        bool any = false;
        while (auto raw = mailbox_.pop()) {
            static_cast<TaskNode*>(raw.get())->fn();
            count(tasks_);
            any = true;
        }
        return any;
    }

    /// Polls every poller; refreshes their wake fds in the epoll set.
    bool poll_pollers(Clock::time_point now)
    {
        std::lock_guard lock(pollers_mutex_);
        bool any = false;
        busy_ = false;
        deadline_ = Clock::time_point::max();
        for (std::size_t i = 0; i < pollers_.size(); ++i) {
            PollerEntry& e = pollers_[i];
            if (const int fd = e.poller->wake_fd(); fd != e.fd) {
                if (e.fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.fd, nullptr);
                e.fd = fd;
                // Missed events are harmless: the poll below looks anyway.
                if (fd >= 0 && add_fd(fd, poller_tag | i, false))
                    e.fd = -1;
                e.poller->signal();
            }
            any |= e.poller->poll(now);
            busy_ |= e.poller->needs_polling();
            deadline_ = std::min(deadline_, e.poller->next_deadline());
        }
        return any;
    }

    int sleep_timeout(Clock::time_point now) const
    {
        if (deadline_ == Clock::time_point::max()) return -1;
        if (deadline_ <= now) return 0;
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - now).count();
        return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
    }

    bool poll_events_or_direct()
    {
        if (direct_ != 0 && direct_turns_ < max_direct_turns) {
            ++direct_turns_;
            return serve_watch(direct_, false);
        }
        direct_turns_ = 0;
        return wait(0) > 0;
    }

    /// epoll_wait and dispatch; returns how many events did work.
    int wait(int timeout_ms)
    {
        std::array<epoll_event, 16> events{};
        const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                   timeout_ms);
        int served = 0;
        for (int i = 0; i < n; ++i) {
            const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
            if (tag == mailbox_tag) continue; // drained next turn
            if ((tag & poller_tag) != 0) {
                signal_poller(tag & ~poller_tag);
                ++served;
                continue;
            }
            served += serve_watch(tag, true) ? 1 : 0;
        }
        return served;
    }

    void signal_poller(std::uint64_t index)
    {
        std::lock_guard lock(pollers_mutex_);
        if (index < pollers_.size()) pollers_[index].poller->signal();
    }

    /// One call of the handler (a level-triggered fd with more input is
    /// served again on the next turn, directly or through epoll), so that
    /// the lanes' completions and the mailbox take turns with it and no
    /// read past the last request is made on a turn of its own.
    bool serve_watch(WatchId id, bool from_event)
    {
        std::lock_guard dispatching(dispatch_mutex_);
        std::shared_ptr<std::function<bool()>> handler;
        {
            std::lock_guard lock(watches_mutex_);
            if (const auto it = watches_.find(id); it != watches_.end())
                handler = it->second.on_readable;
        }
        if (!handler) {
            if (direct_ == id) direct_ = 0;
            return false;
        }
        const bool consumed = (*handler)();
        if (consumed) {
            count(handled_);
            direct_ = id;
        } else {
            if (from_event) count(empty_events_);
            if (direct_ == id) direct_ = 0;
        }
        return consumed;
    }

    const std::string name_;
    const unsigned index_;
    const std::chrono::microseconds spin_; ///< polling after the last work
    std::error_code error_;
    Mailbox mailbox_;
    int epoll_fd_ = -1;
    std::thread thread_;
    bool stopping_ = false; ///< reactor thread
    bool spinning_ = false; ///< reactor thread: holds someone_spins

    std::mutex watches_mutex_;  ///< guards watches_, next_watch_id_
    std::mutex dispatch_mutex_; ///< held by the reactor while a handler runs
    std::map<WatchId, Watch> watches_;
    WatchId next_watch_id_ = 1;

    std::mutex pollers_mutex_; ///< guards pollers_; held while they are polled
    std::vector<PollerEntry> pollers_;
    bool busy_ = false;                             ///< reactor thread
    WatchId direct_ = 0;        ///< reactor thread: the watch that consumed input last
    unsigned direct_turns_ = 0; ///< reactor thread: direct serves since epoll was asked
    /// Written by the reactor thread only (count()), read by counters().
    std::atomic<std::uint64_t> sleeps_{0}, idle_wakeups_{0}, empty_events_{0}, handled_{0},
        tasks_{0}, yields_{0};
    static void count(std::atomic<std::uint64_t>& c) noexcept
    {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    Clock::time_point deadline_ = Clock::time_point::max(); ///< reactor thread
};

std::expected<std::unique_ptr<Reactor>, std::error_code>
Reactor::start(std::string name, unsigned index, std::chrono::microseconds spin)
{
    auto impl = std::make_unique<Impl>(std::move(name), index, spin);
    if (const auto ec = impl->error()) {
        logging::category("ctrlr")->error("reactor {}: cannot start: {}", index, ec.message());
        return std::unexpected(ec);
    }
    std::unique_ptr<Reactor> reactor(new Reactor(std::move(impl)));
    reactor->impl_->start(reactor.get());
    return reactor;
}

Reactor::Reactor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reactor::~Reactor() { impl_->stop(); }

unsigned Reactor::index() const noexcept { return impl_->index(); }
Reactor::Counters Reactor::counters() const noexcept { return impl_->counters(); }
Reactor* Reactor::current() noexcept { return current_reactor; }

std::expected<Reactor::WatchId, std::error_code> Reactor::watch(int fd,
                                                                std::function<bool()> on_readable)
{
    return impl_->watch(fd, std::move(on_readable));
}
void Reactor::unwatch(WatchId id) { impl_->unwatch(id); }
void Reactor::post(std::move_only_function<void()> fn) { impl_->post(std::move(fn)); }
void Reactor::add_poller(Poller& poller) { impl_->add_poller(poller); }
void Reactor::remove_poller(Poller& poller) { impl_->remove_poller(poller); }

} // namespace nvmecuse::ctrlr
