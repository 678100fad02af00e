// Discovery Log Page records for tests: NVM subsystem ports and referrals.
#pragma once

#include <string>

#include "nvmecuse/spec/discovery.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::testing {

/// A record of type `type` for `subnqn` at traddr:trsvcid.
inline nvme::DiscoveryLogEntry record(nvme::DiscoverySubsystemType type, const std::string& subnqn,
                                      const std::string& traddr, const std::string& trsvcid)
{
    nvme::DiscoveryLogEntry e{};
    e.trtype = static_cast<std::uint8_t>(nvme::TransportType::tcp);
    e.adrfam = static_cast<std::uint8_t>(nvme::AddressFamily::ipv4);
    e.subtype = static_cast<std::uint8_t>(type);
    e.cntlid = nvme::cntlid_dynamic;
    nvme::set_padded(e.trsvcid, trsvcid);
    nvme::set_padded(e.traddr, traddr);
    nvme::set_nul_padded(e.subnqn, subnqn);
    return e;
}

/// The NVM subsystem port `subnqn` at 192.0.2.7:4420.
inline nvme::DiscoveryLogEntry port(const std::string& subnqn)
{
    return record(nvme::DiscoverySubsystemType::nvm, subnqn, "192.0.2.7", "4420");
}

/// A referral to the discovery controller at traddr:8009.
inline nvme::DiscoveryLogEntry referral(const std::string& traddr)
{
    return record(nvme::DiscoverySubsystemType::referral, std::string(transport::discovery_nqn),
                  traddr, "8009");
}

} // namespace nvmecuse::testing
