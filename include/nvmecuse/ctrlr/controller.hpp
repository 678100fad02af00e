#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/ctrlr/reactor.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::ctrlr {

/// What the core knows about one active namespace (from Identify Namespace).
struct NamespaceInfo {
    std::uint32_t nsid = 0;
    nvme::IdentifyNamespace id{};
    /// Bytes per logical block (current format); 0 when LBADS is 0 or too
    /// large for 32 bits (the namespace is then unusable).
    std::uint32_t lba_data_size = 0;
    std::uint16_t metadata_size = 0;  ///< metadata bytes per logical block
    bool extended_metadata = false;   ///< metadata interleaved with data (FLBAS bit 4)
    /// Empty for a namespace with a capacity. Otherwise why it has none,
    /// for logs and the node to report: an LBA data size outside
    /// [min_lba_data_size, max_lba_data_size] (limits.hpp), as Linux gives
    /// such a namespace capacity 0, or NSZE × LBA size past 64 bits. Such a
    /// namespace stays visible (passthrough still reaches it).
    std::string unusable_reason;
    /// NSZE × LBA data size in bytes; 0 for an unusable namespace and when
    /// the product does not fit 64 bits.
    [[nodiscard]] std::uint64_t size_bytes() const noexcept
    {
        std::uint64_t bytes = 0;
        if (!unusable_reason.empty() || __builtin_mul_overflow(id.nsze, lba_data_size, &bytes))
            return 0;
        return bytes;
    }
};

/// A consistent snapshot of the identify data the core caches. Replaced as a
/// whole (never mutated) when a rescan, reset or format changes it, so a
/// reader holding one sees a stable picture.
struct ControllerInfo {
    nvme::IdentifyController id{};
    std::map<std::uint32_t, NamespaceInfo> namespaces;  ///< active namespaces by nsid
    std::uint64_t generation = 0;                       ///< increments on every change
    std::uint64_t cap = 0;                              ///< the CAP register at the last enable
    /// Bytes one command may move: max_transfer_bytes(id, cap) (MDTS in
    /// CAP.MPSMIN units, clamped) and the transport's own limit
    /// (TransportInfo::max_transfer), the smaller; 0 when neither has one.
    /// The one place the transfer limit comes from.
    std::uint64_t max_transfer = 0;
    /// The Commands Supported and Effects log (LID 05h, NVM command set) as
    /// Linux nvme_init_effects() keeps it: read once, at the first bring-up,
    /// when Identify LPA bit 1 advertises it; all zero when it is not
    /// advertised or the controller fails the Get Log Page with a status;
    /// then the driver's known effects laid over it (known_effects.cpp).
    /// Never null once the controller is live.
    std::shared_ptr<const nvme::CommandsSupportedEffectsLog> effects;
};

/// A change in the active namespace set or in a namespace's shape.
struct NamespaceEvent {
    enum class Kind : std::uint8_t { added, removed, changed };
    Kind kind;
    std::uint32_t nsid;
};

