// One NVMe/TCP connection = one NVMe queue pair (NVMe/TCP Transport 1.0, 3.1
// "Connection establishment", 3.3 "Data Transfer Model", 3.5 "Transport
// Error Handling"). It owns a non-blocking socket and never blocks the
// thread that drives it, except in the explicitly synchronous calls
// (open(), execute()) that the transport uses while connecting.
//
// Threading: a TcpQueue belongs to one thread (the controller's owner
// thread once it has been handed over; before that the thread of connect()).
#pragma once

#include <poll.h>

#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "nvmecuse/transport/tcp/pdu_encode.hpp"
#include "nvmecuse/transport/tcp/pdu_parser.hpp"
#include "nvmecuse/transport/transport.hpp"

#include "socket.hpp"

namespace nvmecuse::transport::tcp {

/// How one queue is set up.
struct QueueConfig {
    std::uint16_t qid = 0;
    /// Commands the core may have outstanding (QueuePair::depth()); the
    /// transport's own commands come on top.
    std::uint16_t depth = 30;
    DigestSettings digests;             ///< asked for in ICReq; ICResp decides
    std::uint32_t in_capsule_limit = 0; ///< in-capsule data bytes for non-fabrics commands
    std::string name;                   ///< for log messages ("tcp 127.0.0.1:4420 q1")
};

/// Completion of one of the transport's own commands; also called with a
/// synthesized failure status when the connection drops.
using InternalDone = std::move_only_function<void(const nvme::CompletionQueueEntry&)>;

/// The status given to commands that were outstanding when the connection
/// dropped: Command Aborted By Host (SCT 3h, SC 71h), what Linux
/// nvme_cancel_request() reports for commands of a torn-down queue.
inline constexpr nvme::Status connection_lost_status{nvme::PathStatus::command_aborted_by_host};
/// The status of a command whose C2H data failed its data digest: Transient
/// Transport Error (TCP 1.0, 3.5 "Digest errors" is not fatal to the connection).
inline constexpr nvme::Status data_digest_status{nvme::GenericStatus::transient_transport_error};

class TcpQueue final : public QueuePair {
public:
    /// Explicit connection states; every PDU is checked against the state.
    enum class State : std::uint8_t {
        awaiting_ic_resp, ///< TCP up, ICReq queued, ICResp not yet received
        ready,            ///< ICResp accepted: capsules may flow
        failed,           ///< dropped (protocol error, peer gone, torn down): terminal
    };

    /// Connects, sends ICReq and waits for a valid ICResp until `deadline`.
    [[nodiscard]] static std::expected<std::unique_ptr<TcpQueue>, std::error_code>
    open(const SocketAddress& address, const QueueConfig& config, Clock::time_point deadline);
    /// The same over a stream socket that is already connected (any
    /// family: the fuzz target hands it one end of a socketpair).
    [[nodiscard]] static std::expected<std::unique_ptr<TcpQueue>, std::error_code>
    open(UniqueFd connected, const QueueConfig& config, Clock::time_point deadline);

    ~TcpQueue() override;
    TcpQueue(const TcpQueue&) = delete;
    TcpQueue& operator=(const TcpQueue&) = delete;

    // ---- QueuePair ---------------------------------------------------------
    /// Queues the command capsule (and in-capsule data) and writes what the
    /// socket takes now; the rest goes out from later submit()/reap() calls.
    /// Errors: not_connected once failed, resource_unavailable_try_again at
    /// depth(), invalid_argument for separate metadata (fabrics have none),
    /// a cid already outstanding, or data over 4 GiB.
    [[nodiscard]] std::expected<void, std::error_code> submit(const Request& request) override;
    /// Writes pending PDUs, reads and handles what arrived, then hands out completions.
    [[nodiscard]] std::size_t reap(std::span<nvme::CompletionQueueEntry> out) override;
    [[nodiscard]] std::uint16_t depth() const override { return config_.depth; }
    /// An epoll descriptor: readable when the socket has data, when pending
    /// PDUs can be written, or when completions were synthesized.
    [[nodiscard]] int completion_fd() const override { return epoll_.get(); }

    // ---- the transport's own use ------------------------------------------
    /// Submits a command of the transport itself on a cid from a range the
    /// core never uses (0xf000..0xfffe); `done` runs on its completion or
    /// when the connection drops. Its completion never appears in reap().
    [[nodiscard]] std::expected<void, std::error_code>
    submit_internal(const nvme::SubmissionQueueEntry& sqe, nvme::DataTransfer direction,
                    std::span<std::byte> data, InternalDone done);
    /// submit_internal() and wait until `deadline`. On timeout the queue is
    /// dropped (the target may still write into `data` otherwise).
    [[nodiscard]] std::expected<nvme::CompletionQueueEntry, std::error_code>
    execute(const nvme::SubmissionQueueEntry& sqe, nvme::DataTransfer direction,
            std::span<std::byte> data, Clock::time_point deadline);

    /// Sends what can be sent and handles what arrived; never blocks.
    void pump();
    /// Drops the connection: outstanding commands complete with
    /// connection_lost_status, the socket closes. Idempotent.
    void drop(std::error_code reason);

