// Private state of ctrlr::Controller. Everything below `// owner thread` is
// touched only by the owner thread; the rest says how it is shared.
#pragma once

#include <spdlog/logger.h>
#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <expected>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/mailbox.hpp"

#include "blocking_worker.hpp"
#include "command_table.hpp"
#include "io_lane.hpp"
#include "queue_slot.hpp"

namespace nvmecuse::ctrlr {

using DoneFn = std::move_only_function<void(std::error_code)>;

class Controller::Impl {
public:
    Impl(std::unique_ptr<transport::Transport> transport, Options options);
    ~Impl();

    // ---- any thread -------------------------------------------------------
    /// Why the owner thread cannot run (no descriptor for its mailbox,
    /// timer or epoll set); start() reports it.
    [[nodiscard]] std::error_code startup_error() const noexcept { return startup_error_; }
    void log_startup_error(std::error_code ec) const;
    void start_thread();
    /// Stops the owner thread after cancelling everything; joins it.
    void stop();
    void submit(QueueKind queue, Command&& command, CompletionHandler&& handler);
    /// submit() for a node made already (a lane hands back what it cannot issue).
    void submit_node(std::unique_ptr<CommandNode> node);
    /// The lane of the reactor whose thread calls, if it has one.
    [[nodiscard]] IoLane* current_lane() const noexcept;
    [[nodiscard]] std::size_t lane_count() const noexcept { return lanes_.size(); }
    void post_task(std::move_only_function<void()> fn);
    [[nodiscard]] bool on_owner_thread() const noexcept
    {
        return std::this_thread::get_id() == owner_id_;
    }
    [[nodiscard]] std::shared_ptr<const ControllerInfo> info() const;
    [[nodiscard]] PathState path_state() const noexcept { return path_state_.load(); }
    [[nodiscard]] Controller::State public_state() const noexcept { return public_state_.load(); }
    void set_state_listener(std::function<void(Controller::State)> listener);
    void set_event_listener(std::function<void(std::uint32_t)> listener);
    /// Hands an Asynchronous Event's Dword 0 to the event listener.
    void notify_event(std::uint32_t dw0);
    ListenerId add_listener(std::function<void(const NamespaceEvent&)> listener);
    void remove_listener(ListenerId id);
    WatchId add_watch(int fd, std::function<bool()> on_readable);
    void remove_watch(WatchId id);
    [[nodiscard]] const transport::TransportInfo& transport_info() const
    {
        return transport_->info();
    }
    [[nodiscard]] transport::DeviceMemory& memory() const noexcept { return memory_; }

    // ---- owner thread -----------------------------------------------------
    /// Brings the controller up (start() and every reset): enable, Identify,
    /// Number of Queues, I/O queues, namespace scan, AERs. `done` runs once.
    void initialize(DoneFn done);
    /// A controller (or NVM subsystem) reset; merged into one in progress.
    void request_reset(bool subsystem, DoneFn done);
    /// A namespace scan; `only`: re-identify just these (plus new) nsids.
    void request_scan(DoneFn done, std::optional<std::vector<std::uint32_t>> only = std::nullopt);

private:
    friend class IoLane;
    /// `shutting_down`: CC.SHN written (or being written), new commands are
    /// cancelled; `stopping`: the owner loop ends.
    enum class State : std::uint8_t {
        starting,
        live,
        resetting,
        reconnecting,
        failed,
        shutting_down,
        stopping
    };

    // owner_loop.cpp
    void run();
    bool drain_mailbox();
    void accept(std::unique_ptr<CommandNode> node);
    void dispatch(std::unique_ptr<CommandNode> node);
    /// Issues a command of the core itself (not held while initialising).
    void issue_internal(QueueKind queue, Command command, CompletionHandler handler,
                        bool untimed = false);
    enum class IssueResult : std::uint8_t { issued, full, failed };
    IssueResult try_issue(QueueSlot& q, std::unique_ptr<CommandNode>& node);
    bool reap_all();
    void complete(QueueSlot& q, const nvme::CompletionQueueEntry& cqe);
    void flush_overflow(QueueSlot& q);
    void check_timeouts(Clock::time_point now);
    void on_timeout(QueueSlot& q, std::uint16_t index, Clock::time_point now);
    void send_abort(std::uint16_t sqid, std::uint16_t cid);
    void sleep();
    void rebuild_epoll();
    void arm_timer(Clock::time_point deadline);
    [[nodiscard]] bool must_poll() const noexcept;
    static void finish(std::unique_ptr<CommandNode> node, std::error_code ec,
                       bool hand_back_buffers = true);
    [[nodiscard]] std::chrono::milliseconds default_timeout(QueueKind q) const noexcept;

