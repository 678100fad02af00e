// The test target's DH-HMAC-CHAP. See tcp_test_target_auth.hpp.
#include "tcp_test_target_auth.hpp"

#include <cstring>
#include <stdexcept>

#include "nvmecuse/spec/authentication.hpp"

namespace tcp_test {

namespace dhchap = nvmecuse::transport::dhchap;
namespace auth = nvme::auth;

namespace {

template <typename T> T header(const std::vector<std::uint8_t>& m)
{
    T v{};
    std::memcpy(&v, m.data(), std::min(sizeof v, m.size()));
    return v;
}

template <typename T> std::vector<std::uint8_t> bytes_of(const T& v, std::size_t extra = 0)
{
    std::vector<std::uint8_t> m(sizeof v + extra);
    std::memcpy(m.data(), &v, sizeof v);
    return m;
}

dhchap::Secret parse_or_empty(const std::string& text)
{
    if (text.empty()) return {};
    auto s = dhchap::parse_secret(text);
    if (!s) throw std::invalid_argument("test target key: " + s.error());
    return *s;
}

} // namespace

TargetAuthenticator::TargetAuthenticator(const TargetAuthConfig& config, std::string host_nqn,
                                         std::string subsystem_nqn)
    : config_(config), host_key_(parse_or_empty(config.host_key)),
      controller_key_(parse_or_empty(config.controller_key)), host_nqn_(std::move(host_nqn)),
      subsystem_nqn_(std::move(subsystem_nqn))
{
}

bool TargetAuthenticator::on_send(const std::vector<std::uint8_t>& m)
{
    const auto h = header<auth::MessageHeader>(m);
    const auto id = static_cast<auth::MessageId>(h.auth_id);
    if (id == auth::MessageId::failure2) {
        outcome_ = AuthOutcome::failure2_received;
        step_ = Step::done;
        return true;
    }
    switch (step_) {
    case Step::negotiate:
        return id == auth::MessageId::negotiate && take_negotiate(m);
    case Step::reply:
        return id == auth::MessageId::reply && h.t_id == t_id_ && take_reply(m);
    case Step::success2:
        if (id != auth::MessageId::success2 || h.t_id != t_id_) return false;
        outcome_ = AuthOutcome::succeeded;
        step_ = Step::done;
        return true;
    default:
        return false;
    }
}

bool TargetAuthenticator::take_negotiate(const std::vector<std::uint8_t>& m)
{
    const auto n = header<auth::NegotiateData>(m);
    if (n.napd != 1 || m.size() < sizeof n + sizeof(auth::DhchapProtocolDescriptor)) return false;
    auth::DhchapProtocolDescriptor d{};
    std::memcpy(&d, m.data() + sizeof n, sizeof d);
    const auto offers = [&](std::size_t from, std::size_t count, std::uint8_t id) {
        for (std::size_t i = 0; i < count; ++i)
            if (d.idlist[from + i] == id) return true;
        return false;
    };
    if (d.authid != auth::authid_dhchap || !offers(0, d.halen, config_.hash) ||
        !offers(auth::dhgroup_list_offset, d.dhlen, config_.dh_group))
        return false;
    t_id_ = n.t_id;
    const std::size_t hl = dhchap::hash_length(config_.hash);
    c1_ = dhchap::random_bytes(hl);
    s1_ = 0x5e9u + t_id_;
    if (config_.dh_group != 0) {
        auto key = dhchap::DhKey::generate(static_cast<dhchap::DhGroup>(config_.dh_group));
        if (!key) return false;
        dh_ = std::move(*key);
    }
    step_ = Step::challenge;
    return true;
}

bool TargetAuthenticator::take_reply(const std::vector<std::uint8_t>& m)
{
    const auto r = header<auth::ReplyData>(m);
    const std::size_t hl = dhchap::hash_length(config_.hash);
    if (r.hl != hl || m.size() < sizeof r + 2 * hl + r.dhvlen) return false;
    const std::span<const std::uint8_t> all(m);
    if (dh_) {
        auto shared = dh_->shared_secret(all.subspan(sizeof r + 2 * hl, r.dhvlen));
        if (!shared) return false;
        session_key_ = std::move(*shared);
    } else if (r.dhvlen != 0) {
        return false;
    }
    const auto hash = static_cast<dhchap::HashId>(config_.hash);
    dhchap::ResponseInput in;
    in.hash = hash;
    in.session_key = session_key_;
    in.transaction = t_id_;
    in.host_nqn = host_nqn_;
    in.subsystem_nqn = subsystem_nqn_;
    const auto host_key = dhchap::transformed_key(host_key_, host_nqn_);
    in.key = host_key;
    in.challenge = c1_;
    in.sequence = s1_;
    const auto expected = dhchap::response(dhchap::Responder::host, in);
    if (!std::equal(expected.begin(), expected.end(), m.begin() + sizeof r)) {
        failure_reason_ = static_cast<std::uint8_t>(auth::FailureReason::failed);
        step_ = Step::success1; // answered with AUTH_Failure1
        return true;
    }
    if ((r.cvalid & 1u) != 0 && !controller_key_.empty()) {
        const auto ctrl_key = dhchap::transformed_key(controller_key_, subsystem_nqn_);
        const std::vector<std::uint8_t> c2(m.begin() + static_cast<std::ptrdiff_t>(sizeof r + hl),
                                           m.begin() +
                                               static_cast<std::ptrdiff_t>(sizeof r + 2 * hl));
        in.key = ctrl_key;
        in.challenge = c2;
        in.sequence = r.seqnum;
        controller_response_ = dhchap::response(dhchap::Responder::controller, in);
    }
    step_ = Step::success1;
    return true;
}

std::vector<std::uint8_t> TargetAuthenticator::next_message()
{
    const std::size_t hl = dhchap::hash_length(config_.hash);
    if (step_ == Step::challenge) {
        auth::ChallengeData c{};
        c.auth_type = static_cast<std::uint8_t>(auth::AuthType::dhchap);
        c.auth_id = static_cast<std::uint8_t>(auth::MessageId::challenge);
        c.t_id = t_id_;
        c.hl = static_cast<std::uint8_t>(hl);
        c.hashid = config_.hash;
        c.dhgid = config_.dh_group;
        const auto& value = dh_ ? dh_->public_value() : std::vector<std::uint8_t>{};
        c.dhvlen = static_cast<std::uint16_t>(value.size());
        c.seqnum = s1_;
        auto m = bytes_of(c, hl + value.size());
        std::copy(c1_.begin(), c1_.end(), m.begin() + sizeof c);
        std::copy(value.begin(), value.end(),
                  m.begin() + static_cast<std::ptrdiff_t>(sizeof c + hl));
        step_ = Step::reply;
        return m;
    }
    if (step_ == Step::success1 && failure_reason_ != 0) {
        auth::FailureData f{};
        f.auth_type = static_cast<std::uint8_t>(auth::AuthType::common);
        f.auth_id = static_cast<std::uint8_t>(auth::MessageId::failure1);
        f.t_id = t_id_;
        f.rescode = auth::reason_code_failure;
        f.rescode_exp = failure_reason_;
        outcome_ = AuthOutcome::failure1_sent;
        step_ = Step::done;
        return bytes_of(f);
    }
    if (step_ == Step::success1) {
        auth::Success1Data s{};
        s.auth_type = static_cast<std::uint8_t>(auth::AuthType::dhchap);
        s.auth_id = static_cast<std::uint8_t>(auth::MessageId::success1);
        s.t_id = t_id_;
        s.hl = static_cast<std::uint8_t>(hl);
        s.rvalid = controller_response_.empty() ? 0 : 1;
        auto m = bytes_of(s, controller_response_.size());
        std::copy(controller_response_.begin(), controller_response_.end(), m.begin() + sizeof s);
        if (controller_response_.empty()) {
            outcome_ = AuthOutcome::succeeded;
            step_ = Step::done;
        } else {
            step_ = Step::success2;
        }
        return m;
    }
    return {};
}

} // namespace tcp_test
