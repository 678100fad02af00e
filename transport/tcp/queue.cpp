// One NVMe/TCP queue: ICReq/ICResp, command capsules, C2HData, R2T ->
// H2CData, CapsuleResp, TermReq (NVMe/TCP Transport 1.0, 3.3, 3.5, 3.6.2).
// See queue.hpp.
#include "queue.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include "nvmecuse/spec/fabrics.hpp"

#include "log.hpp"

namespace nvmecuse::transport::tcp {

namespace {

constexpr std::size_t rx_buffer_size = 64 * 1024;
/// recv() calls per pump: bounds the time one busy queue holds the owner thread.
constexpr int rx_budget = 64;
/// iovecs per sendmsg().
constexpr std::size_t max_iov = 64;
/// In-capsule data a Fabrics command (Connect) may carry on any queue, and
/// any command on the admin queue: the admin command capsule is 8 KiB + 64
/// (TCP 1.0, 3.1 "Admin Queue ... 8,256 bytes"; Linux NVME_TCP_ADMIN_CCSZ).
constexpr std::uint32_t fabrics_in_capsule_limit = 8192;
/// The transport's own cids: the core's stay below (transport.hpp).
constexpr std::uint16_t first_internal_cid = first_transport_cid;
constexpr std::uint16_t internal_cids = 0x0fff; // 0xf000..0xfffe; 0xffff is never a cid

std::error_code errno_code(int e) noexcept
{
    return {e, std::generic_category()};
}
std::unexpected<std::error_code> fail(std::errc e) noexcept
{
    return std::unexpected(std::make_error_code(e));
}

nvme::CompletionQueueEntry synthesized(std::uint16_t qid, std::uint16_t cid, nvme::Status status)
{
    nvme::CompletionQueueEntry c{};
    c.sq_id = qid;
    c.cid = cid;
    nvme::set_status(c, status, false);
    return c;
}

constexpr std::uint32_t at_cccid = offsetof(C2HDataHeader, cccid);
static_assert(at_cccid == offsetof(R2THeader, cccid));
constexpr std::uint32_t at_cqe_cid = offsetof(CapsuleRespHeader, cqe) + 12;

TermReqFields bad_field(std::uint32_t at) noexcept
{
    return {FatalErrorStatus::invalid_pdu_header_field, at};
}

} // namespace

TcpQueue::TcpQueue(UniqueFd socket, const QueueConfig& config)
    : config_(config), socket_(std::move(socket)), rx_buffer_(rx_buffer_size)
{
}

TcpQueue::~TcpQueue() = default;

std::expected<std::unique_ptr<TcpQueue>, std::error_code>
TcpQueue::open(const SocketAddress& address, const QueueConfig& config, Clock::time_point deadline)
{
    auto socket = connect_tcp(address, deadline);
    if (!socket) return std::unexpected(socket.error());
    return open(std::move(*socket), config, deadline);
}

std::expected<std::unique_ptr<TcpQueue>, std::error_code>
TcpQueue::open(UniqueFd connected, const QueueConfig& config, Clock::time_point deadline)
{
    std::unique_ptr<TcpQueue> q(new TcpQueue(std::move(connected), config));
    q->epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    q->kick_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!q->epoll_.valid() || !q->kick_.valid()) return std::unexpected(errno_code(errno));
    for (int fd : {q->socket_.get(), q->kick_.get()}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (::epoll_ctl(q->epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
            return std::unexpected(errno_code(errno));
    }
    ParserConfig pc;
    pc.accepts = Direction::controller_to_host;
    pc.pause_before_data = true;
    q->parser_.reconfigure(pc);

    // ICReq: HPDA 0 (no alignment needed), MAXR2T 0 (one R2T at a time).
    q->ic_req_.hpda = 0;
    q->ic_req_.digests = config.digests;
    q->ic_req_.maxr2t = 0;
    auto ic_req = encode_ic_req(q->ic_req_);
    if (!ic_req) return fail(std::errc::invalid_argument);
    q->enqueue(std::move(*ic_req), 0, false);
    for (;;) {
        q->pump();
        if (q->state_ == State::ready) return q;
        if (q->state_ == State::failed) return std::unexpected(q->failure_);
        pollfd wait = q->socket_poll(); // (not shared yet: no lock needed)
        const int n = ::poll(&wait, 1, poll_timeout_ms(deadline));
        if (n < 0 && errno != EINTR) return std::unexpected(errno_code(errno));
        if (n == 0 && Clock::now() >= deadline) {
            log().warn("{}: no ICResp in time", config.name);
            return fail(std::errc::timed_out);
        }
    }
}

// ---------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------

std::expected<void, std::error_code> TcpQueue::submit(const Request& request)
{
    std::lock_guard lock(mutex_);
    if (state_ != State::ready) return fail(std::errc::not_connected);
    if (user_outstanding_ >= config_.depth) return fail(std::errc::resource_unavailable_try_again);
    // Fabrics have no separate metadata buffer (NVMe-oF 1.1, 2.3: extended LBAs only).
    if (!request.metadata.empty()) return fail(std::errc::invalid_argument);
    if (request.data.size() > std::numeric_limits<std::uint32_t>::max())
        return fail(std::errc::invalid_argument);
    if (request.sqe.cid >= first_internal_cid || inflight_.contains(request.sqe.cid))
        return fail(std::errc::invalid_argument);
    Inflight f;
    f.request = request;
    ++user_outstanding_; // before: a drop inside completes it through reap()
    auto r = enqueue_command(request.sqe.cid, std::move(f));
    if (!r) --user_outstanding_;
    return r;
}

std::expected<void, std::error_code>
TcpQueue::submit_internal(const nvme::SubmissionQueueEntry& sqe, nvme::DataTransfer direction,
                          std::span<std::byte> data, InternalDone done)
{
    std::lock_guard lock(mutex_);
    if (state_ != State::ready) return fail(std::errc::not_connected);
    std::uint16_t cid = 0;
    for (std::uint16_t tries = 0;; ++tries) {
        if (tries == internal_cids) return fail(std::errc::resource_unavailable_try_again);
        cid = static_cast<std::uint16_t>(first_internal_cid + next_internal_cid_);
        next_internal_cid_ = static_cast<std::uint16_t>((next_internal_cid_ + 1) % internal_cids);
        if (!inflight_.contains(cid)) break;
    }
    Inflight f;
    f.request.sqe = sqe;
    f.request.direction = direction;
    f.request.data = data;
    f.internal = std::move(done);
    f.is_internal = true;
    return enqueue_command(cid, std::move(f));
}

std::expected<void, std::error_code> TcpQueue::enqueue_command(std::uint16_t cid, Inflight&& f)
{
    nvme::SubmissionQueueEntry sqe = f.request.sqe;
    sqe.cid = cid;
    // SGL1 describes the data (TCP 1.0, 3.6.2.6): PSDT 01b, FUSE kept.
    sqe.flags = static_cast<std::uint8_t>((sqe.flags & 0x3fu) | nvme::fabrics::flags_sgl);
    if (f.request.direction == nvme::DataTransfer::none) f.request.data = {};
    const auto data = f.request.data;
    const std::uint32_t limit =
        sqe.opc == nvme::fabrics::opcode ? fabrics_in_capsule_limit : config_.in_capsule_limit;
    f.in_capsule = f.request.direction == nvme::DataTransfer::host_to_controller && !data.empty() &&
                   data.size() <= limit;
    nvme::SglDescriptor sgl{};
    sgl.length = static_cast<std::uint32_t>(data.size());
    sgl.sgl_identifier = f.in_capsule ? nvme::fabrics::sgl_id::data_block_offset
                                      : nvme::fabrics::sgl_id::transport_data_block;
    nvme::set_dptr_sgl(sqe, sgl);
    auto pdu = encode_capsule_cmd(
        sqe, f.in_capsule ? std::span<const std::byte>(data) : std::span<const std::byte>{},
        send_settings());
    if (!pdu) return fail(std::errc::invalid_argument);
    largest_transfer_ = std::max(largest_transfer_, static_cast<std::uint32_t>(data.size()));
    if (parser_.stage() == PduParser::Stage::common_header &&
        parser_.bytes_needed() == sizeof(CommonHeader))
        parser_.reconfigure(parser_config()); // between PDUs: the new bound applies now
    const bool in_capsule = f.in_capsule;
    f.unsent_pdus = in_capsule ? 1u : 0u;
    f.request.sqe = sqe;
    inflight_.emplace(cid, std::move(f));
    enqueue(std::move(*pdu), cid, in_capsule);
    flush();
    return {};
}

std::expected<nvme::CompletionQueueEntry, std::error_code>
TcpQueue::execute(const nvme::SubmissionQueueEntry& sqe, nvme::DataTransfer direction,
                  std::span<std::byte> data, Clock::time_point deadline)
{
    std::optional<nvme::CompletionQueueEntry> result;
    auto submitted = submit_internal(
        sqe, direction, data, [&result](const nvme::CompletionQueueEntry& c) { result = c; });
    if (!submitted) return std::unexpected(submitted.error());
    for (;;) {
        pollfd wait{};
        {
            // `result` is written under the lock, by pump() here or by a
            // drop on another thread; the wait below runs without it.
            std::lock_guard lock(mutex_);
            pump();
            if (result) {
                // A drop completes it with connection_lost_status: report why instead.
                if (state_ == State::failed &&
                    nvme::status_of(*result).same_code(connection_lost_status))
                    return std::unexpected(failure_);
                return *result;
            }
            if (state_ == State::failed) return std::unexpected(failure_); // (drop() answers first)
            wait = socket_poll();
        }
        const int n = ::poll(&wait, 1, poll_timeout_ms(deadline));
        if (n < 0 && errno != EINTR) {
            drop(errno_code(errno));
            return std::unexpected(failure_);
        }
        if (n == 0 && Clock::now() >= deadline) {
            log().warn("{}: command opc {:#04x} timed out", config_.name, sqe.opc);
            drop(std::make_error_code(std::errc::timed_out));
            return fail(std::errc::timed_out);
        }
    }
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

void TcpQueue::enqueue(OutgoingPdu&& pdu, std::uint16_t cid, bool references_data)
{
    tx_.push_back(Outgoing{std::move(pdu), cid, references_data});
}

void TcpQueue::flush()
{
    while (!tx_.empty() && socket_.valid()) {
        std::array<iovec, max_iov> iov{};
        std::size_t n = 0;
        std::size_t skip = tx_front_sent_;
        for (const Outgoing& o : tx_) {
            for (auto part : {o.pdu.head(), o.pdu.data(), o.pdu.trailer()}) {
                if (skip >= part.size()) {
                    skip -= part.size();
                    continue;
                }
                if (n == iov.size()) break;
                iov[n++] = {const_cast<std::byte*>(part.data()) + skip, part.size() - skip};
                skip = 0;
            }
            if (n == iov.size()) break;
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = n;
        const ssize_t w = ::sendmsg(socket_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            log().warn("{}: send: {}", config_.name, std::strerror(errno));
            drop(errno_code(errno));
            return;
        }
        auto written = static_cast<std::size_t>(w);
        while (written > 0 && !tx_.empty()) {
            const std::size_t left = tx_.front().pdu.plen() - tx_front_sent_;
            if (written < left) {
                tx_front_sent_ += written;
                break;
            }
            written -= left;
            tx_front_sent_ = 0;
            const Outgoing done = std::move(tx_.front());
            tx_.pop_front();
            if (!done.references_data) continue;
            auto it = inflight_.find(done.cid);
            if (it == inflight_.end() || it->second.unsent_pdus == 0) continue;
            if (--it->second.unsent_pdus == 0 && it->second.response_held)
                complete(done.cid, it->second.response); // the data is out: buffers may go
        }
    }
    update_epoll();
}

pollfd TcpQueue::socket_poll() const
{
    // The socket itself, not completion_fd(): its kick eventfd may stay
    // readable for the core's completions and would turn this into a spin.
    // A drop shuts it down (the poll returns) and keeps the number open.
    const int fd = socket_.valid() ? socket_.get() : retired_socket_.get();
    return pollfd{fd, static_cast<short>(POLLIN | (tx_.empty() ? 0 : POLLOUT)), 0};
}

void TcpQueue::update_epoll()
{
    const bool want = !tx_.empty() && socket_.valid();
    if (want == want_write_ || !socket_.valid()) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.fd = socket_.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, socket_.get(), &ev) == 0) want_write_ = want;
}

// ---------------------------------------------------------------------------
// Receiving
// ---------------------------------------------------------------------------

void TcpQueue::pump()
{
    std::lock_guard lock(mutex_);
    if (state_ == State::failed) return;
    flush();
    if (state_ != State::failed) receive();
    if (state_ != State::failed) flush();
}

ParserConfig TcpQueue::parser_config() const noexcept
{
    ParserConfig pc;
    pc.accepts = Direction::controller_to_host;
    if (state_ == State::ready) pc.digests = negotiated_.digests;
    pc.rx_pda = ic_req_.hpda;
    // Header, PAD (PDO <= 255) and digests on top of the largest transfer
    // asked for: a PDU longer than that is refused before anything is allocated.
    pc.max_plen = std::max<std::uint32_t>(largest_transfer_, fabrics_in_capsule_limit) + 512;
    pc.pause_before_data = true; // C2HData goes straight to the command's buffer
    return pc;
}

void TcpQueue::receive()
{
    // A recv() that did not fill the buffer took all the socket had: the next
    // one would mostly find nothing (EAGAIN, a wasted syscall per reap). What
    // arrives later keeps the (level-triggered) socket readable.
    bool drained = false;
    for (int calls = 0; state_ != State::failed;) {
        if (rx_begin_ == rx_end_) {
            if (drained) return;
            if (calls++ == rx_budget) return; // more next time: the fd stays readable
            rx_begin_ = rx_end_ = 0;
            // The rest of a C2HData PDU's data goes straight to the command's
            // buffer: never more than that, the next PDU's bytes are not ours.
            const std::span<std::byte> direct = parser_.data_destination_space();
            const std::span<std::byte> into = direct.empty() ? std::span(rx_buffer_) : direct;
            const ssize_t r = ::recv(socket_.get(), into.data(), into.size(), MSG_DONTWAIT);
            if (r == 0) {
                log().warn("{}: connection closed by the controller", config_.name);
                drop(std::make_error_code(std::errc::connection_reset));
                return;
            }
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                log().warn("{}: recv: {}", config_.name, std::strerror(errno));
                drop(errno_code(errno));
                return;
            }
            const auto got = static_cast<std::size_t>(r);
            drained = got < into.size();
            if (direct.empty()) {
                rx_end_ = got;
            } else {
                // recv() wrote at most direct.size(): the parser takes it all.
                [[maybe_unused]] const bool taken = parser_.data_destination_filled(got);
                if (parser_.complete() && !finish_pdu()) return;
                continue;
            }
        }
        while (rx_begin_ < rx_end_ && state_ != State::failed) {
            const bool in_data = parser_.stage() == PduParser::Stage::data;
            auto fed = parser_.feed(
                std::span<const std::byte>(rx_buffer_.data() + rx_begin_, rx_end_ - rx_begin_));
            if (!fed) {
                protocol_error(to_string(fed.error()), parser_.term_req());
                return;
            }
            rx_begin_ += *fed;
            if (!in_data && parser_.stage() == PduParser::Stage::data) {
                on_data_header(); // the parser paused: nothing of the data taken yet
                continue;
            }
            if (parser_.complete() && !finish_pdu()) return;
        }
    }
}

bool TcpQueue::finish_pdu()
{
    rx_data_cid_.reset(); // the data is all in: the destination is no longer written
    handle_pdu();
    if (state_ == State::failed) return false;
    parser_.next();
    parser_.reconfigure(parser_config());
    return true;
}

void TcpQueue::on_data_header()
{
    // Other PDUs with data (C2HTermReq; C2HData before the ICResp, refused
    // once whole) keep it in the parser.
    if (parser_.type() != PduType::c2h_data || state_ != State::ready) return;
    auto h = parser_.header<C2HDataHeader>();
    if (!h) return protocol_error("C2HData expected");
    // DATAL == the PDU's data length: validated by the parser.
    Inflight* f = c2h_target(*h, h->datal);
    if (f == nullptr) return;
    if (!parser_.set_data_destination(f->request.data.subspan(h->datao, h->datal)))
        return protocol_error("C2HData length differs from its header");
    // The buffer stays valid while the cid is in inflight_ (a timed-out
    // command's buffers wait in the core's tombstone until we complete
    // it); complete() and drop() see to the rest.
    rx_data_cid_ = h->cccid;
}

void TcpQueue::handle_pdu()
{
    const PduType type = parser_.type();
    if (type == PduType::c2h_term_req) {
        on_term_req();
        return;
    }
    if (state_ == State::awaiting_ic_resp) {
        if (type != PduType::ic_resp) {
            protocol_error("PDU before ICResp",
                           TermReqFields{FatalErrorStatus::pdu_sequence_error, 0});
            return;
        }
        on_ic_resp();
        return;
    }
    switch (type) {
    case PduType::capsule_resp:
        on_capsule_resp();
        return;
    case PduType::c2h_data:
        on_c2h_data();
        return;
    case PduType::r2t:
        on_r2t();
        return;
    default: // a second ICResp
        protocol_error("unexpected PDU", TermReqFields{FatalErrorStatus::pdu_sequence_error, 0});
        return;
    }
}

void TcpQueue::on_ic_resp()
{
    const auto resp = parser_.header<ICResp>();
    if (!resp) return protocol_error("ICResp expected");
    auto accepted = accept_ic_resp(*resp, ic_req_);
    if (!accepted)
        return protocol_error(to_string(accepted.error()), term_req_for(accepted.error()));
    negotiated_ = *accepted;
    state_ = State::ready;
    log().debug("{}: connected: hdgst {} ddgst {} cpda {} maxh2cdata {}", config_.name,
                negotiated_.digests.header, negotiated_.digests.data, negotiated_.cpda,
                negotiated_.maxh2cdata);
}

void TcpQueue::on_term_req()
{
    const auto bytes = parser_.header_bytes();
    TermReqHeader h{};
    std::memcpy(&h, bytes.data(), std::min(bytes.size(), sizeof h));
    log().error("{}: controller terminated the connection: C2HTermReq FES {:#x} FEI {:#x}",
                config_.name, h.fes, h.fei.get());
    drop(std::make_error_code(std::errc::connection_aborted));
}

void TcpQueue::on_capsule_resp()
{
    auto h = parser_.header<CapsuleRespHeader>();
    if (!h) return protocol_error("CapsuleResp expected");
    nvme::CompletionQueueEntry cqe = h->cqe;
    auto it = inflight_.find(cqe.cid);
    if (it == inflight_.end())
        return protocol_error(
            "CapsuleResp for a cid not outstanding",
            TermReqFields{FatalErrorStatus::invalid_pdu_header_field, at_cqe_cid});
    Inflight& f = it->second;
    if (f.digest_error && nvme::status_of(cqe).is_success())
        nvme::set_status(cqe, data_digest_status, nvme::phase(cqe));
    if (f.unsent_pdus > 0) { // the capsule or H2CData still reference the buffer
        f.response_held = true;
        f.response = cqe;
        return;
    }
    complete(cqe.cid, cqe);
}

TcpQueue::Inflight* TcpQueue::c2h_target(const C2HDataHeader& h, std::uint64_t length)
{
    auto it = inflight_.find(h.cccid);
    if (it == inflight_.end()) {
        protocol_error("C2HData for a cid not outstanding", bad_field(at_cccid));
        return nullptr;
    }
    Inflight& f = it->second;
    if (f.request.direction != nvme::DataTransfer::controller_to_host) {
        protocol_error("C2HData for a command without controller-to-host data",
                       bad_field(at_cccid));
        return nullptr;
    }
    if (h.datao != f.c2h_received || std::uint64_t{h.datao} + length > f.request.data.size()) {
        protocol_error("C2HData outside the command's data or out of order",
                       TermReqFields{FatalErrorStatus::data_transfer_out_of_range, 0});
        return nullptr;
    }
    return &f;
}

void TcpQueue::on_c2h_data()
{
    auto h = parser_.header<C2HDataHeader>();
    if (!h) return protocol_error("C2HData expected");
    const auto data = parser_.data();
    Inflight* target = c2h_target(*h, data.size());
    if (target == nullptr) return;
    Inflight& f = *target;
    const std::uint64_t end = std::uint64_t{h->datao} + data.size();
    // on_data_header() made the command's buffer the parser's destination:
    // the data is in place already.
    if (data.data() != f.request.data.data() + h->datao)
        return protocol_error("C2HData not received into the command's buffer");
    f.c2h_received = static_cast<std::uint32_t>(end);
    if (parser_.data_digest_error()) {
        log().warn("{}: cid {}: C2HData data digest mismatch", config_.name, h->cccid);
        f.digest_error = true;
    }
    if ((h->ch.flags & pdu_flags::success) == 0) return;
    // SUCCESS: no CapsuleResp follows; the completion is ours to make (TCP 1.0, 3.3.2.1).
    if (f.c2h_received != f.request.data.size())
        return protocol_error("C2HData SUCCESS before all data",
                              TermReqFields{FatalErrorStatus::pdu_sequence_error, 0});
    const nvme::Status status = f.digest_error ? data_digest_status : nvme::Status::success();
    complete(h->cccid, synthesized(config_.qid, h->cccid, status));
}

void TcpQueue::on_r2t()
{
    auto h = parser_.header<R2THeader>();
    if (!h) return protocol_error("R2T expected");
    auto it = inflight_.find(h->cccid);
    const auto out_of_range = TermReqFields{FatalErrorStatus::data_transfer_out_of_range, 0};
    if (it == inflight_.end())
        return protocol_error("R2T for a cid not outstanding",
                              TermReqFields{FatalErrorStatus::invalid_pdu_header_field, at_cccid});
    Inflight& f = it->second;
    if (f.request.direction != nvme::DataTransfer::host_to_controller || f.in_capsule)
        return protocol_error("R2T for a command with no data to request",
                              TermReqFields{FatalErrorStatus::invalid_pdu_header_field, at_cccid});
    const std::uint64_t end = std::uint64_t{h->r2to} + h->r2tl;
    // MAXR2T 0: one R2T at a time, so each starts where the last ended.
    if (h->r2tl == 0 || h->r2to != f.h2c_requested || end > f.request.data.size())
        return protocol_error("R2T outside the command's data or out of order", out_of_range);
    const std::uint32_t chunk = std::max<std::uint32_t>(negotiated_.maxh2cdata, min_maxh2cdata);
    for (std::uint64_t off = h->r2to; off < end;) {
        const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(chunk, end - off));
        H2CDataFields fields;
        fields.cccid = h->cccid;
        fields.ttag = h->ttag;
        fields.datao = static_cast<std::uint32_t>(off);
        fields.last_pdu = off + n == end;
        auto pdu = encode_h2c_data(fields, f.request.data.subspan(off, n), send_settings());
        if (!pdu) return protocol_error("cannot encode H2CData");
        ++f.unsent_pdus;
        enqueue(std::move(*pdu), h->cccid, true);
        off += n;
    }
    f.h2c_requested = static_cast<std::uint32_t>(end);
    flush();
}

