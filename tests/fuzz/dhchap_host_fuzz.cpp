// Fuzz target: the host's side of DH-HMAC-CHAP (transport/tcp/
// authentication.cpp) against a hostile controller. The input picks the
// host's keys (host only, or host and controller: bidirectional) and a
// T_ID, then scripts the controller's answer to each Authentication Send
// and Receive the host issues: a success or failure status, a lost
// connection, and for a Receive the message, either built from fields of
// the input's choosing (Challenge, Success1, AUTH_Failure1 or another
// message id, with right or wrong T_ID, hash length and DH value length)
// or raw bytes.
//
// Invariants (FUZZ_CHECK):
// - every message the host sends is well formed: AUTH_Negotiate first and
//   exactly as offered; a Reply only right after a Challenge it accepted,
//   with that challenge's hash length, the DH group's value length, CVALID
//   and a non-zero S2 exactly when bidirectional; AUTH_Failure2 with a
//   known reason; and nothing after AUTH_Failure2;
// - the host never succeeds when it must authenticate the controller (the
//   script cannot compute the controller's response to a challenge the host
//   chose at random), and never sends Success2 then;
// - when it succeeds, it went Negotiate, Challenge, Reply, Success1;
// - every error is one the header documents: EKEYREJECTED, protocol_error,
//   ENOKEY, or the connection's own error.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "nvmecuse/spec/authentication.hpp"
#include "nvmecuse/transport/dhchap/crypto.hpp"

#include "tests/fuzz/fuzz_check.hpp"
#include "transport/tcp/authentication.hpp"

namespace {

using namespace nvmecuse;
using namespace nvmecuse::transport::tcp;
using nvmecuse::fuzz::InputReader;
namespace auth = nvme::auth;
namespace dhchap = nvmecuse::transport::dhchap;
using auth::MessageId;

constexpr std::size_t max_commands = 8;
const std::error_code connection_lost = std::make_error_code(std::errc::connection_reset);

template <typename T> T read_struct(std::span<const std::byte> bytes)
{
    T v{};
    if (!bytes.empty()) std::memcpy(&v, bytes.data(), std::min(sizeof v, bytes.size()));
    return v;
}

std::uint8_t id(MessageId m)
{
    return static_cast<std::uint8_t>(m);
}

/// The controller, as the input scripts it; checks what the host sends.
class ScriptedController final : public AuthenticationChannel {
public:
    ScriptedController(InputReader& in, std::uint16_t t_id, bool bidirectional)
        : in_(in), t_id_(t_id), bidirectional_(bidirectional)
    {
    }

    std::uint16_t qid() const override { return 0; }

    std::expected<nvme::CompletionQueueEntry, std::error_code>
    execute(const nvme::SubmissionQueueEntry&, nvme::DataTransfer direction,
            std::span<std::byte> data) override
    {
        FUZZ_CHECK(++commands_ <= max_commands);
        FUZZ_CHECK(!gave_up_); // nothing after AUTH_Failure2
        const auto control = in_.take<std::uint8_t>();
        if (direction == nvme::DataTransfer::host_to_controller) {
            check_sent(data);
        } else {
            FUZZ_CHECK(direction == nvme::DataTransfer::controller_to_host);
            answer(data, (control & 4u) != 0);
        }
        switch (control & 3u) {
        case 1: {
            nvme::CompletionQueueEntry cqe{};
            cqe.status = nvme::Status(nvme::GenericStatus::invalid_field).to_cqe_status(true);
            return cqe;
        }
        case 2:
            return std::unexpected(connection_lost);
        default:
            return nvme::CompletionQueueEntry{};
        }
    }

