// Fuzz target: the NVMe/TCP host queue (transport/tcp/queue.cpp) against a
// hostile target, over a socketpair. The input is a script: the ICResp (or
// raw bytes in its place), then steps that submit commands (the core's and
// the transport's own), send the target's PDUs (C2HData, R2T, CapsuleResp,
// C2HTermReq, each with fields of the input's choosing: any cid, offset,
// length, flags, digests corrupted or not; or raw bytes), reap, close the
// target's side, or drop the queue. The target's PDUs are built by the
// encoder, so that most of them pass the parser and reach the queue's
// state machine; a raw or corrupted step makes the rest of the stream any bytes.
//
// Invariants (FUZZ_CHECK), besides ASan on every buffer (each command's
// buffer is an exact-size heap allocation, freed the moment its completion
// is handed out, so a later write or send from it is a use-after-free):
// - every command the queue accepted completes exactly once, by reap() for
//   the core's and by its callback for the transport's own, and no other
//   completion appears (an internal cid never reaches reap());
// - a completed controller-to-host buffer holds, byte for byte, either 0
//   (not received) or a byte the target sent for that cid at that offset,
//   never the poison it was filled with (TransportInfo::fills_host_buffers);
// - everything the host writes (also while the target does not read and the
//   host's sends back up) parses as host-to-controller PDUs: the ICReq,
//   then with the negotiated digests and CPDA: CapsuleCmds of submitted cids
//   whose in-capsule data is the command's buffer, H2CData within
//   MAXH2CDATA, inside a range an R2T the target sent asked for and
//   carrying the buffer's bytes, and H2CTermReq.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "nvmecuse/transport/tcp/pdu_encode.hpp"
#include "nvmecuse/transport/tcp/pdu_parser.hpp"

#include "tests/fuzz/fuzz_check.hpp"
#include "transport/tcp/log.hpp"
#include "transport/tcp/queue.hpp"

namespace {

using namespace nvmecuse;
using namespace nvmecuse::transport::tcp;
using nvmecuse::fuzz::InputReader;

constexpr std::size_t max_steps = 96;
constexpr std::uint32_t max_buffer = 48 * 1024;
constexpr std::byte poison{0xa5};
constexpr std::uint16_t first_internal_cid = 0xf000;

/// What the target sent at each offset of a cid's buffer: -1 nothing, a
/// byte, or -2 when it sent different bytes there (either may have landed).
using SentBytes = std::vector<std::int16_t>;

struct Command {
    nvme::DataTransfer direction = nvme::DataTransfer::none;
    std::unique_ptr<std::byte[]> buffer; ///< exact size; freed on completion
    std::uint32_t size = 0;
    bool internal = false;
    bool completed = false;
    /// What a host-to-controller buffer holds: the host's PDUs are checked
    /// against it, also after the buffer is gone.
    std::vector<std::byte> written;
    [[nodiscard]] std::span<std::byte> data() const { return {buffer.get(), size}; }
};

class Harness {
public:
    explicit Harness(InputReader& in) : in_(in) {}

    void run();

private:
    bool open_queue();
    void step();
    void submit(bool internal);
    void send_c2h_data();
    void send_r2t();
    void send_capsule_resp();
    void send_term_req();
    void send_raw();
    void reap(std::size_t room);
    void finish();

    void send_pdu(const OutgoingPdu& pdu);
    void send_bytes(std::vector<std::byte> bytes);
    void drain_host_output();
    void check_host_pdu();
    void completed(std::uint16_t cid, std::uint64_t key);
    [[nodiscard]] std::uint16_t pick_cid();
    /// The command a cid names (an internal cid once its CapsuleCmd was seen).
    [[nodiscard]] Command* command_of(std::uint16_t cid);
    [[nodiscard]] SendSettings target_settings() const { return {queue_->negotiated().digests, 0}; }

