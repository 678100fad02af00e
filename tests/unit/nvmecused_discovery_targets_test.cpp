// nvmecused's discovery_targets(): which controllers one Discovery Log Page
// makes --attach bring up, and the cap on them (issue 21, item 3);
// merged_targets(): those of the logs its referrals reach added, under the
// same cap.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"

#include "service/discovery_targets.hpp"

namespace nvmecuse::service {
namespace {

using transport::TransportId;
using ctrlr::DiscoveredSubsystem;

constexpr auto nvm = static_cast<std::uint8_t>(nvme::DiscoverySubsystemType::nvm);

DiscoveredSubsystem record(std::uint8_t subtype, std::string traddr, std::string subnqn,
                           std::string trsvcid = "4420")
{
    DiscoveredSubsystem r;
    r.subtype = subtype;
    r.id.trtype = "tcp";
    r.id.adrfam = "ipv4";
    r.id.traddr = std::move(traddr);
    r.id.trsvcid = std::move(trsvcid);
    r.id.subnqn = std::move(subnqn);
    return r;
}

TransportId discovery_controller()
{
    TransportId id;
    id.trtype = "tcp";
    id.traddr = "192.0.2.1";
    id.trsvcid = "8009";
    id.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:host";
    id.hostid = "11111111-2222-3333-4444-555555555555";
    return id;
}

/// A log of `n` distinct NVM subsystem ports.
std::vector<DiscoveredSubsystem> many(std::size_t n)
{
    std::vector<DiscoveredSubsystem> out;
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(record(nvm, "192.0.2.2", "nqn.test:" + std::to_string(i)));
    return out;
}

TEST(DiscoveryTargets, ALogOf4096RecordsAttachesAtMostTheCap)
{
    const auto records = many(4096);
    const auto found = discovery_targets(discovery_controller(), records);
    ASSERT_EQ(found.targets.size(), max_discovered_controllers);
    EXPECT_EQ(found.dropped, 4096 - max_discovered_controllers);
    EXPECT_EQ(found.targets.front().subnqn, "nqn.test:0"); // the first ones, in log order
    EXPECT_EQ(found.targets.back().subnqn,
              "nqn.test:" + std::to_string(max_discovered_controllers - 1));
}

TEST(DiscoveryTargets, CapIsSixtyFourAndCountsDistinctPortsOnly)
{
    EXPECT_EQ(max_discovered_controllers, 64u);
    auto records = many(max_discovered_controllers);
    records.push_back(records.front()); // a duplicate is not dropped past the cap: it is no port
    const auto found = discovery_targets(discovery_controller(), records);
    EXPECT_EQ(found.targets.size(), max_discovered_controllers);
    EXPECT_EQ(found.dropped, 0u);
}

TEST(DiscoveryTargets, ASmallerCapCanBeGiven)
{
    const auto records = many(10);
    const auto found = discovery_targets(discovery_controller(), records, 3);
    EXPECT_EQ(found.targets.size(), 3u);
    EXPECT_EQ(found.dropped, 7u);
}

TEST(DiscoveryTargets, KeepsNvmSubsystemsOnlyWithoutDuplicatesAndTheHostIdentity)
{
    const std::vector<DiscoveredSubsystem> records{
        record(nvm, "192.0.2.2", "nqn.test:a"),
        record(3, "192.0.2.1", std::string(nvmecuse::transport::discovery_nqn), "8009"),
        record(1, "192.0.2.9", std::string(nvmecuse::transport::discovery_nqn), "8009"),
        record(nvm, "192.0.2.2", "nqn.test:a"),         // same port again
        record(nvm, "192.0.2.3", "nqn.test:a"),         // another port of it
        record(nvm, "192.0.2.2", "nqn.test:a", "4421"), // another service id
    };
    const auto found = discovery_targets(discovery_controller(), records);
    ASSERT_EQ(found.targets.size(), 3u);
    EXPECT_EQ(found.dropped, 0u);
    EXPECT_EQ(found.targets[0].traddr, "192.0.2.2");
    EXPECT_EQ(found.targets[1].traddr, "192.0.2.3");
    EXPECT_EQ(found.targets[2].trsvcid, "4421");
    for (const auto& t : found.targets) {
        EXPECT_EQ(t.hostnqn, discovery_controller().hostnqn);
        EXPECT_EQ(t.hostid, discovery_controller().hostid);
    }
}

TEST(MergedTargets, AddsTheReferredLogsPortsNotListedYetUpToTheCap)
{
    std::vector<TransportId> first;
    for (const auto& r : many(3))
        first.push_back(r.id);
    std::vector<TransportId> referred{first[1]}; // listed by both: once
    for (const auto& r : many(6))
        referred.push_back(r.id);
    referred.push_back(record(nvm, "192.0.2.2", "nqn.test:0", "4421").id); // another port
    const auto merged = merged_targets(first, referred, 5);
    ASSERT_EQ(merged.targets.size(), 5u);
    EXPECT_EQ(merged.targets[2].subnqn, "nqn.test:2"); // the first log's, first
    EXPECT_EQ(merged.targets[3].subnqn, "nqn.test:3");
    EXPECT_EQ(merged.targets[4].subnqn, "nqn.test:4");
    EXPECT_EQ(merged.dropped, 2u); // nqn.test:5 and the other port of nqn.test:0
}

} // namespace
} // namespace nvmecuse::service