    /// The messages the host sent and the script answered, in order.
    std::vector<std::uint8_t> sent;
    std::vector<std::uint8_t> received;

private:
    void check_sent(std::span<const std::byte> m)
    {
        const auto h = read_struct<auth::MessageHeader>(m);
        FUZZ_CHECK(m.size() >= sizeof h);
        FUZZ_CHECK(h.t_id == t_id_);
        if (sent.empty()) {
            FUZZ_CHECK(h.auth_type == 0 && h.auth_id == id(MessageId::negotiate));
            FUZZ_CHECK(m.size() == sizeof(auth::NegotiateData) + sizeof(auth::DhchapProtocolDescriptor));
            const auto d = read_struct<auth::DhchapProtocolDescriptor>(m.subspan(sizeof(auth::NegotiateData)));
            FUZZ_CHECK(d.authid == auth::authid_dhchap && d.halen == 3 && d.dhlen == 6);
        } else if (h.auth_id == id(MessageId::reply)) {
            FUZZ_CHECK(h.auth_type == 1);
            FUZZ_CHECK(!received.empty() && received.back() == id(MessageId::challenge) &&
                       accepted_challenge_);
            const auto r = read_struct<auth::ReplyData>(m);
            FUZZ_CHECK(r.hl == challenge_hl_);
            FUZZ_CHECK(r.dhvlen == dhchap::dh_value_length(challenge_dhgid_));
            FUZZ_CHECK(m.size() == sizeof r + 2u * r.hl + r.dhvlen);
            FUZZ_CHECK((r.cvalid & 1u) == (bidirectional_ ? 1u : 0u));
            FUZZ_CHECK((r.seqnum != 0) == bidirectional_);
        } else if (h.auth_id == id(MessageId::failure2)) {
            FUZZ_CHECK(h.auth_type == 0);
            const auto f = read_struct<auth::FailureData>(m);
            FUZZ_CHECK(f.rescode == auth::reason_code_failure);
            FUZZ_CHECK(f.rescode_exp >= 1 && f.rescode_exp <= 7);
            gave_up_ = true;
        } else {
            // Success2 needs the controller's response, which no script has.
            FUZZ_CHECK(false);
        }
        accepted_challenge_ = false;
        sent.push_back(h.auth_id);
    }

    void answer(std::span<std::byte> buffer, bool raw)
    {
        std::vector<std::uint8_t> m;
        if (raw) {
            const auto len = in_.take<std::uint16_t>() % (buffer.size() + 1);
            const auto bytes = in_.take_bytes(len);
            m.assign(bytes.begin(), bytes.end());
        } else {
            m = structured();
        }
        if (!m.empty()) std::memcpy(buffer.data(), m.data(), std::min(m.size(), buffer.size()));
        const auto h = read_struct<auth::MessageHeader>(std::as_bytes(std::span(m)));
        received.push_back(h.auth_id);
        // Whether the host may reply to it: a Challenge in the right T_ID
        // with a hash and DH group it offered, whose lengths add up.
        const auto c = read_struct<auth::ChallengeData>(std::as_bytes(std::span(m)));
        const std::size_t hl = dhchap::hash_length(c.hashid);
        accepted_challenge_ = h.auth_type == 1 && h.auth_id == id(MessageId::challenge) &&
                              h.t_id == t_id_ && hl != 0 && c.hl == hl && c.dhgid <= 5 &&
                              c.dhvlen == dhchap::dh_value_length(c.dhgid) &&
                              sizeof c + hl + c.dhvlen <= buffer.size();
        challenge_hl_ = c.hl;
        challenge_dhgid_ = c.dhgid;
    }

