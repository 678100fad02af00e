#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace nvmecuse::ctrlr {

using Clock = std::chrono::steady_clock;

/// A serving thread: one epoll set, a mailbox for work from other threads,
/// and the pollers it drives (a controller's I/O queue pair reserved for
/// this thread, ctrlr::Controller::Options::reactors). The fds it watches
/// (CUSE channels) and its queue pairs are peers on one loop: a request
/// read here is submitted to this thread's queue pair and completed here,
/// end to end, with no hand-off. It polls while a poller has commands
/// outstanding and sleeps on the fds when idle. Nothing on it may block.
class Reactor {
public:
    /// Something the reactor polls on every turn (an I/O lane). The
    /// reactor thread calls every member.
    class Poller {
    public:
        virtual ~Poller() = default;
        /// Does what is ready (completions, overflow, timeouts); true when
        /// it did anything.
        virtual bool poll(Clock::time_point now) = 0;
        /// Wants poll() without a wake-up (outstanding commands on a queue
        /// that cannot signal, or commands waiting for a free slot).
        [[nodiscard]] virtual bool needs_polling() const = 0;
        /// An fd that becomes readable when poll() has work; -1: none. It
        /// may change between turns (a reset brings new queues).
        [[nodiscard]] virtual int wake_fd() const = 0;
        /// wake_fd() was readable: the next poll() should look.
        virtual void signal() = 0;
        /// When poll() must run next even if nothing wakes the reactor.
        [[nodiscard]] virtual Clock::time_point next_deadline() const = 0;
    };

    /// Starts the thread, named `name` (top -H). `index` identifies the
    /// reactor among its peers. After its last work it keeps polling for
    /// `spin` before it sleeps: a synchronous caller's next request that
    /// comes within it costs no wake-up. Only one idle reactor of the
    /// process spins at a time; the others sleep at once. Errors: no descriptors for its
    /// epoll set or mailbox.
    [[nodiscard]] static std::expected<std::unique_ptr<Reactor>, std::error_code>
    start(std::string name, unsigned index,
          std::chrono::microseconds spin = std::chrono::microseconds(50));
    /// Stops and joins the thread; watches and pollers must be gone.
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    [[nodiscard]] unsigned index() const noexcept;

    /// What the thread did since it started (read from any thread; each
    /// count is exact, the set is not one snapshot).
    struct Counters {
        std::uint64_t sleeps = 0;        ///< waits in epoll_wait that blocked
        std::uint64_t idle_wakeups = 0;  ///< sleeps that ended with nothing to do
        std::uint64_t empty_events = 0;  ///< fd events whose handler found nothing
        std::uint64_t handled = 0;       ///< handler calls that consumed input
        std::uint64_t tasks = 0;         ///< mailbox tasks run
        std::uint64_t yields = 0;        ///< CPU given up while spinning
    };
    [[nodiscard]] Counters counters() const noexcept;
    /// The reactor whose thread calls, or null.
    [[nodiscard]] static Reactor* current() noexcept;

    using WatchId = std::uint64_t;
    /// Any thread. Serves `fd` on this reactor: `on_readable` runs there
    /// when `fd` has input, must never block, and returns whether it
    /// consumed any. It should take one request per call: after one that
    /// consumed, the next turns call it again directly, without asking
    /// epoll first (a busy fd costs one read per request), and every third
    /// turn asks epoll, so other fds are never starved. The same fd may be watched by several
    /// reactors (EPOLLEXCLUSIVE: an event wakes one of them, and whichever
    /// reads a request serves it), so the handler must cope with finding
    /// nothing (EAGAIN). Errors: epoll_ctl's.
    [[nodiscard]] std::expected<WatchId, std::error_code> watch(int fd,
                                                               std::function<bool()> on_readable);
    /// Any thread. After it returns the handler is not running and never
    /// runs again (from the handler itself it just unregisters).
    void unwatch(WatchId id);

    /// Any thread. `fn` runs on the reactor thread.
    void post(std::move_only_function<void()> fn);

    /// Any thread but from inside a Poller::poll(). After remove_poller()
    /// returns the poller is not being polled and never is again.
    void add_poller(Poller& poller);
    void remove_poller(Poller& poller);

    class Impl;

private:
    explicit Reactor(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace nvmecuse::ctrlr
