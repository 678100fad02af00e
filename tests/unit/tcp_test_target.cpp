// The in-test NVMe/TCP controller. See tcp_test_target.hpp. Test code:
// blocking sockets, one thread per connection, a mutex for shared state.
#include "tcp_test_target.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string_view>

#include "nvmecuse/spec/fabrics.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/tcp/pdu_encode.hpp"
#include "nvmecuse/transport/tcp/pdu_parser.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace tcp_test {

using namespace nvmecuse::transport::tcp;

namespace {

constexpr std::uint64_t target_cap()
{
    std::uint64_t cap = 0;
    cap = nvme::cap::Mqes::set(cap, 127);
    cap = nvme::cap::Cqr::set(cap, true);
    cap = nvme::cap::To::set(cap, 2); // 1 s
    cap = nvme::cap::Css::set(cap, nvme::cap::css_nvm);
    return cap;
}
constexpr std::uint32_t target_vs = 0x00010300;

bool send_all(int fd, std::span<const std::byte> bytes)
{
    while (!bytes.empty()) {
        const ssize_t w = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (w <= 0) return false;
        bytes = bytes.subspan(static_cast<std::size_t>(w));
    }
    return true;
}

} // namespace

/// One accepted connection: its parser, its queue id, its pending writes.
class Connection {
public:
    Connection(TestTarget& t, int fd) : t_(t), fd_(fd)
    {
        ParserConfig pc;
        pc.accepts = Direction::host_to_controller;
        pc.maxh2cdata = t.config_.maxh2cdata;
        parser_.reconfigure(pc);
    }

    void run()
    {
        std::vector<std::byte> buf(64 * 1024);
        while (alive_) {
            const ssize_t r = ::recv(fd_, buf.data(), buf.size(), 0);
            if (r <= 0) return;
            std::span<const std::byte> in(buf.data(), static_cast<std::size_t>(r));
            while (!in.empty() && alive_) {
                auto fed = parser_.feed(in);
                if (!fed) {
                    if (auto term = parser_.term_req())
                        (void)send(
                            encode_c2h_term_req(term->fes, term->fei, parser_.offending_header()));
                    return;
                }
                in = in.subspan(*fed);
                if (!parser_.complete()) continue;
                handle();
                parser_.next();
                if (ic_done_) {
                    ParserConfig pc = parser_.config();
                    pc.digests = digests_;
                    parser_.reconfigure(pc);
                }
            }
        }
    }

private:
    struct PendingWrite {
        std::uint64_t offset = 0; ///< namespace byte offset
        std::uint32_t length = 0;
        std::uint32_t received = 0;
        std::uint32_t requested_end = 0;
    };

    bool send(const OutgoingPdu& pdu)
    {
        const auto bytes = pdu.to_bytes();
        return send_raw(bytes);
    }
    bool send_raw(std::span<const std::byte> bytes)
    {
        if (!send_all(fd_, bytes)) {
            alive_ = false;
            return false;
        }
        return true;
    }
    [[nodiscard]] SendSettings settings() const { return {digests_, 0}; }

    void respond(std::uint16_t cid, nvme::Status status, std::uint32_t dw0 = 0,
                 std::uint32_t dw1 = 0)
    {
        nvme::CompletionQueueEntry c{};
        c.dw0 = dw0;
        c.dw1 = dw1;
        c.sq_id = qid_;
        c.cid = cid;
        nvme::set_status(c, status, false);
        auto pdu = encode_capsule_resp(c, settings());
        if (pdu) (void)send(*pdu);
    }

    void handle()
    {
        switch (parser_.type()) {
        case PduType::ic_req:
            return on_ic_req();
        case PduType::capsule_cmd:
            return on_capsule();
        case PduType::h2c_data:
            return on_h2c_data();
        case PduType::h2c_term_req: {
            const auto h = parser_.header_bytes();
            std::uint16_t fes = 0;
            std::memcpy(&fes, h.data() + 8, sizeof fes);
            t_.last_term_fes = fes;
            ++t_.term_reqs;
            alive_ = false;
            return;
        }
        default:
            alive_ = false;
        }
    }