    [[nodiscard]] State state() const
    {
        std::lock_guard lock(mutex_);
        return state_;
    }
    [[nodiscard]] bool ready() const { return state() == State::ready; }
    [[nodiscard]] std::error_code failure() const
    {
        std::lock_guard lock(mutex_);
        return failure_;
    }
    [[nodiscard]] const NegotiatedConnection& negotiated() const noexcept { return negotiated_; }
    [[nodiscard]] std::uint16_t qid() const noexcept { return config_.qid; }
    void set_in_capsule_limit(std::uint32_t bytes) noexcept { config_.in_capsule_limit = bytes; }
    /// Called once, from drop(), when the connection fails for any reason.
    void on_failure(std::move_only_function<void(std::error_code)> fn)
    {
        std::lock_guard lock(mutex_);
        on_failure_ = std::move(fn);
    }

private:
    TcpQueue(UniqueFd socket, const QueueConfig& config);

    struct Inflight {
        Request request;
        InternalDone internal; ///< set for the transport's own commands
        bool is_internal = false;
        bool in_capsule = false;
        std::uint32_t c2h_received = 0;  ///< C2HData bytes so far (in order)
        std::uint32_t h2c_requested = 0; ///< end of the R2T-requested range so far
        std::uint32_t unsent_pdus = 0;   ///< queued PDUs still pointing into the data
        bool digest_error = false;
        bool response_held = false; ///< CapsuleResp arrived while data was still unsent
        nvme::CompletionQueueEntry response{};

        /// Zeroes what the controller did not send of a controller-to-host
        /// buffer, so that a completion (any status, or the queue failing)
        /// hands back no uninitialised bytes (TransportInfo::fills_host_buffers).
        void zero_unreceived() noexcept;
    };
    struct Outgoing {
        OutgoingPdu pdu;
        std::uint16_t cid = 0;
        bool references_data = false;
    };

    [[nodiscard]] std::expected<void, std::error_code> enqueue_command(std::uint16_t cid,
                                                                       Inflight&& inflight);
    void enqueue(OutgoingPdu&& pdu, std::uint16_t cid, bool references_data);
    void flush();
    void receive();
    /// The parser paused before a PDU's data: a C2HData PDU is checked
    /// against its command and the command's buffer becomes the parser's
    /// destination, before any of the data is taken.
    void on_data_header();
    /// Handles the complete PDU and readies the parser for the next one;
    /// false when that dropped the connection.
    [[nodiscard]] bool finish_pdu();
    void handle_pdu();
    void on_ic_resp();
    void on_capsule_resp();
    void on_c2h_data();
    /// The command a C2HData PDU with `length` data bytes may fill: its cid
    /// outstanding, controller-to-host, DATAO where the previous PDU ended,
    /// the data within its buffer. Otherwise the protocol error is raised
    /// (the queue drops) and nullptr returned.
    Inflight* c2h_target(const C2HDataHeader& h, std::uint64_t length);
    void on_r2t();
    void on_term_req();
    /// A fatal protocol error: TermReq if the stream allows one, then drop.
    void protocol_error(std::string_view what, std::optional<TermReqFields> term = std::nullopt);
    void complete(std::uint16_t cid, nvme::CompletionQueueEntry cqe);
    void update_epoll();
    /// What the synchronous paths poll(2) for while they wait: the socket,
    /// for input (and output while PDUs wait). Under the lock.
    [[nodiscard]] pollfd socket_poll() const;
    void kick();
    [[nodiscard]] ParserConfig parser_config() const noexcept;
    [[nodiscard]] SendSettings send_settings() const noexcept
    {
        return {negotiated_.digests, negotiated_.cpda};
    }

    QueueConfig config_;
    /// Every public member takes it: the queue is driven by one thread at
    /// a time (the owner, or the serving thread it is lent to), but its
    /// association drops it from whichever thread sees the connection fail.
    /// Recursive: a drop inside reap() reaches the association and back.
    mutable std::recursive_mutex mutex_;
    State state_ = State::awaiting_ic_resp;
    std::error_code failure_;
    /// The socket after a drop: shut down, kept open until the queue goes,
    /// so that its number is never reused under a thread polling it.
    UniqueFd retired_socket_;
    UniqueFd socket_;
    UniqueFd epoll_;
    UniqueFd kick_; ///< eventfd: completions synthesized outside reap()
    bool kicked_ = false;
    bool in_reap_ = false; ///< completions made now are handed out by this reap()
    bool want_write_ = false;
    ICReqParams ic_req_;
    NegotiatedConnection negotiated_;
    PduParser parser_;
    /// The cid whose buffer the parser receives C2HData into, until the PDU is whole.
    std::optional<std::uint16_t> rx_data_cid_;
    std::vector<std::byte> rx_buffer_;
    std::size_t rx_begin_ = 0; ///< unparsed bytes of rx_buffer_: [rx_begin_, rx_end_)
    std::size_t rx_end_ = 0;
    std::deque<Outgoing> tx_;
    std::size_t tx_front_sent_ = 0; ///< bytes of tx_.front() already written
    std::unordered_map<std::uint16_t, Inflight> inflight_;
    std::deque<nvme::CompletionQueueEntry> ready_;
    std::uint16_t user_outstanding_ = 0; ///< core commands submitted and not yet reaped
    std::uint16_t next_internal_cid_ = 0;
    std::uint32_t largest_transfer_ = 0; ///< bounds the PLEN the parser accepts
    std::move_only_function<void(std::error_code)> on_failure_;
};

} // namespace nvmecuse::transport::tcp