    // lanes.cpp (I/O queue pairs lent to serving threads)
    void create_lanes();
    void remove_lanes();
    /// Lends the I/O queues past the owner's own to the lanes (going live).
    void lend_queues();
    /// Takes every lent queue back; the owner drives them again.
    void recall_lanes();
    /// A lane's command timed out (`again`: a timeout after its abort).
    void lane_command_expired(std::uint16_t qid, std::uint16_t cid, bool again);

    // controller.cpp (state changes)
    void do_reset();
    void cancel_everything(std::error_code ec);
    void enter_failed(std::error_code ec);
    /// What commands fail with while `failed`: no_such_device once the
    /// device is gone (the CUSE nodes answer ENODEV), else not_connected.
    [[nodiscard]] std::error_code failed_error() const noexcept;
    /// The transport's device is gone for good (Transport::device_removed()):
    /// everything outstanding fails with no_such_device, then `failed`.
    void device_removed();
    void go_live();
    /// Stop: cancels what waits, shuts the controller down (CC.SHN), then
    /// finish_shutdown(); the loop keeps running meanwhile.
    void begin_shutdown();
    void finish_shutdown();
    /// Fails what the queues hold (in flight, overflow), not held_.
    void cancel_queued(std::error_code ec);

    // reconnect.cpp (connection loss → reconnecting → live or failed)
    void begin_reconnect();
    /// Runs what is due while reconnecting; true when it did something.
    bool recovery_tick();
    void start_reconnect_attempt();
    void reconnect_attempt_failed(std::error_code ec);
    /// Cancels what the queues hold, drops them and resets the transport.
    void drop_queues();
    void fail_fast(std::unique_ptr<CommandNode> node);
    [[nodiscard]] Clock::time_point recovery_deadline() const noexcept;

    // controller_enable.cpp (register access and the CC/CSTS state machine)
    using RegisterRead = std::move_only_function<void(std::expected<std::uint64_t, std::error_code>)>;
    using CstsPredicate = bool (*)(std::uint32_t);
    /// Direct access completes at once; fabrics issue Property Get/Set as
    /// internal admin commands that time out at `deadline`.
    void read_register(std::uint32_t offset, Clock::time_point deadline, RegisterRead done);
    void write_register(std::uint32_t offset, std::uint64_t value, Clock::time_point deadline,
                        DoneFn done);
    /// Polls CSTS on timers until `until` holds; CFS, all ones or `deadline` fail.
    void wait_csts(CstsPredicate until, Clock::time_point deadline,
                   std::chrono::milliseconds interval, const char* what, DoneFn done);
    /// CAP, VS, disable if enabled, AQA/ASQ/ACQ, CC.EN=1, CSTS.RDY=1.
    void enable_controller(DoneFn done);
    void disable_then_enable(DoneFn done);
    void program_admin_queue(DoneFn done);
    /// CC.EN=0 and CSTS.RDY=0 within CAP.TO.
    void disable_controller(DoneFn done);
    /// CC.SHN normal and CSTS.SHST complete within RTD3E (5 s at least).
    void shutdown_controller(DoneFn done);
    void write_nssr(DoneFn done);
    [[nodiscard]] std::expected<std::uint32_t, std::error_code> enabled_cc() const;
    [[nodiscard]] Clock::time_point ready_deadline() const noexcept;
    void start_keep_alive(std::uint64_t epoch);
    void keep_alive_tick(std::uint64_t epoch);
    /// One-shot timers on the owner loop (`fn` runs at the top of an iteration).
    void schedule(Clock::time_point at, std::move_only_function<void()> fn);
    bool run_due_timers(Clock::time_point now);
    [[nodiscard]] Clock::time_point next_timer() const noexcept;