    InputReader& in_;
    std::unique_ptr<TcpQueue> queue_;
    int target_fd_ = -1;
    bool target_closed_ = false;
    /// Commands by key: a user cid, or first_internal_cid + n for the n-th internal one.
    std::map<std::uint64_t, Command> commands_;
    std::map<std::uint16_t, std::uint64_t> key_of_cid_; ///< from the host's CapsuleCmds
    std::vector<std::uint16_t> host_cids_;              ///< cids the host sent, in order
    std::map<std::uint16_t, SentBytes> sent_;
    std::map<std::uint16_t, std::uint64_t> next_datao_, next_r2to_;
    /// Ranges the target asked for with R2T, by cid: [begin, end) pairs. By
    /// cid, not by command: an R2T sent before the host submitted that cid
    /// is read by the queue after the submission, and asks for its data.
    std::map<std::uint16_t, std::vector<std::pair<std::uint64_t, std::uint64_t>>> requested_;
    bool stream_exact_ = true; ///< false once raw or corrupted bytes were sent
    bool corrupt_next_ = false;
    std::uint16_t next_user_cid_ = 0;
    std::uint64_t internal_submitted_ = 0;
    std::vector<std::uint64_t> internal_order_; ///< keys of internal commands by submission
    std::size_t internal_seen_ = 0;             ///< internal CapsuleCmds the host sent so far
    PduParser host_parser_{[] {
        ParserConfig pc;
        pc.accepts = Direction::host_to_controller;
        pc.max_plen = 1u << 20;
        return pc;
    }()};
    bool host_parser_digests_set_ = false;
    /// The target stops reading: the host's sends back up (partial PDUs).
    bool target_not_reading_ = false;
    std::vector<std::byte> host_bytes_;
};

void Harness::run()
{
    if (!open_queue()) return;
    for (std::size_t i = 0; i < max_steps && in_.remaining() > 0; ++i)
        step();
    finish();
}

bool Harness::open_queue()
{
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return false;
    target_fd_ = fds[1];
    QueueConfig config;
    config.qid = in_.take<std::uint8_t>() & 1u;
    config.depth = static_cast<std::uint16_t>(1 + in_.take<std::uint8_t>() % 32);
    const auto asked = in_.take<std::uint8_t>();
    config.digests = {(asked & 1u) != 0, (asked & 2u) != 0};
    config.in_capsule_limit = in_.take<std::uint16_t>();
    config.name = "fuzz";
    // A small send buffer: the host's PDUs go out in pieces.
    if (const auto sndbuf = in_.take<std::uint8_t>(); sndbuf != 0) {
        const int bytes = 1024 * sndbuf;
        ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }

    // The ICResp is in the socket before open() looks: it returns at once.
    const auto how = in_.take<std::uint8_t>();
    if (how < 0xf0) {
        ICRespParams resp;
        resp.cpda = static_cast<std::uint8_t>(in_.take<std::uint8_t>() % (max_pda + 1));
        resp.digests = {(asked & how & 1u) != 0, (asked & how & 2u) != 0};
        resp.maxh2cdata = min_maxh2cdata * (1u + in_.take<std::uint8_t>() % 16);
        auto pdu = encode_ic_resp(resp);
        FUZZ_CHECK(pdu.has_value());
        send_bytes(pdu->to_bytes());
    } else {
        send_raw();
    }
    auto q = TcpQueue::open(transport::UniqueFd(fds[0]), config, Clock::now());
    drain_host_output();
    if (!q) {
        ::close(target_fd_);
        return false;
    }
    queue_ = std::move(*q);
    FUZZ_CHECK(queue_->ready());
    // Only the ICReq came before: from here on the host sends as negotiated.
    FUZZ_CHECK(host_parser_.stage() == PduParser::Stage::common_header);
    // Its PDO must honour the CPDA the target asked for.
    ParserConfig pc = host_parser_.config();
    pc.digests = queue_->negotiated().digests;
    pc.rx_pda = queue_->negotiated().cpda;
    host_parser_.reconfigure(pc);
    host_parser_digests_set_ = true;
    return true;
}

void Harness::step()
{
    switch (in_.take<std::uint8_t>() % 12) {
    case 0:
    case 1:
        submit(false);
        break;
    case 2:
        submit(true);
        break;
    case 3:
    case 4:
        send_c2h_data();
        break;
    case 5:
        send_r2t();
        break;
    case 6:
        send_capsule_resp();
        break;
    case 7:
        send_term_req();
        break;
    case 8:
        if (in_.take<std::uint8_t>() < 0x20)
            send_raw();
        else
            corrupt_next_ = true;
        break;
    case 9:
        reap(in_.take<std::uint8_t>() % 9);
        break;
    case 10:
        target_not_reading_ = !target_not_reading_;
        drain_host_output();
        break;
    default:
        if (in_.take<std::uint8_t>() & 1u) {
            ::shutdown(target_fd_, SHUT_WR);
            target_closed_ = true;
        } else {
            queue_->drop(std::make_error_code(std::errc::operation_canceled));
        }
        break;
    }
}

void Harness::submit(bool internal)
{
    const auto kind = in_.take<std::uint8_t>();
    Command c;
    c.internal = internal;
    // The transport's own commands never carry host-to-controller data.
    using enum nvme::DataTransfer;
    constexpr nvme::DataTransfer user[] = {none, host_to_controller, controller_to_host};
    constexpr nvme::DataTransfer own[] = {none, controller_to_host};
    c.direction = internal ? own[kind % 2] : user[kind % 3];
    c.size =
        c.direction == nvme::DataTransfer::none ? 0 : in_.take<std::uint16_t>() % (max_buffer + 1);
    c.buffer.reset(new std::byte[c.size]);
    std::memset(c.buffer.get(), std::to_integer<int>(poison), c.size);
    if (c.direction == nvme::DataTransfer::host_to_controller) {
        for (std::uint32_t i = 0; i < c.size; ++i)
            c.buffer[i] = static_cast<std::byte>(i * 7 + (i >> 8));
        c.written.assign(c.buffer.get(), c.buffer.get() + c.size);
    }
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = in_.take<std::uint8_t>();
    sqe.nsid = 1;
    if (internal) {
        const std::uint64_t key = first_internal_cid + internal_submitted_;
        auto r = queue_->submit_internal(
            sqe, c.direction, c.data(),
            [this, key](const nvme::CompletionQueueEntry& cqe) { completed(cqe.cid, key); });
        if (!r) return;
        ++internal_submitted_;
        internal_order_.push_back(key);
        commands_.emplace(key, std::move(c));
    } else {
        sqe.cid = next_user_cid_;
        auto& slot = commands_[sqe.cid];
        slot = std::move(c);
        transport::Request request{sqe, slot.direction, slot.data(), {}};
        if (!queue_->submit(request)) {
            commands_.erase(sqe.cid);
            return;
        }
        ++next_user_cid_;
    }
    drain_host_output();
}

Command* Harness::command_of(std::uint16_t cid)
{
    std::uint64_t key = cid;
    if (cid >= first_internal_cid) {
        auto k = key_of_cid_.find(cid);
        if (k == key_of_cid_.end()) return nullptr;
        key = k->second;
    }
    auto it = commands_.find(key);
    return it == commands_.end() ? nullptr : &it->second;
}

std::uint16_t Harness::pick_cid()
{
    const auto b = in_.take<std::uint8_t>();
    if (b < 0xe0 && !host_cids_.empty())
        return host_cids_[host_cids_.size() - 1 - b % host_cids_.size()];
    // A recent cid of the core's, seen on the wire or not.
    if (b < 0xf0) return static_cast<std::uint16_t>(next_user_cid_ - 1 - (b & 0x0fu));
    return in_.take<std::uint16_t>();
}

void Harness::send_c2h_data()
{
    const std::uint16_t cid = pick_cid();
    const auto how = in_.take<std::uint8_t>();
    // DATAO is 32 bits on the wire: what the queue sees is what is recorded.
    std::uint64_t datao = static_cast<std::uint32_t>(next_datao_[cid]);
    if (how & 1u) datao = in_.take<std::uint32_t>();
    std::uint32_t length = 1 + in_.take<std::uint16_t>() % max_buffer;
    if (const Command* c = command_of(cid); (how & 2u) && c != nullptr && c->size > datao)
        length = static_cast<std::uint32_t>(c->size - datao);
    // A pattern, not input bytes: a long PDU costs the input one byte.
    std::vector<std::byte> data(length);
    const auto fill = in_.take<std::uint8_t>();
    for (std::uint32_t i = 0; i < length; ++i)
        data[i] = static_cast<std::byte>(fill + i * 13 + (i >> 8));
    C2HDataFields fields;
    fields.cccid = cid;
    fields.datao = static_cast<std::uint32_t>(datao);
    fields.last_pdu = (how & 4u) != 0 || (how & 8u) != 0;
    fields.success = (how & 8u) != 0;
    auto pdu = encode_c2h_data(fields, data, target_settings());
    FUZZ_CHECK(pdu.has_value());
    // What lies past every buffer cannot land anywhere: not recorded.
    SentBytes& sent = sent_[cid];
    const auto recorded = std::min<std::uint64_t>(datao + length, max_buffer);
    if (sent.size() < recorded) sent.resize(recorded, -1);
    for (std::uint64_t at = datao; at < recorded; ++at) {
        auto& s = sent[at];
        const auto v = static_cast<std::int16_t>(data[at - datao]);
        s = s == -1 || s == v ? v : std::int16_t{-2};
    }
    next_datao_[cid] = datao + length;
    send_pdu(*pdu);
}

void Harness::send_r2t()
{
    R2TFields fields;
    fields.cccid = pick_cid();
    const auto how = in_.take<std::uint8_t>();
    // R2TO is 32 bits on the wire: what the queue sees is what is recorded.
    fields.r2to = static_cast<std::uint32_t>(next_r2to_[fields.cccid]);
    if (how & 1u) fields.r2to = in_.take<std::uint32_t>();
    const std::uint64_t r2to = fields.r2to;
    fields.r2tl = how & 2u ? in_.take<std::uint32_t>() : in_.take<std::uint16_t>();
    fields.ttag = in_.take<std::uint16_t>();
    Command* c = command_of(fields.cccid);
    if (c != nullptr && (how & 4u) && c->size > r2to)
        fields.r2tl = static_cast<std::uint32_t>(c->size - r2to); // the rest of its data
    requested_[fields.cccid].emplace_back(r2to, r2to + fields.r2tl);
    next_r2to_[fields.cccid] = r2to + fields.r2tl;
    auto pdu = encode_r2t(fields, target_settings());
    FUZZ_CHECK(pdu.has_value());
    send_pdu(*pdu);
}

void Harness::send_capsule_resp()
{
    nvme::CompletionQueueEntry cqe{};
    cqe.cid = pick_cid();
    cqe.dw0 = in_.take<std::uint32_t>();
    cqe.sq_id = queue_->qid();
    const auto status = in_.take<std::uint8_t>();
    // Mostly success, else any status field.
    cqe.status = status < 0xc0 ? 0 : in_.take<std::uint16_t>();
    auto pdu = encode_capsule_resp(cqe, target_settings());
    FUZZ_CHECK(pdu.has_value());
    send_pdu(*pdu);
}

void Harness::send_term_req()
{
    const auto fes = static_cast<FatalErrorStatus>(in_.take<std::uint8_t>() % 8);
    const auto header = in_.take_bytes(in_.take<std::uint8_t>());
    send_pdu(encode_c2h_term_req(fes, in_.take<std::uint32_t>(), std::as_bytes(header)));
}

void Harness::send_raw()
{
    const auto bytes = in_.take_bytes(in_.take<std::uint8_t>());
    stream_exact_ = false;
    send_bytes({reinterpret_cast<const std::byte*>(bytes.data()),
                reinterpret_cast<const std::byte*>(bytes.data()) + bytes.size()});
}

void Harness::send_pdu(const OutgoingPdu& pdu)
{
    auto bytes = pdu.to_bytes();
    if (corrupt_next_ && !bytes.empty()) {
        corrupt_next_ = false;
        // Any byte: a header field, PAD, the data or a digest.
        const auto at = in_.take<std::uint32_t>() % bytes.size();
        bytes[at] ^= static_cast<std::byte>(1u | in_.take<std::uint8_t>());
        const bool in_data_digest = queue_->negotiated().digests.data && !pdu.trailer().empty() &&
                                    at >= bytes.size() - digest_length;
        if (!in_data_digest) stream_exact_ = false; // a DDGST error keeps the data where it was
    }
    send_bytes(std::move(bytes));
}

void Harness::send_bytes(std::vector<std::byte> bytes)
{
    std::size_t off = 0;
    // Bounded: the queue reads at least rx_budget recv()s a pump.
    for (int rounds = 0; off < bytes.size() && !target_closed_ && rounds < 1000; ++rounds) {
        const ssize_t w =
            ::send(target_fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += static_cast<std::size_t>(w);
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return; // the queue is gone
        if (!queue_ || queue_->state() == TcpQueue::State::failed) return;
        queue_->pump();
        drain_host_output();
    }
}

void Harness::drain_host_output()
{
    if (target_not_reading_) return;
    std::byte chunk[16384];
    for (;;) {
        const ssize_t r = ::recv(target_fd_, chunk, sizeof chunk, MSG_DONTWAIT);
        if (r <= 0) return;
        host_bytes_.insert(host_bytes_.end(), chunk, chunk + r);
        std::size_t at = 0;
        while (at < host_bytes_.size()) {
            auto fed = host_parser_.feed(std::span(host_bytes_).subspan(at));
            FUZZ_CHECK(fed.has_value()); // the host only writes valid PDUs
            at += *fed;
            if (!host_parser_.complete()) continue;
            check_host_pdu();
            host_parser_.next();
        }
        host_bytes_.clear();
    }
}

void Harness::check_host_pdu()
{
    switch (host_parser_.type()) {
    case PduType::ic_req:
        FUZZ_CHECK(!host_parser_digests_set_);
        return;
    case PduType::h2c_term_req:
        return;
    case PduType::capsule_cmd: {
        const auto h = host_parser_.header<CapsuleCmdHeader>();
        FUZZ_CHECK(h.has_value());
        const std::uint16_t cid = h->sqe.cid;
        std::uint64_t key = cid;
        if (cid >= first_internal_cid) {
            FUZZ_CHECK(internal_seen_ < internal_order_.size());
            key = internal_order_[internal_seen_++];
        }
        auto it = commands_.find(key);
        FUZZ_CHECK(it != commands_.end());
        FUZZ_CHECK(nvme::dptr_sgl(h->sqe).length == it->second.size);
        // (Its buffer may be gone by now: ASan checks what sendmsg() read.)
        const auto data = host_parser_.data();
        if (!data.empty()) {
            FUZZ_CHECK(it->second.direction == nvme::DataTransfer::host_to_controller);
            FUZZ_CHECK(std::ranges::equal(data, it->second.written));
        }
        key_of_cid_[cid] = key;
        host_cids_.push_back(cid);
        return;
    }
    case PduType::h2c_data: {
        const auto h = host_parser_.header<H2CDataHeader>();
        FUZZ_CHECK(h.has_value());
        FUZZ_CHECK(h->cccid < first_internal_cid); // the transport's own send no data
        const Command* command = command_of(h->cccid);
        FUZZ_CHECK(command != nullptr);
        const Command& c = *command;
        FUZZ_CHECK(h->datal <= queue_->negotiated().maxh2cdata);
        FUZZ_CHECK(c.direction == nvme::DataTransfer::host_to_controller);
        const std::uint64_t begin = h->datao, end = begin + h->datal;
        FUZZ_CHECK(end <= c.size);
        // Within what an R2T asked for, unless a corrupted PDU may have asked
        // for other bytes (the queue checks them against the command's size).
        FUZZ_CHECK(!stream_exact_ ||
                   std::ranges::any_of(requested_[h->cccid], [&](const auto& r) {
                       return r.first <= begin && end <= r.second;
                   }));
        FUZZ_CHECK(
            std::ranges::equal(host_parser_.data(), std::span(c.written).subspan(begin, h->datal)));
        return;
    }
    default:
        FUZZ_CHECK(false && "the host wrote a PDU type it never sends");
    }
}

void Harness::completed(std::uint16_t cid, std::uint64_t key)
{
    auto it = commands_.find(key);
    FUZZ_CHECK(it != commands_.end());
    Command& c = it->second;
    FUZZ_CHECK(!c.completed);
    c.completed = true;
    if (c.direction == nvme::DataTransfer::controller_to_host) {
        const SentBytes* sent = nullptr;
        if (auto s = sent_.find(cid); s != sent_.end()) sent = &s->second;
        for (std::uint32_t i = 0; i < c.size && stream_exact_; ++i) {
            const auto b = static_cast<std::int16_t>(c.buffer[i]);
            const std::int16_t s = sent != nullptr && i < sent->size() ? (*sent)[i] : -1;
            FUZZ_CHECK(b == 0 || s == -2 || b == s);
        }
    }
    c.buffer.reset(); // any later access by the queue is a use-after-free
}

void Harness::reap(std::size_t room)
{
    std::vector<nvme::CompletionQueueEntry> out(room);
    const std::size_t n = queue_->reap(out);
    FUZZ_CHECK(n <= room);
    // What the host sent before these completions, while their buffers live.
    drain_host_output();
    for (std::size_t i = 0; i < n; ++i) {
        FUZZ_CHECK(out[i].cid < first_internal_cid);
        completed(out[i].cid, out[i].cid);
    }
}

void Harness::finish()
{
    target_not_reading_ = false;
    queue_->drop(std::make_error_code(std::errc::operation_canceled));
    for (int i = 0; i < 4; ++i)
        reap(64);
    for (const auto& [key, c] : commands_)
        FUZZ_CHECK(c.completed); // every accepted command completed once
    queue_.reset();
    ::close(target_fd_);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const bool quiet = [] {
        nvmecuse::transport::tcp::log().set_level(spdlog::level::off);
        return true;
    }();
    (void)quiet;
    InputReader in(data, size);
    Harness(in).run();
    return 0;
}