    void on_ic_req()
    {
        auto req = parser_.header<ICReq>();
        const auto asked = digests_of(req->dgst);
        ICRespParams p;
        p.cpda = 0;
        p.digests = {asked.header && t_.config_.header_digest,
                     asked.data && t_.config_.data_digest};
        p.maxh2cdata = t_.config_.maxh2cdata;
        digests_ = p.digests;
        if (digests_.header) t_.header_digest_used = true;
        if (digests_.data) t_.data_digest_used = true;
        if (auto pdu = encode_ic_resp(p)) (void)send(*pdu);
        ic_done_ = true;
    }

    void start_authentication(const nvme::fabrics::ConnectData& d)
    {
        if (t_.config_.auth.host_key.empty()) return;
        auth_.emplace(t_.config_.auth, std::string(d.hostnqn.data()), std::string(d.subnqn.data()));
    }
    /// Connect's DW0: CNTLID 1, and AUTHREQ.ATR while authentication is due.
    [[nodiscard]] std::uint32_t connect_result() const
    {
        std::uint32_t dw0 = 1;
        if (auth_)
            dw0 = nvme::fabrics::connect_response::Authreq::set(dw0, nvme::fabrics::authreq_atr);
        return dw0;
    }
    [[nodiscard]] bool authenticated() const
    {
        return !auth_ || auth_->outcome() == AuthOutcome::succeeded;
    }

    void on_authentication(const nvme::SubmissionQueueEntry& sqe, nvme::FabricsCommandType type,
                           std::span<const std::byte> data)
    {
        if (!auth_) return respond(sqe.cid, nvme::GenericStatus::invalid_opcode);
        const auto before = auth_->outcome();
        if (type == nvme::FabricsCommandType::authentication_send) {
            std::vector<std::uint8_t> m(data.size());
            std::memcpy(m.data(), data.data(), data.size());
            const bool ok = auth_->on_send(m);
            count_outcome(before);
            return respond(sqe.cid,
                           ok ? nvme::Status{} : nvme::Status(nvme::GenericStatus::invalid_field));
        }
        const auto m = auth_->next_message();
        count_outcome(before);
        if (auth_->outcome() == AuthOutcome::failure1_sent &&
            t_.config_.auth.close_instead_of_failure1) {
            alive_ = false;
            return;
        }
        if (m.empty() || m.size() > sqe.cdw11)
            return respond(sqe.cid, nvme::GenericStatus::command_sequence_error);
        send_c2h(sqe.cid, std::as_bytes(std::span(m)));
    }
    void count_outcome(AuthOutcome before)
    {
        const auto now = auth_->outcome();
        if (now == before) return;
        if (now == AuthOutcome::succeeded) ++t_.authentications;
        if (now == AuthOutcome::failure1_sent) ++t_.auth_failures1;
        if (now == AuthOutcome::failure2_received) ++t_.auth_failures2;
    }

    void on_capsule()
    {
        const auto h = parser_.header<CapsuleCmdHeader>();
        const nvme::SubmissionQueueEntry& sqe = h->sqe;
        const auto data = parser_.data();
        if (sqe.opc == nvme::fabrics::opcode) return on_fabrics(sqe, data);
        if (!authenticated()) {
            ++t_.unauthenticated_commands;
            return respond(sqe.cid, nvme::FabricsStatus::authentication_required);
        }
        if (qid_ == 0) return on_admin(sqe, data);
        on_io(sqe, data);
    }