    // init_sequence.cpp
    /// Runs `step`, a transport call that may block, on worker_, and then
    /// `then(result)` on the owner thread. Meanwhile the owner loop keeps
    /// serving, and touches nothing of the transport (transport_busy_):
    /// no reaping, no disconnect (when_transport_idle()).
    template <class T>
    void off_loop(std::move_only_function<T()> step, std::move_only_function<void(T)> then)
    {
        transport_busy_ = true;
        worker_.run([this, step = std::move(step), then = std::move(then)]() mutable {
            T result = step();
            post_task([this, result = std::move(result), then = std::move(then)]() mutable {
                transport_busy_ = false;
                then(std::move(result));
                run_when_transport_idle();
            });
        });
    }
    /// Runs `fn` now, or once the transport call in progress has returned.
    void when_transport_idle(std::move_only_function<void()> fn);
    void run_when_transport_idle();
    void admin_connected(DoneFn done, std::uint64_t epoch, std::error_code ec);
    void init_failed(DoneFn& done, std::uint64_t epoch, std::error_code ec, const char* step);
    void init_identify(DoneFn done, std::uint64_t epoch);
    void init_effects(DoneFn done, std::uint64_t epoch);
    void init_number_of_queues(DoneFn done, std::uint64_t epoch);
    void init_queues(DoneFn done, std::uint64_t epoch, std::uint32_t count);
    using CreatedQueues = std::expected<std::vector<std::unique_ptr<transport::QueuePair>>,
                                        std::error_code>;
    void io_queues_created(DoneFn done, std::uint64_t epoch, CreatedQueues created,
                           std::uint16_t depth);
    void init_finish(DoneFn done, std::uint64_t epoch);

    // namespace_scan.cpp
    struct ScanState;
    void start_scan(bool identify_controller);
    void scan_identify_controller(std::shared_ptr<ScanState> s);
    void scan_active_list(std::shared_ptr<ScanState> s, std::uint32_t start_nsid);
    void scan_next_namespace(std::shared_ptr<ScanState> s);
    void scan_done(std::shared_ptr<ScanState> s, std::error_code ec);
    void publish(std::shared_ptr<ControllerInfo> next);
    void notify_listeners(const std::vector<NamespaceEvent>& events);

    // async_events.cpp
    void enable_async_events(std::uint64_t epoch);
    void post_aer(std::uint64_t epoch);
    void post_aers(std::uint64_t epoch); ///< as many as AERL and the options allow
    void on_aer(Result&& r, std::uint64_t epoch);
    void after_admin_passthrough(std::uint8_t opc, DoneFn done);

    // ---- shared -----------------------------------------------------------
    std::unique_ptr<transport::Transport> transport_;
    transport::DeviceMemory& memory_; ///< transport_->memory(), thread-safe
    const Options options_;
    std::shared_ptr<spdlog::logger> log_;
    Mailbox mailbox_;
    std::error_code startup_error_;
    std::atomic<bool> stop_requested_{false};
    /// Written by the owner thread (reconnect.cpp, go_live()), read by any.
    std::atomic<PathState> path_state_{PathState::live};
    /// state_ as Controller::state() names it; written with it (set_state()).
    std::atomic<Controller::State> public_state_{Controller::State::starting};
    /// Held while the state listener runs and while it is replaced.
    std::mutex state_listener_mutex_;
    std::function<void(Controller::State)> state_listener_;
    std::mutex event_listener_mutex_;
    std::function<void(std::uint32_t)> event_listener_;
    std::thread thread_;
    std::thread::id owner_id_;

    mutable std::mutex info_mutex_;
    std::shared_ptr<const ControllerInfo> info_;

    // fd watches (owner_loop.cpp serves them; any thread adds/removes).
    struct FdWatch {
        int fd = -1;
        std::shared_ptr<std::function<bool()>> on_readable;
    };
    std::mutex watches_mutex_;           ///< guards watches_, next_watch_id_
    std::mutex watch_dispatch_mutex_;    ///< held by the owner while a handler runs
    std::map<WatchId, FdWatch> watches_;
    WatchId next_watch_id_ = 1;
    std::atomic<std::size_t> watch_count_{0};
    std::atomic<bool> watches_changed_{false}; ///< the owner rebuilds its epoll set
    /// The watched fd whose handler consumed input last time: read again
    /// directly on the next iterations (-1: none), and how many iterations
    /// in a row skipped epoll for it.
    int direct_watch_fd_ = -1;
    unsigned direct_turns_ = 0;
    bool serve_watch(int fd);
    bool poll_events();
    /// poll_events(), or on up to two iterations in three a direct call of
    /// the handler that consumed input last (see watch_fd()).
    bool poll_events_or_direct();
    [[nodiscard]] bool awaits_signal() const noexcept;
    /// Marks for reaping the queues that signal completions and have a
    /// command in flight that will be answered soon (not counting
    /// Asynchronous Event Requests, which may wait for days); true if any.
    [[nodiscard]] bool expect_answers() noexcept;
    int wait_for_events(std::span<epoll_event> events, int timeout_ms);
    bool dispatch_events(std::span<const epoll_event> events);
    [[nodiscard]] QueueSlot* queue_with_fd(int fd) noexcept;

