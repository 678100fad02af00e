// The test target's side of DH-HMAC-CHAP (NVMe Base 2.0, 8.13.5), one per
// connection: answers AUTH_Negotiate with a challenge, checks the host's
// DH-HMAC-CHAP_Reply, answers with _Success1 (and its own response when the
// host challenged it) or AUTH_Failure1, and takes _Success2 / AUTH_Failure2.
// Built on the same OpenSSL computations as the host (transport/dhchap),
// whose results the known-answer tests pin down (dhchap_test).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nvmecuse/transport/dhchap/crypto.hpp"
#include "nvmecuse/transport/dhchap/secret.hpp"

namespace tcp_test {

/// What the target's host entry holds, as nvmet's configfs host entry
/// (dhchap_key, dhchap_ctrl_key, dhchap_hash, dhchap_dhgroup).
struct TargetAuthConfig {
    std::string host_key;       ///< empty: no authentication
    std::string controller_key; ///< empty: the target cannot answer a host challenge
    std::uint8_t hash = 1;      ///< HashId the challenge uses
    std::uint8_t dh_group = 0;  ///< DhGroup the challenge uses
    /// Refuse a wrong response by closing the connection instead of
    /// answering AUTH_Failure1 (Linux nvmet's teardown often wins that race).
    bool close_instead_of_failure1 = false;
};

/// How a transaction ended.
enum class AuthOutcome : std::uint8_t { pending, succeeded, failure1_sent, failure2_received };

class TargetAuthenticator {
public:
    TargetAuthenticator(const TargetAuthConfig& config, std::string host_nqn,
                        std::string subsystem_nqn);

    /// An Authentication Send's data; false when it was not acceptable (the
    /// command then fails).
    bool on_send(const std::vector<std::uint8_t>& message);
    /// The data of an Authentication Receive: the message due now.
    [[nodiscard]] std::vector<std::uint8_t> next_message();
    [[nodiscard]] AuthOutcome outcome() const noexcept { return outcome_; }

private:
    enum class Step : std::uint8_t { negotiate, challenge, reply, success1, success2, done };

    bool take_negotiate(const std::vector<std::uint8_t>& m);
    bool take_reply(const std::vector<std::uint8_t>& m);

    TargetAuthConfig config_;
    nvmecuse::transport::dhchap::Secret host_key_;
    nvmecuse::transport::dhchap::Secret controller_key_;
    std::string host_nqn_;
    std::string subsystem_nqn_;
    Step step_ = Step::negotiate;
    AuthOutcome outcome_ = AuthOutcome::pending;
    std::uint16_t t_id_ = 0;
    std::uint32_t s1_ = 0;
    std::vector<std::uint8_t> c1_;
    std::optional<nvmecuse::transport::dhchap::DhKey> dh_;
    std::vector<std::uint8_t> session_key_;
    std::vector<std::uint8_t> controller_response_; ///< empty: the host did not ask
    std::uint8_t failure_reason_ = 0;
};

} // namespace tcp_test