    void on_fabrics(const nvme::SubmissionQueueEntry& sqe, std::span<const std::byte> data)
    {
        using nvme::FabricsCommandType;
        const auto type = static_cast<FabricsCommandType>(nvme::cmd::fabrics::fctype(sqe));
        if (type == FabricsCommandType::connect) {
            const auto c = std::bit_cast<nvme::fabrics::ConnectCommand>(sqe);
            if (data.size() != sizeof(nvme::fabrics::ConnectData))
                return respond(sqe.cid, nvme::FabricsStatus::connect_invalid_parameters);
            nvme::fabrics::ConnectData d;
            std::memcpy(&d, data.data(), sizeof d);
            qid_ = c.qid;
            if (c.qid == 0) {
                if (t_.fault_.load() == Fault::reject_connect) {
                    t_.fault_ = Fault::none;
                    return respond(sqe.cid,
                                   nvme::Status(nvme::FabricsStatus::connect_invalid_host).with_dnr());
                }
                ++t_.admin_connects;
                discovery_ =
                    std::string_view(d.subnqn.data()) == nvmecuse::transport::discovery_nqn;
                start_authentication(d);
                t_.kato = c.kato;
                t_.admin_sqsize = c.sqsize;
                {
                    std::lock_guard lock(t_.mutex_);
                    t_.host_nqn_ = d.hostnqn.data();
                }
                return respond(sqe.cid, {}, connect_result()); // cntlid 1
            }
            if (d.cntlid != 1)
                return respond(sqe.cid, nvme::FabricsStatus::connect_invalid_parameters);
            ++t_.io_connects;
            start_authentication(d);
            t_.io_sqsize = c.sqsize;
            return respond(sqe.cid, {}, connect_result());
        }
        if (type == FabricsCommandType::authentication_send ||
            type == FabricsCommandType::authentication_receive)
            return on_authentication(sqe, type, data);
        if (!authenticated()) {
            ++t_.unauthenticated_commands;
            return respond(sqe.cid, nvme::FabricsStatus::authentication_required);
        }
        if (type == FabricsCommandType::property_get) {
            const auto c = std::bit_cast<nvme::fabrics::PropertyGetCommand>(sqe);
            std::uint64_t v = 0;
            std::lock_guard lock(t_.mutex_);
            switch (c.ofst) {
            case nvme::reg_offset::cap:
                v = target_cap();
                break;
            case nvme::reg_offset::vs:
                v = target_vs;
                break;
            case nvme::reg_offset::cc:
                v = t_.cc;
                break;
            case nvme::reg_offset::csts:
                v = t_.csts_;
                break;
            default:
                break;
            }
            return respond(sqe.cid, {}, static_cast<std::uint32_t>(v),
                           static_cast<std::uint32_t>(v >> 32));
        }
        if (type == FabricsCommandType::property_set) {
            const auto c = std::bit_cast<nvme::fabrics::PropertySetCommand>(sqe);
            if (t_.fault_.load() == Fault::ignore_property_set) {
                t_.fault_ = Fault::none;
                return;
            }
            if (c.ofst == nvme::reg_offset::cc) {
                std::lock_guard lock(t_.mutex_);
                const auto v = static_cast<std::uint32_t>(c.value);
                t_.cc = v;
                t_.csts_ = nvme::csts::Rdy::set(t_.csts_, nvme::cc::En::get(v));
                if (nvme::cc::Shn::get(v) != 0) {
                    t_.shutdown_seen = true;
                    t_.csts_ = nvme::csts::Shst::set(t_.csts_, 2);
                }
            }
            return respond(sqe.cid, {});
        }
        respond(sqe.cid, nvme::GenericStatus::invalid_opcode);
    }

    void send_c2h(std::uint16_t cid, std::span<const std::byte> bytes)
    {
        for (std::size_t off = 0; off < bytes.size();) {
            const std::size_t n = std::min<std::size_t>(t_.config_.c2h_chunk, bytes.size() - off);
            C2HDataFields f;
            f.cccid = cid;
            f.datao = static_cast<std::uint32_t>(off);
            f.last_pdu = off + n == bytes.size();
            f.success = f.last_pdu && t_.config_.c2h_success;
            auto pdu = encode_c2h_data(f, bytes.subspan(off, n), settings());
            if (!pdu || !send(*pdu)) return;
            off += n;
        }
        if (!t_.config_.c2h_success) respond(cid, {});
    }

    void on_admin(const nvme::SubmissionQueueEntry& sqe, std::span<const std::byte>)
    {
        using nvme::AdminOpcode;
        switch (static_cast<AdminOpcode>(sqe.opc)) {
        case AdminOpcode::identify:
            return identify(sqe);
        case AdminOpcode::set_features:
            if (nvme::cmd::features::Fid::get(sqe) ==
                static_cast<std::uint32_t>(nvme::FeatureId::number_of_queues))
                return respond(sqe.cid, {}, 0x00030003); // 4 and 4
            return respond(sqe.cid, {});
        case AdminOpcode::keep_alive:
            if (t_.fault_.load() == Fault::ignore_keep_alive) return;
            ++t_.keep_alives;
            return respond(sqe.cid, {});
        case AdminOpcode::async_event_request:
            return; // held until the connection goes
        case AdminOpcode::abort:
            return respond(sqe.cid, {}, 1);
        case AdminOpcode::get_log_page:
            return log_page(sqe);
        default:
            return respond(sqe.cid, nvme::GenericStatus::invalid_opcode);
        }
    }