    std::mutex listeners_mutex_;
    std::map<ListenerId, std::shared_ptr<std::function<void(const NamespaceEvent&)>>> listeners_;
    ListenerId next_listener_id_ = 1;
    std::mutex dispatch_mutex_; ///< held by the owner while calling listeners

    // ---- owner thread -----------------------------------------------------
    State state_ = State::starting;
    /// state_ = next, and the public mirror other threads read.
    void set_state(State next);
    std::uint64_t epoch_ = 0; ///< bumped by every reset/stop: stale async chains end
    std::vector<std::unique_ptr<QueueSlot>> queues_; ///< [0] admin, [1..] I/O
    std::size_t next_io_ = 0;                        ///< round-robin over I/O queues
    NodeFifo held_;                                  ///< user commands while (re)initialising
    std::vector<DoneFn> reset_waiters_;
    bool reset_requested_ = false;
    bool loss_reported_ = false; ///< the transport lost its connection: reconnect
    bool removal_reported_ = false; ///< the transport's device is gone: fail
    struct Recovery {
        Clock::time_point lost_at{};
        Clock::time_point next_attempt = Clock::time_point::max();
        Clock::time_point give_up_at = Clock::time_point::max();
        bool attempt_running = false;
        std::uint32_t attempts = 0;
    } recovery_;
    std::vector<std::move_only_function<void()>> deferred_; ///< run at the top of the loop
    Clock::time_point now_{};                               ///< this loop iteration's clock
    std::error_code failure_;                               ///< why the controller is `failed`
    Clock::time_point next_deadline_ = Clock::time_point::max();
    Clock::time_point armed_deadline_ = Clock::time_point::max();
    std::uint32_t aborts_in_flight_ = 0;
    nvme::IdentifyController id_ctrl_{}; ///< latest Identify Controller
    /// ControllerInfo::effects: read at the first bring-up, kept after.
    std::shared_ptr<const nvme::CommandsSupportedEffectsLog> effects_;
    std::uint64_t cap_ = 0;                ///< CAP, read at every enable
    std::uint32_t vs_ = 0;                 ///< VS, read at every enable
    std::multimap<Clock::time_point, std::move_only_function<void()>> timers_;
    bool keep_alive_outstanding_ = false;
    Clock::time_point keep_alive_sent_{};

    bool scan_running_ = false;
    bool scan_again_ = false;
    std::vector<DoneFn> scan_waiters_;                 ///< satisfied by the running scan
    std::vector<DoneFn> scan_next_waiters_;            ///< satisfied by the next one
    bool scan_full_ = false;                           ///< next scan re-identifies everything
    std::optional<std::set<std::uint32_t>> scan_only_; ///< else just these nsids

    Clock::time_point last_yield_{};  ///< the owner's last sched_yield while polling
    bool just_woke_ = false; ///< skip the next readiness poll (sleep() just polled, or queues are tried first)
    bool epoll_dirty_ = true;
    int epoll_fd_ = -1;
    int timer_fd_ = -1;
    int transport_event_fd_ = -1;
    std::array<nvme::CompletionQueueEntry, 64> cqes_{};
    /// A transport call runs on worker_ (off_loop()).
    bool transport_busy_ = false;
    std::vector<std::move_only_function<void()>> after_transport_idle_;

    /// One per Options::reactors entry with concurrent queues; [i] is
    /// driven by reactors[i] (its Reactor::index() may differ).
    std::vector<std::unique_ptr<IoLane>> lanes_;

    // Last: destroyed (joined) first, before the transport and mailbox its
    // jobs use.
    BlockingWorker worker_;
};

} // namespace nvmecuse::ctrlr
