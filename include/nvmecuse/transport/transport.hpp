#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/buffer.hpp"

/// How a controller is reached: the capability-split interface every
/// transport (emu, tcp, pcie) implements and ctrlr::Controller drives.
///
/// Threading: every member of Transport and the admin QueuePair is called
/// only on the owning controller's thread (ctrlr::Controller's owner
/// thread). An I/O QueuePair is used by one thread at a time: the owner,
/// or, where TransportInfo::concurrent_queues says so, a serving thread it
/// was lent to, while the owner and other serving threads use the other
/// queue pairs. The owner takes a queue back before it resets, reconnects,
/// disconnects or destroys anything.
namespace nvmecuse::transport {

/// A cid as the core assigns it, like Linux's nvme_cid(): the command's slot
/// in its queue in the low 12 bits (below depth()), and in the high 4 a
/// generation that changes each time the slot is reused, so that a repeated
/// or late completion of a previous use no longer matches. The core's
/// generations are 0..14: cids from 0xf000 up are left to a transport's own
/// commands. A transport that keeps state per command indexes it by
/// cid_slot() and checks the whole cid when the command completes.
inline constexpr std::uint16_t max_queue_depth = 4095;
[[nodiscard]] constexpr std::uint16_t cid_slot(std::uint16_t cid) noexcept
{
    return cid & 0x0fffu;
}
inline constexpr std::uint16_t first_transport_cid = 0xf000;

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

    /// Required. How many commands may be outstanding at once (the core
    /// uses at most max_queue_depth of them).
    [[nodiscard]] virtual std::uint16_t depth() const = 0;

    /// Optional. A file descriptor that polls readable when completions may
    /// be available (an interrupt eventfd, a socket); -1 when the queue can
    /// only be polled. The core sleeps on it while commands are outstanding;
    /// reap() is responsible for acknowledging it.
    [[nodiscard]] virtual int completion_fd() const { return -1; }
};

/// How the core reaches the controller's registers (NVMe Base 2.0, 3.1.4).
enum class RegisterAccess : std::uint8_t {
    /// Transport::read_register()/write_register(): memory-mapped (PCIe
    /// BAR0) or emulated; synchronous and cheap.
    direct,
    /// Fabrics Property Get/Set commands on the connected admin queue
    /// (NVMe Base 2.0, 6.5, 6.6); the core issues them as admin commands.
    fabrics_property,
};

/// Static facts the core needs before it can talk to the controller.
struct TransportInfo {
    std::string name;           ///< "emu", "tcp 127.0.0.1:4420 nqn…", "pcie 0000:00:03.0"
    RegisterAccess registers = RegisterAccess::direct;
    std::uint16_t max_io_queues = 1;  ///< I/O queues the transport can create
    /// Different I/O queue pairs may be used from different threads at
    /// once (submit and reap), each by one thread at a time, beside the
    /// owner thread's use of the transport and the admin queue.
    bool concurrent_queues = false;
    /// Bytes one command may move on this transport (PCIe: what its PRP
    /// lists are prepared for); 0: no limit of its own. The core takes the
    /// smaller of this and MDTS (ControllerInfo::max_transfer).
    std::size_t max_transfer = 0;
    /// Keep Alive Timeout the association was set up with (the Fabrics
    /// Connect command's KATO); 0: the core sends no Keep Alive.
    std::chrono::milliseconds keep_alive_timeout{0};
    /// Every command the transport completes (any status, or a queue
    /// failing it) leaves its controller-to-host buffers written in full:
    /// what the controller sent, zeroes for the rest. Callers may then hand
    /// it uninitialised buffers without the daemon's old heap contents ever
    /// reaching them. False (zero your buffers) when the controller writes
    /// them by DMA and the transport cannot know how much it wrote.
    bool fills_host_buffers = false;
};

/// What the core writes to AQA, ASQ and ACQ before it sets CC.EN, for a
/// transport whose admin queue lives in host memory (PCIe, NVMe Base 2.0,
/// 3.1.4.9–11). Fabrics create the admin queue with Connect instead.
struct AdminQueueRegisters {
    std::uint32_t aqa = 0;
    std::uint64_t asq = 0;
    std::uint64_t acq = 0;
};

