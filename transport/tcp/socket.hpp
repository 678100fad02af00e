// Sockets for the NVMe/TCP host: address
// resolution and a non-blocking TCP connect bounded by a deadline.
// Any thread; nothing here is shared.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "nvmecuse/transport/unique_fd.hpp"

namespace nvmecuse::transport::tcp {

using Clock = std::chrono::steady_clock;

/// A resolved peer address.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    [[nodiscard]] std::string to_string() const; ///< "127.0.0.1:4420", "[::1]:4420"
};

/// Resolves `traddr`/`trsvcid` (numeric port) for `adrfam` ("ipv4", "ipv6",
/// empty = either). Errors: invalid_argument for a bad port or family; when
/// the name does not resolve, getaddrinfo's EAI_* code in resolver_category()
/// (tcp_transport.hpp)
/// (errno for EAI_SYSTEM).
[[nodiscard]] std::expected<SocketAddress, std::error_code>
resolve(std::string_view traddr, std::string_view trsvcid, std::string_view adrfam);

/// Opens a non-blocking TCP connection with TCP_NODELAY, waiting for the
/// handshake until `deadline`. Errors: connection_refused, host_unreachable
/// (also network unreachable), timed_out, or the socket call's errno.
[[nodiscard]] std::expected<UniqueFd, std::error_code> connect_tcp(const SocketAddress& address,
                                                                   Clock::time_point deadline);

/// Milliseconds until `deadline` for poll(2): 0 when past, at least 1 otherwise.
[[nodiscard]] int poll_timeout_ms(Clock::time_point deadline) noexcept;

} // namespace nvmecuse::transport::tcp
