// The host's side of NVMe in-band authentication on one queue, after its
// Fabrics Connect answered AUTHREQ (NVMe Base 2.0, 8.13.5 "DH-HMAC-CHAP
// Protocol", 6.1/6.2 Authentication Receive/Send): AUTH_Negotiate,
// DH-HMAC-CHAP_Challenge, _Reply, _Success1 and, when the host authenticates
// the controller too, _Success2; AUTH_Failure2 when the host gives up,
// AUTH_Failure1 from the controller when it refuses. As Linux
// drivers/nvme/host/auth.c does it, every queue of an association
// authenticates on its own.
//
// Threading: the thread that owns the queue (the transport's connect path).
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "nvmecuse/transport/dhchap/secret.hpp"

#include "queue.hpp"

namespace nvmecuse::transport::tcp {

/// The secrets of a controller, parsed (TcpOptions has their text).
struct DhchapKeys {
    dhchap::Secret host;       ///< --dhchap-secret; empty: none
    dhchap::Secret controller; ///< --dhchap-ctrl-secret; empty: unidirectional
};

/// Who is authenticating what, for the responses and the log.
struct AuthenticationTarget {
    std::string_view host_nqn;
    std::string_view subsystem_nqn;
    std::string_view name; ///< the controller's name in log messages
};

/// What a transaction needs of its queue: an Authentication Send or
/// Receive, executed to its completion. TcpQueue::execute() with the
/// transaction's deadline (authenticate() below); a scripted controller in
/// the fuzz target (tests/fuzz/dhchap_host_fuzz.cpp).
class AuthenticationChannel {
public:
    virtual ~AuthenticationChannel() = default;
    [[nodiscard]] virtual std::uint16_t qid() const = 0;
    [[nodiscard]] virtual std::expected<nvme::CompletionQueueEntry, std::error_code>
    execute(const nvme::SubmissionQueueEntry& sqe, nvme::DataTransfer direction,
            std::span<std::byte> data) = 0;
};

/// Runs one DH-HMAC-CHAP transaction with id `transaction` on `channel`
/// (its queue's Connect done). Errors:
/// key_not_available (ENOKEY, as the kernel) when the controller asks for
/// authentication and no --dhchap-secret was given; EKEYREJECTED (as the
/// kernel's host in Linux 6.12: "Key was rejected by service") when
/// the controller refuses the host (AUTH_Failure1, or the connection
/// closing while the controller checks the host's response) or the controller's
/// response does not match --dhchap-ctrl-secret (the host then sends
/// AUTH_Failure2); protocol_error for a malformed or unexpected message;
/// the queue's error if it fails. Every failure is logged with its reason.
[[nodiscard]] std::expected<void, std::error_code>
authenticate(AuthenticationChannel& channel, const DhchapKeys& keys, const AuthenticationTarget& who,
             std::uint16_t transaction);

/// The same on `queue`, each command bounded by `deadline`.
[[nodiscard]] std::expected<void, std::error_code>
authenticate(TcpQueue& queue, const DhchapKeys& keys, const AuthenticationTarget& who,
             std::uint16_t transaction, Clock::time_point deadline);

} // namespace nvmecuse::transport::tcp