/// A controller reached through some medium. Capability split in the sense
/// of xNVMe's backends: register access, admin queue, I/O queue creation.
/// The controller's state machine (enable, disable, shutdown, NVM subsystem
/// reset, Keep Alive) is the core's, written once over register access
/// (ctrlr/controller_enable.cpp); a transport only moves bytes.
///
/// Lifecycle, driven by the core: connect_admin() → [registers: disable,
/// AQA/ASQ/ACQ, CC.EN=1, CSTS.RDY] → Identify (controller_identified()) →
/// create_io_queue()… → [CC.EN=0 or CC.SHN] → disconnect() → connect_admin()…
class Transport {
public:
    virtual ~Transport() = default;

    /// Required. Static facts; valid from construction.
    [[nodiscard]] virtual const TransportInfo& info() const = 0;

    /// Required where info().registers is `direct`: reads the 4- or 8-byte
    /// register at `offset` (8 bytes where nvme::reg_offset::is_64bit()).
    /// A device that is gone reads all ones, as PCIe does.
    [[nodiscard]] virtual std::uint64_t read_register(std::uint32_t offset)
    {
        (void)offset;
        return ~std::uint64_t{0};
    }
    /// Required where info().registers is `direct`: writes a register.
    virtual void write_register(std::uint32_t offset, std::uint64_t value)
    {
        (void)offset;
        (void)value;
    }

    /// Required. Makes the admin queue exist: fabrics connect it (TCP
    /// connect, Fabrics Connect with KATO), after which Property Get/Set
    /// work on it; memory-based transports allocate it, and it serves
    /// commands once the core has enabled the controller. Called before
    /// anything else and after every disconnect(). May block for at most
    /// the transport's connect timeout.
    [[nodiscard]] virtual std::expected<void, std::error_code> connect_admin() = 0;

    /// Optional. The AQA/ASQ/ACQ values of the queue connect_admin() made;
    /// nullopt (the default) where the admin queue needs no registers.
    [[nodiscard]] virtual std::optional<AdminQueueRegisters> admin_queue_registers() const
    {
        return std::nullopt;
    }

    /// Required. The admin queue; valid between connect_admin() and disconnect().
    [[nodiscard]] virtual QueuePair& admin_queue() = 0;

    /// Optional. Memory the controller can reach by DMA, which the core and
    /// the CUSE layer take command buffers from (no bouncing). The heap by
    /// default, for transports that copy into their medium. Must be
    /// thread-safe and live as long as the transport.
    [[nodiscard]] virtual DeviceMemory& memory() { return heap_memory(); }

    /// Optional. Told the Identify Controller data once the core has it,
    /// at every bring-up (NVMe/TCP learns IOCCSZ from it).
    virtual void controller_identified(const nvme::IdentifyController& id) { (void)id; }

    /// Required. Creates I/O queue `qid` (1-based) with at most `depth`
    /// entries. The core has already negotiated Number of Queues.
    [[nodiscard]] virtual std::expected<std::unique_ptr<QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) = 0;

    /// Required. Drops every queue and connection; the controller has
    /// been disabled or shut down by the core, or is unreachable. Every
    /// outstanding command is lost (the core fails them) and queues created
    /// before must not be used again. connect_admin() starts over.
    virtual void disconnect() = 0;

    /// Optional. A descriptor that polls readable when the transport needs
    /// attention outside of completions (a fabric connection lost, a
    /// hot-removed device); -1 when there is none. handle_event() is then
    /// called, and must consume what made the descriptor readable.
    [[nodiscard]] virtual int event_fd() const { return -1; }
    virtual void handle_event() {}

    /// Optional. True once the connection to the controller was lost on its
    /// own (peer gone, protocol error), as opposed to torn down by
    /// disconnect(): every queue is then down and its outstanding commands
    /// have completed with an error. event_fd() polls readable when it
    /// becomes true; disconnect() clears it. The core answers with
    /// reconnect attempts, like Linux nvme-fabrics error recovery.
    /// Transports that cannot lose a connection say false.
    [[nodiscard]] virtual bool connection_lost() const { return false; }

    /// Optional. True once the controller is gone for good (PCIe hot
    /// removal: the platform asked for the device back and the transport
    /// released it in handle_event()): every queue is down, outstanding
    /// commands never complete, and nothing will bring it back. event_fd()
    /// polled readable when it became true. The core fails the controller
    /// with no_such_device instead of reconnecting. Transports whose
    /// controller cannot vanish say false.
    [[nodiscard]] virtual bool device_removed() const { return false; }

    /// Optional. Drops the connection as if it had been lost on its own
    /// (the core saw Keep Alive go unanswered); connection_lost() is then
    /// true. Does nothing by default.
    virtual void fail_connection() {}
};

} // namespace nvmecuse::transport