/// The controller core: one owner thread per controller owns the transport
/// and its queues; everything else talks to it through its mailbox.
///
/// It drives the controller's registers for every transport alike
/// (enable with CAP.TO, disable before a reset, CC.SHN on stop, NVM
/// subsystem reset, Keep Alive every KATO/2; ctrlr/controller_enable.cpp),
/// waiting on timers, never sleeping. It keeps Asynchronous Event Requests outstanding, refreshes the cached
/// identify data when namespaces change (AER, rescan, reset, or a successful
/// admin command whose effects change namespaces, as the Linux driver does
/// after passthrough), enforces per-command timeouts (abort, then reset if
/// the abort does not help), and fails outstanding commands cleanly on reset
/// and shutdown.
class Controller {
public:
    struct Options {
        std::string name = "nvme";                         ///< for logs
        std::chrono::milliseconds admin_timeout{60'000};   ///< Linux admin_timeout default
        std::chrono::milliseconds io_timeout{30'000};      ///< Linux io_timeout default
        std::uint16_t io_queues = 1; ///< the owner thread's own I/O queues
        /// Serving threads that get an I/O queue pair of their own (a lane)
        /// beside the owner's io_queues, where the controller grants the
        /// queues and the transport lets queue pairs run on different
        /// threads (TransportInfo::concurrent_queues). An I/O command
        /// submitted on such a thread goes straight to its queue pair and
        /// completes there; elsewhere, and for a reactor without a lane, it
        /// goes through the owner thread. They must outlive the Controller.
        std::vector<Reactor*> reactors;
        std::uint16_t io_queue_depth = 256;
        std::uint32_t max_outstanding_aers = 4;            ///< capped by Identify AERL+1
        /// How long the owner thread polls for new work before sleeping.
        std::chrono::microseconds spin_before_sleep{50};
        /// Recovery when the transport reports a lost connection
        /// (Transport::connection_lost(); NVMe over Fabrics), with the
        /// meaning of Linux nvme-fabrics' options of the same names. The
        /// controller is then `reconnecting` (Linux NVME_CTRL_CONNECTING):
        /// commands that were outstanding have failed (Command Aborted By
        /// Host), new ones fail at once (Host Pathing Error), and every
        /// reconnect_delay (the first one
        /// reconnect_delay after the loss) an attempt runs the whole
        /// bring-up (disconnect, connect_admin, enable, Identify, I/O
        /// queues, rescan).
        /// Each attempt blocks the owner thread no longer than the
        /// transport's own connect bounds.
        std::chrono::milliseconds reconnect_delay{10'000};
        /// Counted from the loss: no attempt starts after it; when the last
        /// one has failed the controller gives up (`failed`, PathState::lost:
        /// new commands fail with not_connected; a reset() tries again).
        /// Negative: reconnect forever.
        std::chrono::milliseconds ctrl_loss_tmo{600'000};
        /// Accepted with nvme connect's meaning, and logged: Linux applies
        /// it to block I/O only. Every command here is a passthrough
        /// command (REQ_FAILFAST_DRIVER there), and those fail at once
        /// while reconnecting whatever it is (see submit()).
        std::chrono::milliseconds fast_io_fail_tmo{-1};
    };

    /// Takes ownership of `transport`, starts the owner thread, and brings
    /// the controller up synchronously (connect_admin, enable, Identify,
    /// Number of Queues, I/O queues, namespace scan, AERs). Any thread.
    /// Errors: the transport's; `timed_out` when CSTS.RDY did not come within
    /// CAP.TO; `io_error` for CSTS.CFS; `no_such_device` when registers read
    /// all ones; `not_supported` when CAP.MPSMIN exceeds 4 KiB.
    [[nodiscard]] static std::expected<std::unique_ptr<Controller>, std::error_code>
    start(std::unique_ptr<transport::Transport> transport, Options options);

    /// Shuts a live controller down (CC.SHN, CSTS.SHST within RTD3E, 5 s at
    /// least) and stops the owner thread; commands still outstanding
    /// complete with `operation_canceled` before it returns. Must not be
    /// called on the owner thread.
    ~Controller();
    Controller(const Controller&) = delete;
    Controller& operator=(const Controller&) = delete;

    /// Any thread. Queues `command`; `handler` runs exactly once, on the
    /// owner thread, or, for an I/O command submitted on a reactor with a
    /// lane (Options::reactors) while the controller is live, on that
    /// reactor. A bidirectional command completes with `invalid_argument`.
    /// While reconnecting (PathState::reconnecting) it completes at once
    /// with Host Pathing Error (SCT 3h, SC 70h), as Linux fails a
    /// passthrough command on a fabrics controller that is not live
    /// (nvme_fail_nonready_command(): REQ_FAILFAST_DRIVER).
    /// Commands in flight when the connection drops complete with Command
    /// Aborted By Host (SCT 3h, SC 71h; Linux: nvme_cancel_request()).
    void submit(QueueKind queue, Command command, CompletionHandler handler);

    /// Any thread but the owner thread. submit() through the owner (on a
    /// serving thread too, whose lane would wait for it) and wait.
    [[nodiscard]] Result execute(QueueKind queue, Command command);

    /// Any thread. Controller reset: outstanding commands complete with
    /// `operation_canceled`, the controller is re-enabled and rescanned.
    /// While reconnecting after a lost connection `done` gets
    /// `device_or_resource_busy` (as Linux refuses a reset while connecting).
    void reset(std::move_only_function<void(std::error_code)> done);
    /// Any thread. NVM subsystem reset (NSSR) where CAP.NSSRS and NVMe 1.1
    /// allow it, else `operation_not_supported`. `done` runs once NSSR is
    /// written and the controller reset that follows is scheduled, as Linux
    /// nvme_reset_subsystem() returns; commands submitted after it wait for
    /// that reset.
    void subsystem_reset(std::move_only_function<void(std::error_code)> done);
    /// Any thread. Re-reads Identify Controller and the namespace list,
    /// publishing a new ControllerInfo and NamespaceEvents for what changed.
    void rescan(std::move_only_function<void(std::error_code)> done);

    /// Any thread. The current snapshot (never null after start()).
    [[nodiscard]] std::shared_ptr<const ControllerInfo> info() const;

    using ListenerId = std::uint64_t;
    /// Any thread. `listener` runs on the owner thread after each published
    /// change (the new info() is already visible). Must not block.
    ListenerId add_namespace_listener(std::function<void(const NamespaceEvent&)> listener);
    /// Any thread. After it returns the listener is never called again
    /// (unless called from within the listener itself, on the owner thread).
    void remove_namespace_listener(ListenerId id);

    using WatchId = std::uint64_t;
    /// Any thread. Serves `fd` on the owner thread: `on_readable` runs there
    /// whenever `fd` has input (level-triggered; it must never block) and
    /// returns whether it consumed any. The owner checks watched fds on
    /// every loop iteration while awake and sleeps on them with its other
    /// fds, so input needs no hand-off to another thread: a CUSE session
    /// served this way costs one wake-up per ioctl, like a plain server.
    /// After a handler consumed input the owner may call it again on the
    /// next iterations without asking epoll first (busy nodes then cost one
    /// system call per request, not two), so it must cope with finding
    /// nothing (EAGAIN) and then return false.
    WatchId watch_fd(int fd, std::function<bool()> on_readable);
    /// Any thread. After it returns `on_readable` is not running and never
    /// runs again (called from the handler itself it just unregisters).
    void unwatch_fd(WatchId id);

    /// How many of Options::reactors have a lane: all of them where the
    /// transport allows queue pairs on different threads, else none. (A
    /// lane has no queue while the controller is not live, or when it
    /// granted too few queues; its I/O then goes through the owner.)
    [[nodiscard]] std::size_t lanes() const noexcept;

    /// The connection to the controller as a Linux host's namespace head
    /// sees its path. Only a lost fabrics connection leaves `live`.
    enum class PathState : std::uint8_t {
        live,         ///< connected (or never lost)
        reconnecting, ///< lost; attempts run until ctrl_loss_tmo (NVME_CTRL_CONNECTING)
        lost,         ///< ctrl_loss_tmo ran out (Linux deletes the controller)
    };
    /// Any thread.
    [[nodiscard]] PathState path_state() const noexcept;

    /// The controller's state with the names of Linux's
    /// /sys/class/nvme/nvmeN/state (nvme_ctrl_state_show()).
    enum class State : std::uint8_t {
        starting,   ///< the first bring-up (Linux "new")
        live,
        resetting,  ///< a controller or subsystem reset brings it up again
        connecting, ///< a lost connection is retried (PathState::reconnecting)
        /// Commands fail: a bring-up failed, the device was removed, or
        /// ctrl_loss_tmo ran out (PathState::lost; Linux then deletes the
        /// controller). A reset() tries again.
        failed,
        deleting,   ///< shutting down (Linux "deleting")
    };
    /// Any thread; a snapshot that may change at once.
    [[nodiscard]] State state() const noexcept;
    /// Any thread. `listener` runs on the owner thread after each change of
    /// state() (the new one is already visible), including the last ones
    /// while the controller is destroyed; it must not block. Replaces the
    /// previous listener (empty: none); after it returns the previous one
    /// is never called again. Must not be called from the listener.
    void on_state_change(std::function<void(State)> listener);

    /// Any thread. `listener` runs on the owner thread for each
    /// Asynchronous Event the controller reports (the completion's Dword 0:
    /// type, information, log page; NVMe Base 2.0, Figure 146), once the
    /// core has read the log page it names with RAE cleared, which re-arms
    /// the event; it must not block. A discovery controller's Discovery Log
    /// Page Change (notice F0h, log page 70h) arrives here. Replaces the
    /// previous listener (empty: none); after it returns the previous one
    /// is never called again. Must not be called from the listener.
    void on_async_event(std::function<void(std::uint32_t dw0)> listener);

    /// Static transport facts.
    [[nodiscard]] const transport::TransportInfo& transport_info() const;

    /// Any thread. The memory command buffers should come from: what the
    /// transport's controller reaches by DMA (Transport::memory()).
    [[nodiscard]] transport::DeviceMemory& memory() const;

    class Impl;

private:
    explicit Controller(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace nvmecuse::ctrlr