    void identify(const nvme::SubmissionQueueEntry& sqe)
    {
        std::vector<std::byte> out(nvme::identify_data_size);
        const auto cns = static_cast<nvme::Cns>(nvme::cmd::identify::Cns::get(sqe));
        const std::uint64_t blocks = t_.config_.namespace_bytes >> t_.config_.lbads;
        if (cns == nvme::Cns::controller) {
            nvme::IdentifyController id{};
            id.vid = 0x1b36;
            nvme::set_padded(id.sn, "TCPTEST1");
            nvme::set_padded(id.mn, "nvmecuse tcp test target");
            nvme::set_padded(id.fr, "1.0");
            id.cntlid = 1;
            id.ver = target_vs;
            id.cntrltype = discovery_ ? 2 : 1; // a discovery controller: no namespaces
            id.aerl = 3;
            id.kas = 10;
            id.sqes = 0x66;
            id.cqes = 0x44;
            id.nn = discovery_ ? 0 : 1;
            id.ioccsz = (64 + t_.config_.in_capsule) / 16;
            id.iorcsz = 1;
            nvme::set_nul_padded(id.subnqn, discovery_ ? nvmecuse::transport::discovery_nqn
                                                       : "nqn.2026-11.io.nvmecuse:test");
            std::memcpy(out.data(), &id, sizeof id);
        } else if (cns == nvme::Cns::namespace_ && sqe.nsid == 1 && !discovery_) {
            nvme::IdentifyNamespace ns{};
            ns.nsze = ns.ncap = ns.nuse = blocks;
            ns.lbaf[0].lbads = t_.config_.lbads;
            std::memcpy(out.data(), &ns, sizeof ns);
        } else if (cns == nvme::Cns::active_namespace_list) {
            if (sqe.nsid < 1 && !discovery_) {
                const std::uint32_t one = 1;
                std::memcpy(out.data(), &one, sizeof one);
            }
        } else if (cns != nvme::Cns::namespace_) {
            return respond(sqe.cid, nvme::GenericStatus::invalid_field);
        }
        send_c2h(sqe.cid, out);
    }

    void log_page(const nvme::SubmissionQueueEntry& sqe)
    {
        namespace glp = nvme::cmd::get_log_page;
        const auto length = static_cast<std::size_t>(glp::num_bytes(sqe));
        const auto offset = static_cast<std::size_t>(glp::lpo(sqe));
        std::vector<std::byte> page;
        if (glp::Lid::get(sqe) == 0x70) {
            ++t_.log_page_reads;
            nvme::DiscoveryLogHeader h{};
            h.genctr = 7;
            h.numrec = t_.config_.discovery.size();
            page.resize(sizeof h + h.numrec * sizeof(nvme::DiscoveryLogEntry));
            std::memcpy(page.data(), &h, sizeof h);
            if (!t_.config_.discovery.empty())
                std::memcpy(page.data() + sizeof h, t_.config_.discovery.data(),
                            h.numrec * sizeof(nvme::DiscoveryLogEntry));
        }
        std::vector<std::byte> out(length);
        if (offset < page.size())
            std::memcpy(out.data(), page.data() + offset, std::min(length, page.size() - offset));
        send_c2h(sqe.cid, out);
    }

    /// The SGL1 length and whether it points into the capsule.
    static std::uint32_t sgl_length(const nvme::SubmissionQueueEntry& sqe)
    {
        return nvme::dptr_sgl(sqe).length;
    }

    void on_io(const nvme::SubmissionQueueEntry& sqe, std::span<const std::byte> data)
    {
        const auto opc = static_cast<nvme::NvmOpcode>(sqe.opc);
        const std::uint64_t slba = std::uint64_t{sqe.cdw10} | std::uint64_t{sqe.cdw11} << 32;
        const std::uint64_t bytes = std::uint64_t{nvme::cmd::rw::Nlb::get(sqe) + 1}
                                    << t_.config_.lbads;
        const std::uint64_t offset = slba << t_.config_.lbads;
        if (opc == nvme::NvmOpcode::flush) return respond(sqe.cid, {});
        if (opc != nvme::NvmOpcode::read && opc != nvme::NvmOpcode::write)
            return respond(sqe.cid, nvme::GenericStatus::invalid_opcode);
        if (offset + bytes > t_.config_.namespace_bytes || sgl_length(sqe) != bytes)
            return respond(sqe.cid, nvme::GenericStatus::lba_out_of_range);
        const Fault fault = t_.fault_.load();
        if (fault == Fault::capsule_resp_unknown_cid) {
            t_.fault_ = Fault::none;
            return respond(static_cast<std::uint16_t>(sqe.cid ^ 0x0100), {});
        }
        if (opc == nvme::NvmOpcode::read)
            return read(sqe, offset, static_cast<std::uint32_t>(bytes));
        write(sqe, offset, static_cast<std::uint32_t>(bytes), data);
    }