    std::vector<std::uint8_t> structured()
    {
        const auto kind = in_.take<std::uint8_t>();
        const auto t_id = static_cast<std::uint16_t>(t_id_ + in_.take<std::uint8_t>() % 2);
        std::vector<std::uint8_t> m;
        switch (kind % 4) {
        case 0: { // Challenge
            auth::ChallengeData c{};
            c.auth_type = 1;
            c.auth_id = id(MessageId::challenge);
            c.t_id = t_id;
            c.hashid = in_.take<std::uint8_t>() % 5;
            // The null group or ffdhe2048; others only by raw bytes
            // (a host key of ffdhe8192 costs a second under ASan).
            const auto group = in_.take<std::uint8_t>();
            c.dhgid = (group & 0x80u) != 0 ? group & 7u : group & 1u;
            c.hl = static_cast<std::uint8_t>(dhchap::hash_length(c.hashid) + in_.take<std::uint8_t>() % 2);
            c.dhvlen = static_cast<std::uint16_t>(dhchap::dh_value_length(c.dhgid) +
                                                  in_.take<std::uint8_t>() % 2);
            c.seqnum = in_.take<std::uint32_t>();
            m.resize(sizeof c + c.hl + c.dhvlen);
            std::memcpy(m.data(), &c, sizeof c);
            const auto value = in_.take_bytes(m.size() - sizeof c);
            std::copy(value.begin(), value.end(), m.begin() + sizeof c);
            break;
        }
        case 1: { // Success1
            auth::Success1Data s{};
            s.auth_type = 1;
            s.auth_id = id(MessageId::success1);
            s.t_id = t_id;
            s.hl = in_.take<std::uint8_t>();
            s.rvalid = in_.take<std::uint8_t>();
            m.resize(sizeof s + 64);
            std::memcpy(m.data(), &s, sizeof s);
            const auto response = in_.take_bytes(64);
            std::copy(response.begin(), response.end(), m.begin() + sizeof s);
            break;
        }
        case 2: { // AUTH_Failure1
            auth::FailureData f{};
            f.auth_type = 0;
            f.auth_id = id(MessageId::failure1);
            f.t_id = t_id;
            f.rescode = auth::reason_code_failure;
            f.rescode_exp = in_.take<std::uint8_t>();
            m.resize(sizeof f);
            std::memcpy(m.data(), &f, sizeof f);
            break;
        }
        default: { // any other id, such as a Success2 or Reply the host never expects
            auth::MessageHeader h{};
            h.auth_type = in_.take<std::uint8_t>() % 2;
            h.auth_id = in_.take<std::uint8_t>();
            h.t_id = t_id;
            m.resize(16);
            std::memcpy(m.data(), &h, sizeof h);
            break;
        }
        }
        return m;
    }

    InputReader& in_;
    std::uint16_t t_id_;
    bool bidirectional_;
    std::size_t commands_ = 0;
    bool gave_up_ = false;
    bool accepted_challenge_ = false;
    std::uint8_t challenge_hl_ = 0;
    std::uint8_t challenge_dhgid_ = 0;
};

dhchap::Secret secret(std::uint8_t choice, std::uint8_t fill)
{
    static constexpr std::size_t sizes[] = {32, 48, 64};
    return {std::vector<std::uint8_t>(sizes[choice % 3], fill), static_cast<std::uint8_t>(choice % 4)};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    InputReader in(data, size);
    const auto flags = in.take<std::uint8_t>();
    const auto t_id = in.take<std::uint16_t>();
    const bool bidirectional = (flags & 1u) != 0;
    const bool no_host_key = (flags & 2u) != 0;

    DhchapKeys keys;
    if (!no_host_key) keys.host = secret(static_cast<std::uint8_t>(flags >> 2), 0x11);
    if (bidirectional) keys.controller = secret(static_cast<std::uint8_t>(flags >> 4), 0x22);
    const AuthenticationTarget who{"nqn.2014-08.org.nvmexpress:uuid:host",
                                   "nqn.2024-01.io.nvmecuse:fuzz", "fuzz"};
    ScriptedController controller(in, t_id, bidirectional);
    const auto result = authenticate(controller, keys, who, t_id);

    if (no_host_key) {
        FUZZ_CHECK(!result && result.error().value() == ENOKEY);
        FUZZ_CHECK(controller.sent.empty());
        return 0;
    }
    if (result) {
        FUZZ_CHECK(!bidirectional);
        const std::vector<std::uint8_t> flow{id(MessageId::negotiate), id(MessageId::reply)};
        FUZZ_CHECK(controller.sent == flow);
        FUZZ_CHECK(controller.received.size() == 2 &&
                   controller.received[0] == id(MessageId::challenge) &&
                   controller.received[1] == id(MessageId::success1));
        return 0;
    }
    const std::error_code e = result.error();
    FUZZ_CHECK(e.value() == EKEYREJECTED || e == std::errc::protocol_error || e == connection_lost);
    return 0;
}
