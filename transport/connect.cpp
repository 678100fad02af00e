// transport::connect(): the transport factory, by trtype.
#include "nvmecuse/transport/connect.hpp"

#include "nvmecuse/transport/pcie/pcie_transport.hpp"
#include "nvmecuse/transport/pcie/vfio_function.hpp"

namespace nvmecuse::transport {

std::expected<std::unique_ptr<Transport>, ConnectError> connect(const TransportId& id,
                                                                const ConnectOptions& options)
{
    if (id.trtype == "tcp") {
        auto t = tcp::connect(id, options.tcp);
        if (!t) return std::unexpected(ConnectError{t.error(), t.error().message()});
        return std::move(*t);
    }
    if (id.trtype == "pcie") {
        auto function = pcie::open_vfio_function(id.traddr, options.pcie_dma_limit);
        if (!function)
            return std::unexpected(ConnectError{function.error().code, function.error().message});
        return pcie::make_transport(std::move(*function));
    }
    const auto code = std::make_error_code(std::errc::protocol_not_supported);
    return std::unexpected(ConnectError{code, "trtype '" + id.trtype + "': " + code.message()});
}

} // namespace nvmecuse::transport
