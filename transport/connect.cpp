// transport::connect(): the transport factory, by trtype.
#include "nvmecuse/transport/connect.hpp"

namespace nvmecuse::transport {

std::expected<std::unique_ptr<Transport>, std::error_code> connect(const TransportId& id,
                                                                   const ConnectOptions& options)
{
    if (id.trtype == "tcp") return tcp::connect(id, options.tcp);
    return std::unexpected(std::make_error_code(std::errc::protocol_not_supported));
}

} // namespace nvmecuse::transport
