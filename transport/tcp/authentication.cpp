// DH-HMAC-CHAP on one queue, the host's side. See authentication.hpp.
#include "authentication.hpp"

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "nvmecuse/spec/authentication.hpp"
#include "nvmecuse/transport/dhchap/crypto.hpp"

#include "fabrics_commands.hpp"
#include "log.hpp"

namespace nvmecuse::transport::tcp {

namespace {

namespace auth = nvme::auth;
using auth::FailureReason;
using auth::MessageId;
using dhchap::Bytes;

/// Room for any message the controller sends: the largest, a challenge in
/// ffdhe8192, is 16 + 64 + 1024 bytes (the kernel's CHAP_BUF_SIZE is 4096).
constexpr std::size_t receive_size = 4096;

std::error_code refused()
{
    return std::error_code(EKEYREJECTED, std::generic_category()); // the kernel's error then
}
std::error_code malformed()
{
    return std::make_error_code(std::errc::protocol_error);
}

std::string_view reason_text(std::uint8_t r)
{
    switch (static_cast<FailureReason>(r)) {
    case FailureReason::failed:
        return "authentication failed (wrong secret)";
    case FailureReason::not_usable:
        return "authentication protocol not usable";
    case FailureReason::concat_mismatch:
        return "secure channel concatenation mismatch";
    case FailureReason::hash_unusable:
        return "hash function not usable";
    case FailureReason::dhgroup_unusable:
        return "DH group not usable";
    case FailureReason::incorrect_payload:
        return "incorrect payload";
    case FailureReason::incorrect_message:
        return "incorrect protocol message";
    }
    return "unknown reason";
}

template <typename T> T read_struct(std::span<const std::uint8_t> bytes)
{
    T v{};
    std::memcpy(&v, bytes.data(), std::min(sizeof v, bytes.size()));
    return v;
}

template <typename T> void write_struct(Bytes& out, const T& v)
{
    out.resize(std::max(out.size(), sizeof v));
    std::memcpy(out.data(), &v, sizeof v);
}

/// The state of one transaction.
class Transaction {
public:
    Transaction(AuthenticationChannel& q, const DhchapKeys& keys, const AuthenticationTarget& who,
                std::uint16_t t_id)
        : q_(q), keys_(keys), who_(who), t_id_(t_id)
    {
    }