// ---------------------------------------------------------------------------
// Completion and failure
// ---------------------------------------------------------------------------

void TcpQueue::Inflight::zero_unreceived() noexcept
{
    if (request.direction != nvme::DataTransfer::controller_to_host) return;
    if (c2h_received < request.data.size())
        std::ranges::fill(request.data.subspan(c2h_received), std::byte{0});
}

void TcpQueue::complete(std::uint16_t cid, nvme::CompletionQueueEntry cqe)
{
    auto it = inflight_.find(cid);
    if (it == inflight_.end()) return;
    if (rx_data_cid_ == cid) {
        // Its buffer may go once completed, but a C2HData PDU is still being
        // received into it. No PDU can cause this (the stream is in order,
        // a read's response is never held): never let the parser write on.
        log().error("{}: cid {} completed while its data arrives", config_.name, cid);
        drop(std::make_error_code(std::errc::protocol_error));
        return;
    }
    it->second.zero_unreceived();
    if (it->second.is_internal) {
        InternalDone done = std::move(it->second.internal);
        inflight_.erase(it);
        if (done) done(cqe);
        return;
    }
    inflight_.erase(it);
    ready_.push_back(cqe);
    if (!in_reap_) kick();
}

void TcpQueue::kick()
{
    if (kicked_ || !kick_.valid()) return;
    const std::uint64_t one = 1;
    if (::write(kick_.get(), &one, sizeof one) == sizeof one) kicked_ = true;
}

