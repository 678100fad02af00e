// One discovery controller's log, read and let go (discovery_log.hpp).
#include "nvmecuse/service/discovery_log.hpp"

#include <fmt/format.h>

#include "attach.hpp"

namespace nvmecuse::service {

std::expected<ctrlr::DiscoveryLog, ManagerError>
read_discovery_log(const transport::TransportId& id, transport::tcp::TcpOptions tcp)
{
    using Kind = ManagerError::Kind;
    if (id.trtype != "tcp" || !id.is_discovery())
        return std::unexpected(ManagerError{
            Kind::invalid, fmt::format("{}: not a discovery controller (an NVMe/TCP transport "
                                       "ID without subnqn, or with the discovery NQN)",
                                       id.describe())});
    tcp.persistent = false; // one association, over once the log is read
    auto discovery = connect_discovery(id, tcp);
    if (!discovery)
        return std::unexpected(
            ManagerError{Kind::failed, std::move(discovery.error().message), discovery.error().unreachable});
    auto log = ctrlr::read_discovery_log(**discovery);
    if (!log)
        return std::unexpected(ManagerError{
            Kind::failed, fmt::format("{}: discovery: {}", id.describe(), log.error().message())});
    return std::move(*log);
}

} // namespace nvmecuse::service
