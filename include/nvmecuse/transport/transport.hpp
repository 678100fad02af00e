#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include "nvmecuse/spec/nvme.hpp"

/// How a controller is reached: the capability-split interface every
/// transport (emu, tcp, pcie) implements and ctrlr::Controller drives.
///
/// Threading: every member of Transport and QueuePair is called only on the
/// owning controller's thread (ctrlr::Controller's owner thread). Nothing here
/// is thread-safe, and nothing needs to be.
namespace nvmecuse::transport {

/// One command as a queue sees it. The spans point into buffers owned by the
/// controller core; they stay valid and untouched by anybody else until the
/// completion with the same cid has been reaped (or the queue is destroyed).
struct Request {
    nvme::SubmissionQueueEntry sqe{};  ///< cid already assigned by the core
    nvme::DataTransfer direction = nvme::DataTransfer::none;
    std::span<std::byte> data;         ///< host data buffer (either direction)
    std::span<std::byte> metadata;     ///< separate metadata buffer (MPTR), may be empty
};

/// A submission/completion queue pair (the admin queue or one I/O queue).
class QueuePair {
public:
    virtual ~QueuePair() = default;

    /// Required. Queues `request` for execution.
    /// Errors: `resource_unavailable_try_again` when the queue is full (the
    /// core retries after reaping), `not_connected` when the transport is
    /// down, `invalid_argument` when the request cannot be expressed on this
    /// transport (e.g. larger than the transport can map).
    [[nodiscard]] virtual std::expected<void, std::error_code> submit(const Request& request) = 0;

    /// Required. Moves up to out.size() available completions into `out`
    /// and returns how many. Never blocks.
    [[nodiscard]] virtual std::size_t reap(std::span<nvme::CompletionQueueEntry> out) = 0;

    /// Required. How many commands may be outstanding at once.
    [[nodiscard]] virtual std::uint16_t depth() const = 0;

    /// Optional. A file descriptor that polls readable when completions may
    /// be available (an interrupt eventfd, a socket); -1 when the queue can
    /// only be polled. The core sleeps on it while commands are outstanding;
    /// reap() is responsible for acknowledging it.
    [[nodiscard]] virtual int completion_fd() const { return -1; }
};

/// Static facts the core needs before it can talk to the controller.
struct TransportInfo {
    std::string name;           ///< "emu", "tcp 127.0.0.1:4420 nqn…", "pcie 0000:00:03.0"
    std::uint64_t cap = 0;      ///< the controller's CAP register (MQES, TO, NSSRS, …)
    std::uint32_t vs = 0;       ///< the controller's VS register
    std::uint16_t max_io_queues = 1;  ///< I/O queues the transport can create
    /// Every command the transport completes (any status, or a queue
    /// failing it) leaves its controller-to-host buffers written in full:
    /// what the controller sent, zeroes for the rest. Callers may then hand
    /// it uninitialised buffers without the daemon's old heap contents ever
    /// reaching them. False (zero your buffers) when the controller writes
    /// them by DMA and the transport cannot know how much it wrote.
    bool fills_host_buffers = false;
};

/// A controller reached through some medium. Capability split in the sense
/// of xNVMe's backends: admin queue, I/O queue creation, and controller-level
/// operations; memory is owned by the core (transport::DataBuffer) and a
/// transport that needs DMA-able memory bounces or maps it itself.
class Transport {
public:
    virtual ~Transport() = default;

    /// Required. Static facts; valid from construction.
    [[nodiscard]] virtual const TransportInfo& info() const = 0;

    /// Required. Brings the controller to ready (CC.EN=1 / connect) with an
    /// admin queue. Called once before anything else, and again after reset().
    [[nodiscard]] virtual std::expected<void, std::error_code> enable() = 0;

    /// Required. The admin queue; valid between enable() and disable()/reset().
    [[nodiscard]] virtual QueuePair& admin_queue() = 0;

    /// Required. Creates I/O queue `qid` (1-based) with at most `depth`
    /// entries. The core has already negotiated Number of Queues.
    [[nodiscard]] virtual std::expected<std::unique_ptr<QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) = 0;

    /// Required. Controller-level reset: every queue is torn down and every
    /// outstanding command is lost (the core fails them); the core calls
    /// enable() afterwards. I/O queues created before must not be used again.
    [[nodiscard]] virtual std::expected<void, std::error_code> reset() = 0;

    /// Optional. NVM Subsystem Reset (NSSR); unsupported by default.
    [[nodiscard]] virtual std::expected<void, std::error_code> subsystem_reset()
    {
        return std::unexpected(std::make_error_code(std::errc::operation_not_supported));
    }

    /// Optional. Orderly shutdown notification (CC.SHN) before the core lets go.
    virtual void shutdown() {}

    /// Optional. A descriptor that polls readable when the transport needs
    /// attention outside of completions (a fabric connection lost, a
    /// hot-removed device); -1 when there is none. handle_event() is then
    /// called, and must consume what made the descriptor readable.
    [[nodiscard]] virtual int event_fd() const { return -1; }
    virtual void handle_event() {}

    /// Optional. True once the connection to the controller was lost on its
    /// own (peer gone, protocol error, Keep Alive unanswered), as opposed to
    /// torn down by reset() or shutdown(): every queue is then down and its
    /// outstanding commands have completed with an error. event_fd() polls
    /// readable when it becomes true; reset() clears it. The core answers
    /// with reconnect attempts (reset() + enable()), like Linux nvme-fabrics
    /// error recovery. Transports that cannot lose a connection say false.
    [[nodiscard]] virtual bool connection_lost() const { return false; }
};

} // namespace nvmecuse::transport
