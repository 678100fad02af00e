// discovery_targets(): a Discovery Log Page's records to the controllers
// to attach, capped (discovery_targets.hpp).
#include "discovery_targets.hpp"

#include <set>
#include <string>
#include <tuple>

#include "nvmecuse/spec/discovery.hpp"

namespace nvmecuse::service {

using transport::TransportId;

DiscoveryTargets
discovery_targets(const TransportId& discovery,
                  std::span<const ctrlr::DiscoveredSubsystem> records,
                  std::size_t max)
{
    DiscoveryTargets out;
    std::set<std::tuple<std::string, std::string, std::string>> seen;
    for (const auto& record : records) {
        if (record.subtype != static_cast<std::uint8_t>(nvme::DiscoverySubsystemType::nvm))
            continue;
        if (!seen.emplace(record.id.traddr, record.id.trsvcid, record.id.subnqn).second) continue;
        if (out.targets.size() == max) {
            ++out.dropped;
            continue;
        }
        TransportId target = record.id;
        target.hostnqn = discovery.hostnqn;
        target.hostid = discovery.hostid;
        out.targets.push_back(std::move(target));
    }
    return out;
}

DiscoveryTargets merged_targets(std::vector<TransportId> ports, std::span<const TransportId> more,
                                std::size_t max)
{
    DiscoveryTargets out;
    std::set<std::tuple<std::string, std::string, std::string>> seen;
    for (const auto& port : ports)
        seen.emplace(port.traddr, port.trsvcid, port.subnqn);
    out.targets = std::move(ports);
    for (const auto& port : more) {
        if (!seen.emplace(port.traddr, port.trsvcid, port.subnqn).second) continue;
        if (out.targets.size() >= max) {
            ++out.dropped;
            continue;
        }
        out.targets.push_back(port);
    }
    return out;
}

} // namespace nvmecuse::service
