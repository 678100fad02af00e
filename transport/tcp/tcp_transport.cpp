// nvmecuse::transport::tcp::connect() and discover(): the NVMe/TCP host's
// entry points. First slice: they link and refuse; the transport follows.
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

namespace nvmecuse::transport::tcp {

std::expected<std::unique_ptr<Transport>, std::error_code> connect(const TransportId& id,
                                                                   const TcpOptions& options)
{
    (void)options;
    if (id.trtype != "tcp")
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return std::unexpected(std::make_error_code(std::errc::function_not_supported));
}

std::expected<std::vector<DiscoveredSubsystem>, std::error_code> discover(const TransportId& id,
                                                                          const TcpOptions& options)
{
    (void)options;
    if (id.trtype != "tcp")
        return std::unexpected(std::make_error_code(std::errc::invalid_argument));
    return std::unexpected(std::make_error_code(std::errc::function_not_supported));
}

} // namespace nvmecuse::transport::tcp