    void read(const nvme::SubmissionQueueEntry& sqe, std::uint64_t offset, std::uint32_t bytes)
    {
        std::vector<std::byte> out(bytes);
        {
            std::lock_guard lock(t_.mutex_);
            std::memcpy(out.data(), t_.storage_.data() + offset, bytes);
        }
        const Fault fault = t_.fault_.load();
        auto take = [&] { t_.fault_ = Fault::none; };
        switch (fault) {
        case Fault::disconnect_mid_c2h: {
            take();
            C2HDataFields f{sqe.cid, 0, false, false};
            auto pdu = encode_c2h_data(f, std::span(out).first(bytes / 2), settings());
            (void)send(*pdu);
            ::shutdown(fd_, SHUT_RDWR);
            alive_ = false;
            return;
        }
        case Fault::c2h_short: {
            take();
            C2HDataFields f{sqe.cid, 0, false, false};
            if (send(*encode_c2h_data(f, std::span(out).first(bytes / 2), settings())))
                respond(sqe.cid, {});
            return;
        }
        case Fault::corrupt_data_digest: {
            take();
            C2HDataFields f{sqe.cid, 0, true, false};
            auto wire = encode_c2h_data(f, out, settings())->to_bytes();
            wire.back() ^= std::byte{0xff}; // DDGST is the last four bytes
            if (send_raw(wire)) respond(sqe.cid, {});
            return;
        }
        case Fault::corrupt_header_digest: {
            take();
            C2HDataFields f{sqe.cid, 0, true, false};
            (void)send(*encode_c2h_data(f, out, settings()));
            nvme::CompletionQueueEntry c{};
            c.cid = sqe.cid;
            c.sq_id = qid_;
            auto wire = encode_capsule_resp(c, settings())->to_bytes();
            wire[sizeof(CapsuleRespHeader)] ^= std::byte{0x01}; // HDGST after the header
            (void)send_raw(wire);
            return;
        }
        case Fault::c2h_beyond_length: {
            take();
            out.resize(bytes + 512);
            C2HDataFields f{sqe.cid, 0, true, false};
            (void)send(*encode_c2h_data(f, out, settings()));
            respond(sqe.cid, {});
            return;
        }
        case Fault::c2h_second_beyond_length: {
            take();
            const std::uint32_t half = bytes / 2;
            out.resize(bytes + 4096);
            C2HDataFields first{sqe.cid, 0, false, false};
            C2HDataFields second{sqe.cid, half, true, false};
            if (send(*encode_c2h_data(first, std::span(out).first(half), settings())))
                (void)send(*encode_c2h_data(second, std::span(out).subspan(half), settings()));
            respond(sqe.cid, {});
            return;
        }
        case Fault::c2h_offset_beyond_length: {
            take();
            C2HDataFields f{sqe.cid, bytes, true, false};
            (void)send(*encode_c2h_data(f, out, settings()));
            respond(sqe.cid, {});
            return;
        }
        case Fault::c2h_unknown_cid: {
            take();
            C2HDataFields f{static_cast<std::uint16_t>(sqe.cid ^ 0x0100), 0, true, false};
            (void)send(*encode_c2h_data(f, out, settings()));
            return;
        }
        case Fault::random_pdus: {
            take();
            send_random_pdus(sqe.cid, bytes);
            ::shutdown(fd_, SHUT_RDWR);
            alive_ = false;
            return;
        }
        case Fault::c2h_term_req: {
            take();
            (void)send(encode_c2h_term_req(FatalErrorStatus::invalid_pdu_header_field, 0, {}));
            return;
        }
        case Fault::unknown_pdu_type: {
            take();
            std::array<std::byte, 8> pdu{};
            pdu[0] = std::byte{0x0b};
            pdu[2] = std::byte{8};
            pdu[4] = std::byte{8};
            (void)send_raw(pdu);
            return;
        }
        default:
            break;
        }
        send_c2h(sqe.cid, out);
    }