void TcpQueue::protocol_error(std::string_view what, std::optional<TermReqFields> term)
{
    log().error("{}: protocol error: {}; dropping the connection", config_.name, what);
    // An H2CTermReq only between PDUs of ours: never inside a partly written one.
    if (term && socket_.valid() && tx_front_sent_ == 0) {
        const auto bytes =
            encode_h2c_term_req(term->fes, term->fei, parser_.offending_header()).to_bytes();
        [[maybe_unused]] const auto w =
            ::send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    drop(std::make_error_code(std::errc::protocol_error));
}

void TcpQueue::drop(std::error_code reason)
{
    std::lock_guard lock(mutex_);
    if (state_ == State::failed) return;
    state_ = State::failed;
    failure_ = reason;
    if (reason == std::errc::operation_canceled)
        log().debug("{}: queue closed", config_.name);
    else
        log().warn("{}: queue down: {}", config_.name, reason.message());
    if (socket_.valid()) {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, socket_.get(), nullptr);
        ::shutdown(socket_.get(), SHUT_RDWR); // wakes a thread polling it
        retired_socket_ = std::move(socket_);
    }
    // Nothing references the commands' buffers after this: neither a PDU
    // to send nor the parser (it may be receiving C2HData into one).
    tx_.clear();
    tx_front_sent_ = 0;
    want_write_ = false;
    parser_ = PduParser(parser_.config());
    rx_data_cid_.reset();
    auto all = std::exchange(inflight_, {});
    for (auto& [cid, f] : all) {
        f.zero_unreceived();
        const auto cqe = synthesized(config_.qid, cid, connection_lost_status);
        if (f.is_internal) {
            if (f.internal) f.internal(cqe);
        } else {
            ready_.push_back(cqe);
        }
    }
    kick();
    if (auto notify = std::exchange(on_failure_, nullptr)) notify(reason);
}

std::size_t TcpQueue::reap(std::span<nvme::CompletionQueueEntry> out)
{
    std::lock_guard lock(mutex_);
    in_reap_ = true;
    pump();
    in_reap_ = false;
    const std::size_t n = std::min(out.size(), ready_.size());
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = ready_.front();
        ready_.pop_front();
    }
    user_outstanding_ =
        static_cast<std::uint16_t>(user_outstanding_ - std::min<std::size_t>(n, user_outstanding_));
    // completion_fd() stays readable exactly while completions wait: a core
    // that reaps only signalled queues comes back for what did not fit.
    if (!ready_.empty()) {
        kick();
    } else if (kicked_) {
        std::uint64_t value = 0;
        [[maybe_unused]] const auto r = ::read(kick_.get(), &value, sizeof value);
        kicked_ = false;
    }
    return n;
}

} // namespace nvmecuse::transport::tcp