    ~Transaction() { dhchap::wipe(session_key_); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    std::expected<void, std::error_code> run()
    {
        if (auto r = send(negotiate()); !r) return r;
        auto challenge = receive(MessageId::challenge);
        if (!challenge) return std::unexpected(challenge.error());
        if (auto r = take_challenge(*challenge); !r) return give_up(r.error());
        if (auto r = send(reply()); !r) return r;
        auto success1 = receive(MessageId::success1);
        if (!success1) return refused_by_closing(success1.error());
        if (auto r = check_success1(*success1); !r) return give_up(r.error());
        if (bidirectional()) {
            auth::Success2Data s2{};
            s2.auth_type = static_cast<std::uint8_t>(auth::AuthType::dhchap);
            s2.auth_id = static_cast<std::uint8_t>(MessageId::success2);
            s2.t_id = t_id_;
            Bytes m;
            write_struct(m, s2);
            if (auto r = send(m); !r) return r;
        }
        if (q_.qid() == 0)
            log().info("{}: authenticated with {} and DH group {}{}", who_.name,
                       dhchap::hash_name(static_cast<std::uint8_t>(hash_)),
                       dhchap::dh_group_name(dh_group_),
                       bidirectional() ? ", controller authenticated" : "");
        return {};
    }

private:
    [[nodiscard]] bool bidirectional() const noexcept { return !keys_.controller.empty(); }

    Bytes negotiate() const
    {
        auth::NegotiateData n{};
        n.auth_type = static_cast<std::uint8_t>(auth::AuthType::common);
        n.auth_id = static_cast<std::uint8_t>(MessageId::negotiate);
        n.t_id = t_id_;
        n.sc_c = 0;
        n.napd = 1;
        auth::DhchapProtocolDescriptor d{};
        d.authid = auth::authid_dhchap;
        d.halen = 3;
        d.dhlen = 6;
        for (std::uint8_t h = 1; h <= 3; ++h)
            d.idlist[h - 1] = h; // SHA-256, SHA-384, SHA-512
        for (std::uint8_t g = 0; g <= 5; ++g)
            d.idlist[auth::dhgroup_list_offset + g] = g; // null, ffdhe2048 .. ffdhe8192
        Bytes m(sizeof n + sizeof d);
        std::memcpy(m.data(), &n, sizeof n);
        std::memcpy(m.data() + sizeof n, &d, sizeof d);
        return m;
    }

    /// Validates DH-HMAC-CHAP_Challenge and computes the response (and the
    /// DH exchange); the failure reason otherwise.
    std::expected<void, FailureReason> take_challenge(std::span<const std::uint8_t> m)
    {
        const auto c = read_struct<auth::ChallengeData>(m);
        const std::size_t hl = dhchap::hash_length(c.hashid);
        if (hl == 0 || c.hl != hl) {
            log().error("{}: q{}: the controller chose hash {} (length {}), not one offered",
                        who_.name, q_.qid(), c.hashid, c.hl);
            return std::unexpected(FailureReason::hash_unusable);
        }
        if (c.dhgid > 5) {
            log().error("{}: q{}: the controller chose unknown DH group {}", who_.name, q_.qid(),
                        c.dhgid);
            return std::unexpected(FailureReason::dhgroup_unusable);
        }
        if (c.dhvlen != dhchap::dh_value_length(c.dhgid) || sizeof c + hl + c.dhvlen > m.size()) {
            log().error("{}: q{}: challenge with a DH value of {} bytes for group {}", who_.name,
                        q_.qid(), c.dhvlen, dhchap::dh_group_name(c.dhgid));
            return std::unexpected(FailureReason::incorrect_payload);
        }
        hash_ = static_cast<dhchap::HashId>(c.hashid);
        dh_group_ = c.dhgid;
        s1_ = c.seqnum;
        c1_.assign(m.begin() + sizeof c, m.begin() + static_cast<std::ptrdiff_t>(sizeof c + hl));
        if (c.dhgid != 0) {
            auto key = dhchap::DhKey::generate(static_cast<dhchap::DhGroup>(c.dhgid));
            if (!key) {
                log().error("{}: q{}: {}", who_.name, q_.qid(), key.error());
                return std::unexpected(FailureReason::failed);
            }
            const auto peer = m.subspan(sizeof c + hl, c.dhvlen);
            auto shared = key->shared_secret(peer);
            if (!shared) {
                log().error("{}: q{}: {}", who_.name, q_.qid(), shared.error());
                return std::unexpected(FailureReason::incorrect_payload);
            }
            host_value_ = key->public_value();
            session_key_ = std::move(*shared);
        }
        auto key = dhchap::transformed_key(keys_.host, who_.host_nqn);
        response_ = dhchap::response(dhchap::Responder::host, input(key, c1_, s1_));
        dhchap::wipe(key);
        if (bidirectional()) {
            c2_ = dhchap::random_bytes(hl);
            do {
                const auto r = dhchap::random_bytes(4);
                std::memcpy(&s2_, r.data(), sizeof s2_);
            } while (s2_ == 0); // 0 means "no challenge" (Figure 454)
        }
        return {};
    }

    dhchap::ResponseInput input(std::span<const std::uint8_t> key,
                                std::span<const std::uint8_t> challenge,
                                std::uint32_t sequence) const
    {
        dhchap::ResponseInput in;
        in.hash = hash_;
        in.key = key;
        in.challenge = challenge;
        in.session_key = session_key_;
        in.sequence = sequence;
        in.transaction = t_id_;
        in.host_nqn = who_.host_nqn;
        in.subsystem_nqn = who_.subsystem_nqn;
        return in;
    }

    Bytes reply() const
    {
        const std::size_t hl = response_.size();
        auth::ReplyData r{};
        r.auth_type = static_cast<std::uint8_t>(auth::AuthType::dhchap);
        r.auth_id = static_cast<std::uint8_t>(MessageId::reply);
        r.t_id = t_id_;
        r.hl = static_cast<std::uint8_t>(hl);
        r.cvalid = bidirectional() ? 1 : 0;
        r.dhvlen = static_cast<std::uint16_t>(host_value_.size());
        r.seqnum = bidirectional() ? s2_ : 0;
        Bytes m(sizeof r + 2 * hl + host_value_.size(), 0);
        std::memcpy(m.data(), &r, sizeof r);
        std::copy(response_.begin(), response_.end(), m.begin() + sizeof r);
        if (bidirectional())
            std::copy(c2_.begin(), c2_.end(),
                      m.begin() + static_cast<std::ptrdiff_t>(sizeof r + hl));
        std::copy(host_value_.begin(), host_value_.end(),
                  m.begin() + static_cast<std::ptrdiff_t>(sizeof r + 2 * hl));
        return m;
    }

    std::expected<void, FailureReason> check_success1(std::span<const std::uint8_t> m) const
    {
        const auto s = read_struct<auth::Success1Data>(m);
        const std::size_t hl = response_.size();
        if (s.hl != hl) {
            log().error("{}: q{}: Success1 with hash length {}, not {}", who_.name, q_.qid(), s.hl,
                        hl);
            return std::unexpected(FailureReason::hash_unusable);
        }
        if (!bidirectional()) return {};
        if ((s.rvalid & 1u) == 0 || sizeof s + hl > m.size()) {
            log().error("{}: q{}: the controller did not answer the host's challenge "
                        "(--dhchap-ctrl-secret given, but the target has no controller key)",
                        who_.name, q_.qid());
            return std::unexpected(FailureReason::failed);
        }
        auto key = dhchap::transformed_key(keys_.controller, who_.subsystem_nqn);
        const auto expected = dhchap::response(dhchap::Responder::controller, input(key, c2_, s2_));
        dhchap::wipe(key);
        if (!std::equal(expected.begin(), expected.end(), m.begin() + sizeof s)) {
            log().error("{}: q{}: controller authentication failed: its response does not match "
                        "--dhchap-ctrl-secret",
                        who_.name, q_.qid());
            return std::unexpected(FailureReason::failed);
        }
        return {};
    }

    /// One Authentication Send or Receive of `data`; a failing status is
    /// the controller refusing.
    std::expected<void, std::error_code> execute(const nvme::SubmissionQueueEntry& sqe,
                                                 nvme::DataTransfer direction, Bytes& data)
    {
        auto cqe = q_.execute(sqe, direction, std::as_writable_bytes(std::span(data)));
        if (!cqe) return std::unexpected(cqe.error());
        if (const auto st = nvme::status_of(*cqe); !st.is_success()) {
            log().error("{}: q{}: {} refused: {}", who_.name, q_.qid(),
                        direction == nvme::DataTransfer::host_to_controller
                            ? "Authentication Send"
                            : "Authentication Receive",
                        nvme::to_string(st));
            return std::unexpected(refused());
        }
        return {};
    }

    std::expected<void, std::error_code> send(Bytes message)
    {
        return execute(authentication_send(static_cast<std::uint32_t>(message.size())),
                       nvme::DataTransfer::host_to_controller, message);
    }

    /// Authentication Receive of the message `expected`; AUTH_Failure1
    /// (the controller refusing) is EKEYREJECTED.
    std::expected<Bytes, std::error_code> receive(MessageId expected)
    {
        Bytes buffer(receive_size, 0);
        if (auto r = execute(authentication_receive(receive_size),
                             nvme::DataTransfer::controller_to_host, buffer);
            !r)
            return std::unexpected(r.error());
        const auto h = read_struct<auth::MessageHeader>(buffer);
        if (h.auth_type == static_cast<std::uint8_t>(auth::AuthType::common) &&
            h.auth_id == static_cast<std::uint8_t>(MessageId::failure1)) {
            const auto f = read_struct<auth::FailureData>(buffer);
            log().error("{}: q{}: the controller refused the host: {} (AUTH_Failure1, reason "
                        "{:#04x}/{:#04x}); check --dhchap-secret against the target's key",
                        who_.name, q_.qid(), reason_text(f.rescode_exp), f.rescode, f.rescode_exp);
            return std::unexpected(refused());
        }
        if (h.auth_type != static_cast<std::uint8_t>(auth::AuthType::dhchap) ||
            h.auth_id != static_cast<std::uint8_t>(expected) || h.t_id != t_id_) {
            log().error("{}: q{}: unexpected authentication message {:#04x}/{:#04x} (T_ID {}), "
                        "waiting for {:#04x} (T_ID {})",
                        who_.name, q_.qid(), h.auth_type, h.auth_id, h.t_id,
                        static_cast<std::uint8_t>(expected), t_id_);
            (void)give_up(FailureReason::incorrect_message);
            return std::unexpected(malformed());
        }
        return buffer;
    }

    /// AUTH_Failure2, then the error: the controller's answer to it does
    /// not change the outcome (the kernel ignores it too).
    std::unexpected<std::error_code> give_up(FailureReason reason)
    {
        auth::FailureData f{};
        f.auth_type = static_cast<std::uint8_t>(auth::AuthType::common);
        f.auth_id = static_cast<std::uint8_t>(MessageId::failure2);
        f.t_id = t_id_;
        f.rescode = auth::reason_code_failure;
        f.rescode_exp = static_cast<std::uint8_t>(reason);
        Bytes m;
        write_struct(m, f);
        (void)send(std::move(m));
        return std::unexpected(reason == FailureReason::failed ? refused() : malformed());
    }

    /// Linux nvmet refuses a wrong response by sending AUTH_Failure1 and
    /// tearing the controller down at once (nvmet_ctrl_fatal_error() in
    /// nvmet_execute_auth_receive()), so the connection often closes before
    /// the host reads the message. A connection lost at this step is taken
    /// as that refusal: final, as the kernel's `nvme connect` fails then too.
    std::unexpected<std::error_code> refused_by_closing(std::error_code e) const
    {
        if (e == refused() || e == std::errc::protocol_error ||
            e == std::errc::timed_out)
            return std::unexpected(e);
        log().error("{}: q{}: the controller closed the connection instead of accepting the "
                    "host's response ({}): it refused the host; check --dhchap-secret against "
                    "the target's key",
                    who_.name, q_.qid(), e.message());
        return std::unexpected(refused());
    }

    AuthenticationChannel& q_;
    const DhchapKeys& keys_;
    const AuthenticationTarget& who_;
    std::uint16_t t_id_;
    dhchap::HashId hash_ = dhchap::HashId::sha256;
    std::uint8_t dh_group_ = 0;
    std::uint32_t s1_ = 0;
    std::uint32_t s2_ = 0;
    Bytes c1_;
    Bytes c2_;
    Bytes host_value_;
    Bytes session_key_;
    Bytes response_;
};

} // namespace

std::expected<void, std::error_code> authenticate(AuthenticationChannel& channel,
                                                  const DhchapKeys& keys,
                                                  const AuthenticationTarget& who,
                                                  std::uint16_t transaction)
{
    if (keys.host.empty()) {
        log().error("{}: q{}: the controller requires in-band authentication (DH-HMAC-CHAP): "
                    "give --dhchap-secret",
                    who.name, channel.qid());
        return std::unexpected(std::error_code(ENOKEY, std::generic_category()));
    }
    return Transaction(channel, keys, who, transaction).run();
}

std::expected<void, std::error_code> authenticate(TcpQueue& queue, const DhchapKeys& keys,
                                                  const AuthenticationTarget& who,
                                                  std::uint16_t transaction,
                                                  Clock::time_point deadline)
{
    struct QueueChannel final : AuthenticationChannel {
        QueueChannel(TcpQueue& q, Clock::time_point d) : queue(q), deadline(d) {}
        std::uint16_t qid() const override { return queue.qid(); }
        std::expected<nvme::CompletionQueueEntry, std::error_code>
        execute(const nvme::SubmissionQueueEntry& sqe, nvme::DataTransfer direction,
                std::span<std::byte> data) override
        {
            return queue.execute(sqe, direction, data, deadline);
        }
        TcpQueue& queue;
        Clock::time_point deadline;
    };
    QueueChannel channel(queue, deadline);
    return authenticate(channel, keys, who, transaction);
}

} // namespace nvmecuse::transport::tcp