    /// Hostile input: PDUs of every type, framed by the type's rules with
    /// random field values, and one field in three then made random too.
    void send_random_pdus(std::uint16_t cid, std::uint32_t bytes)
    {
        std::mt19937 rng(t_.seed_.load());
        auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
        static constexpr std::array<std::uint8_t, 8> types{0x01, 0x03, 0x05, 0x07,
                                                           0x09, 0x0b, 0x07, 0x09};
        for (int pdus = 0; pdus < 4 && alive_; ++pdus) {
            CommonHeader ch{};
            ch.pdu_type = types[pick(types.size())];
            const PduTypeInfo* info = find_pdu_type(ch.pdu_type);
            ch.hlen = info != nullptr ? info->hlen : 24;
            const bool data = info != nullptr && (info->data == DataPlacement::required_at_pdo ||
                                                  info->data == DataPlacement::after_header);
            const std::uint32_t datal = data ? 1 + pick(pick(2) == 0 ? 64 : bytes + 64) : 0;
            ch.flags = static_cast<std::uint8_t>(
                info != nullptr ? rng() & info->valid_flags & ~digest_flags : rng());
            if ((ch.flags & pdu_flags::success) != 0) ch.flags |= pdu_flags::last_pdu;
            ch.pdo = static_cast<std::uint8_t>(
                info != nullptr && info->data == DataPlacement::required_at_pdo ? ch.hlen : 0);
            ch.plen = ch.hlen + datal;
            std::vector<std::byte> pdu(ch.plen);
            for (auto& b : pdu)
                b = static_cast<std::byte>(rng());
            std::memcpy(pdu.data(), &ch, sizeof ch);
            if (ch.hlen >= 24 && pick(2) == 0) { // about the real command
                std::memcpy(pdu.data() + 8, &cid, sizeof cid);
                const std::uint32_t offset = pick(3) == 0 ? bytes - 1 : pick(bytes + 64);
                std::memcpy(pdu.data() + 12, &offset, sizeof offset);
                std::memcpy(pdu.data() + 16, &datal, sizeof datal);
                if (ch.pdu_type == 0x05) std::memcpy(pdu.data() + 20, &cid, sizeof cid);
            }
            if (pick(3) == 0) // one more field made random
                pdu[pick(static_cast<std::uint32_t>(std::min<std::size_t>(pdu.size(), 24)))] =
                    static_cast<std::byte>(rng());
            (void)send_raw(pdu);
        }
    }

    void write(const nvme::SubmissionQueueEntry& sqe, std::uint64_t offset, std::uint32_t bytes,
               std::span<const std::byte> data)
    {
        const auto sgl = nvme::dptr_sgl(sqe);
        if (sgl.sgl_identifier == nvme::fabrics::sgl_id::data_block_offset) {
            if (data.size() != bytes || bytes > t_.config_.in_capsule)
                return respond(sqe.cid, nvme::GenericStatus::data_sgl_length_invalid);
            ++t_.in_capsule_writes;
            {
                std::lock_guard lock(t_.mutex_);
                std::memcpy(t_.storage_.data() + offset, data.data(), bytes);
            }
            return respond(sqe.cid, {});
        }
        ++t_.r2t_writes;
        PendingWrite w{offset, bytes, 0, 0};
        writes_[sqe.cid] = w;
        request_more(sqe.cid);
    }

