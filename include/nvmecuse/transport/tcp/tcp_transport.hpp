#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nvmecuse/transport/transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

/// The NVMe/TCP host: reaches a controller of a remote (or local nvmet)
/// subsystem over TCP (NVMe/TCP Transport Specification 1.0, NVMe-oF 1.1).
namespace nvmecuse::transport::tcp {

/// The category of getaddrinfo(3)'s EAI_* codes, the error of a traddr
/// that does not resolve: message() is "cannot resolve the address: " and
/// gai_strerror(3)'s text. Any thread.
[[nodiscard]] const std::error_category& resolver_category() noexcept;

/// Connection and recovery settings, named after the kernel's nvme-fabrics
/// options (`nvme connect --kato --reconnect-delay --ctrl-loss-tmo
/// --fast_io_fail_tmo --hdr-digest --data-digest --nr-io-queues --queue-size`).
struct TcpOptions {
    std::string hostnqn;                          ///< empty: derived from the host id
    std::array<std::uint8_t, 16> hostid{};        ///< all zero: generated once per process
    std::chrono::milliseconds kato{5'000};        ///< Keep Alive Timeout; Keep Alive sent at KATO/2
    /// The caller gave `kato` (nvme connect -k). Without it a persistent
    /// discovery controller uses nvme-cli's default for those instead
    /// (service::persistent_discovery_kato).
    bool kato_set = false;
    /// Bound of each connection step (TCP handshake, ICReq/ICResp, each
    /// Fabrics command while connecting), not of the whole sequence.
    std::chrono::milliseconds connect_timeout{3'000};
    /// Recovery after a lost connection, done by the controller core
    /// (ctrlr::Controller::Options, filled from these by nvmecused): a
    /// reconnect attempt every reconnect_delay; after ctrl_loss_tmo
    /// (negative: never) the controller gives up; fast_io_fail_tmo is kept
    /// for nvme connect's sake and changes nothing for passthrough (see
    /// ctrlr::Controller::Options).
    std::chrono::seconds reconnect_delay{10};
    std::chrono::seconds ctrl_loss_tmo{600};
    std::chrono::seconds fast_io_fail_tmo{-1};
    bool header_digest = false;                   ///< asked for in ICReq; the controller decides
    bool data_digest = false;                     ///< asked for in ICReq; the controller decides
    std::uint16_t io_queues = 1;                  ///< TransportInfo::max_io_queues
    std::uint16_t queue_size = 128;               ///< I/O queue depth cap (also CAP.MQES + 1, 1024)
    /// In-band authentication (DH-HMAC-CHAP, NVMe Base 2.0, 8.13), as
    /// `nvme connect --dhchap-secret --dhchap-ctrl-secret`: the host's secret,
    /// used when the controller asks for authentication after Connect, and
    /// the controller's, which makes it bidirectional (the host checks the
    /// controller's response too). "DHHC-1:<hh>:<base64>:" as `nvme
    /// gen-dhchap-key` writes them; empty: none.
    std::string dhchap_secret;
    std::string dhchap_ctrl_secret;
    /// `nvme connect-all --persistent`, for a discovery controller only:
    /// it stays connected with Keep Alive (kato) and its Discovery Log Page
    /// Change events are followed, attaching the subsystems that appear and
    /// detaching the ones that leave (nvmecused's service layer). The
    /// transport itself ignores it.
    bool persistent = false;
};

/// Checks a DH-HMAC-CHAP secret's representation ("DHHC-1:<hh>:<base64 of
/// key and CRC-32>:"); the error says what is wrong, never the secret. Any thread.
[[nodiscard]] std::expected<void, std::string> check_dhchap_secret(std::string_view text);

/// The Host NQN a connection to `id` with `options` sends in Fabrics
/// Connect: id's hostnqn, the options', or the UUID-based NQN of the host
/// identifier (id's, the options', the process's); empty for an id whose
/// hostid does not parse. Any thread.
[[nodiscard]] std::string effective_host_nqn(const TransportId& id, const TcpOptions& options);

/// Connects the admin queue of the controller `id` names (TCP connect,
/// ICReq/ICResp, Fabrics Connect) and returns it as a Transport that
/// ctrlr::Controller::start() then enables through Property Get/Set. Errors:
/// connection_refused / host_unreachable / timed_out when the target cannot
/// be reached (connection_refused also when the Fabrics Connect is refused),
/// protocol_error for a target that breaks the protocol, invalid_argument
/// for an id that is not tcp or a secret that does not parse. When the
/// controller requires in-band authentication (AUTHREQ in the Connect
/// response), every queue runs DH-HMAC-CHAP: ENOKEY without a
/// dhchap_secret, EKEYREJECTED when either side's response is wrong
/// (the log says which), operation_not_supported when it asks for secure
/// channel concatenation (TLS). Any thread; blocks for at most a few
/// connect_timeout periods. An empty trsvcid means 4420 (8009 for a
/// discovery controller).
///
/// The Transport then belongs to the controller's owner thread: submit() and
/// reap() never block; connect_admin() (after a disconnect()) and
/// create_io_queue() wait synchronously for bounded times (connect_timeout
/// per step). A lost connection (peer gone, protocol error, or the core's
/// Keep Alive unanswered for KATO: fail_connection())
/// drops every queue of the association: outstanding commands complete with
/// Command Aborted By Host (SCT 3h, SC 71h), later submissions fail with
/// not_connected until disconnect() + connect_admin() reconnect; connection_lost() turns
/// true and event_fd() readable so the core learns of it.
[[nodiscard]] std::expected<std::unique_ptr<Transport>, std::error_code>
connect(const TransportId& id, const TcpOptions& options);

} // namespace nvmecuse::transport::tcp
