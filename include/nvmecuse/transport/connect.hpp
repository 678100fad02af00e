#pragma once

#include <expected>
#include <memory>
#include <string>
#include <system_error>

#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::transport {

/// Options of every transport kind; each reads its own.
struct ConnectOptions {
    tcp::TcpOptions tcp; ///< trtype:tcp (`nvme connect`'s options)
    std::size_t pcie_dma_limit = std::size_t{512} << 20; ///< trtype:pcie: DMA memory at most
};

/// Why connect() failed: the errno, and one line for the user.
struct ConnectError {
    std::error_code code;
    std::string message;
};

/// The one place a transport is chosen by `id.trtype` (the factory every
/// attach goes through): "tcp" → tcp::connect(); "pcie" → the function
/// through VFIO (pcie::open_vfio_function(), never unbinding a kernel
/// driver) and pcie::make_transport(). The Transport comes back
/// reachable (fabrics: the admin queue connected), not yet enabled: that is
/// ctrlr::Controller::start()'s. Errors: the transport's own, and
/// `protocol_not_supported` for a trtype no transport serves. Any thread;
/// blocks for the transport's connect bounds.
[[nodiscard]] std::expected<std::unique_ptr<Transport>, ConnectError>
connect(const TransportId& id, const ConnectOptions& options);

} // namespace nvmecuse::transport