    void request_more(std::uint16_t cid)
    {
        PendingWrite& w = writes_[cid];
        R2TFields f;
        f.cccid = cid;
        f.ttag = static_cast<std::uint16_t>(cid + 1);
        f.r2to = w.requested_end;
        f.r2tl = std::min(t_.config_.r2t_chunk, w.length - w.requested_end);
        const Fault fault = t_.fault_.load();
        if (fault == Fault::r2t_bad_offset) {
            t_.fault_ = Fault::none;
            f.r2to += 4096;
        } else if (fault == Fault::r2t_beyond_length) {
            t_.fault_ = Fault::none;
            f.r2tl = w.length + 4096;
        }
        w.requested_end += f.r2tl;
        if (auto pdu = encode_r2t(f, settings())) (void)send(*pdu);
        if (fault == Fault::stall_after_r2t) {
            t_.fault_ = Fault::none;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    }

    void on_h2c_data()
    {
        const auto h = parser_.header<H2CDataHeader>();
        const auto data = parser_.data();
        ++t_.h2c_pdus;
        t_.largest_h2c = std::max<std::uint32_t>(t_.largest_h2c, h->datal);
        auto it = writes_.find(h->cccid);
        if (it == writes_.end() || h->ttag != h->cccid + 1 || h->datao != it->second.received ||
            std::uint64_t{h->datao} + data.size() > it->second.requested_end) {
            alive_ = false; // a real controller sends a TermReq; the test sees the drop
            return;
        }
        PendingWrite& w = it->second;
        {
            std::lock_guard lock(t_.mutex_);
            std::memcpy(t_.storage_.data() + w.offset + h->datao, data.data(), data.size());
        }
        w.received += static_cast<std::uint32_t>(data.size());
        if (w.received < w.requested_end) return;
        if (w.received < w.length) return request_more(h->cccid);
        writes_.erase(it);
        respond(h->cccid, {});
    }

    TestTarget& t_;
    int fd_;
    PduParser parser_;
    DigestSettings digests_;
    bool ic_done_ = false;
    bool alive_ = true;
    std::uint16_t qid_ = 0;
    bool discovery_ = false;                  ///< connected to the discovery NQN
    std::optional<TargetAuthenticator> auth_; ///< set by a Connect when authentication is due
    std::map<std::uint16_t, PendingWrite> writes_;
};

TestTarget::TestTarget(TargetConfig config)
    : config_(std::move(config)), storage_(config_.namespace_bytes)
{
    listen_fd_ = ::socket(config_.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (config_.receive_buffer > 0) // inherited by accepted sockets
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &config_.receive_buffer,
                     sizeof config_.receive_buffer);
    sockaddr_storage storage{};
    socklen_t len = 0;
    if (config_.ipv6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&storage);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&storage), len) != 0 ||
        ::listen(listen_fd_, 16) != 0)
        std::abort();
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&storage), &len);
    port_ = ntohs(config_.ipv6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                               : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

TestTarget::~TestTarget()
{
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex_);
        for (int fd : fds_)
            ::shutdown(fd, SHUT_RDWR);
        threads = std::move(threads_);
    }
    for (auto& t : threads)
        t.join();
    for (const int fd : silent_fds_)
        ::close(fd);
}

void TestTarget::accept_loop()
{
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (stopping_) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        if (refusing_) {
            ++refused;
            ::close(fd);
            continue;
        }
        if (silencing_) {
            std::lock_guard lock(mutex_);
            silent_fds_.push_back(fd);
            ++silenced;
            continue;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ++connections;
        std::lock_guard lock(mutex_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        fds_.push_back(fd);
        threads_.emplace_back([this, fd] { serve(fd); });
    }
}

void TestTarget::silence_connections(bool on)
{
    silencing_.store(on);
    if (on) return;
    std::lock_guard lock(mutex_);
    for (const int fd : silent_fds_)
        ::close(fd);
    silent_fds_.clear();
}

void TestTarget::drop_connections()
{
    std::lock_guard lock(mutex_);
    for (const int fd : fds_)
        ::shutdown(fd, SHUT_RDWR);
}

void TestTarget::serve(int fd)
{
    Connection(*this, fd).run();
    std::lock_guard lock(mutex_);
    ::shutdown(fd, SHUT_RDWR);
    std::erase(fds_, fd);
    ::close(fd);
}

std::vector<std::byte> TestTarget::read_namespace(std::size_t offset, std::size_t length)
{
    std::lock_guard lock(mutex_);
    return {storage_.begin() + static_cast<std::ptrdiff_t>(offset),
            storage_.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

void TestTarget::fill_namespace(std::size_t offset, std::span<const std::byte> bytes)
{
    std::lock_guard lock(mutex_);
    std::memcpy(storage_.data() + offset, bytes.data(), bytes.size());
}

std::string TestTarget::host_nqn()
{
    std::lock_guard lock(mutex_);
    return host_nqn_;
}

} // namespace tcp_test
