// rpc::discovery_log_json(): a Discovery Log Page in nvme discover -o
// json's shape, with the names Debian 12's libnvme (1.3) gives each value.
#include "rpc/discovery_log_json.hpp"

#include <gtest/gtest.h>

namespace {

using nlohmann::json;
using nvmecuse::ctrlr::DiscoveredSubsystem;
using nvmecuse::ctrlr::DiscoveryLog;

DiscoveredSubsystem tcp_record()
{
    DiscoveredSubsystem r;
    r.subtype = 2;
    r.id.trtype = "tcp";
    r.id.adrfam = "ipv4";
    r.id.traddr = "192.0.2.7";
    r.id.trsvcid = "4420";
    r.id.subnqn = "nqn.2026-12.io.example:a";
    return r;
}

TEST(DiscoveryLogJson, CarriesTheGenerationCounterAndEveryFieldNvmeDiscoverPrints)
{
    auto r = tcp_record();
    r.treq = 0x4; // SQ flow control disable, secure channel not specified
    r.portid = 9;
    r.eflags = 0x3; // DUPRETINFO | EPCSD
    r.sectype = 2;
    const auto out = nvmecuse::rpc::discovery_log_json(DiscoveryLog{.genctr = 41, .records = {r}});
    EXPECT_EQ(out, (json{{"genctr", 41},
                         {"records",
                          json::array({{{"trtype", "tcp"},
                                        {"adrfam", "ipv4"},
                                        {"subtype", "nvme subsystem"},
                                        {"treq", "not specified, sq flow control disable supported"},
                                        {"portid", 9},
                                        {"trsvcid", "4420"},
                                        {"subnqn", "nqn.2026-12.io.example:a"},
                                        {"traddr", "192.0.2.7"},
                                        {"eflags", "explicit discovery connections, duplicate "
                                                   "discovery information"},
                                        {"sectype", "tls13"}}})}}));
}

TEST(DiscoveryLogJson, NamesEachValueAsLibnvmeAndUnrecognizedPastItsTables)
{
    const auto name_of = [](auto set) {
        auto r = tcp_record();
        set(r);
        return nvmecuse::rpc::discovery_log_json(DiscoveryLog{.records = {r}})["records"][0];
    };
    EXPECT_EQ(name_of([](auto& r) { r.subtype = 1; })["subtype"], "discovery subsystem referral");
    EXPECT_EQ(name_of([](auto& r) { r.subtype = 3; })["subtype"], "current discovery subsystem");
    EXPECT_EQ(name_of([](auto& r) { r.subtype = 0; })["subtype"], "unrecognized");
    EXPECT_EQ(name_of([](auto& r) { r.subtype = 4; })["subtype"], "unrecognized");
    EXPECT_EQ(name_of([](auto& r) { r.treq = 1; })["treq"], "required");
    EXPECT_EQ(name_of([](auto& r) { r.treq = 2; })["treq"], "not required");
    EXPECT_EQ(name_of([](auto& r) { r.treq = 3; })["treq"], "unrecognized"); // reserved
    EXPECT_EQ(name_of([](auto& r) { r.treq = 6; })["treq"], "unrecognized"); // 1.3 has no name
    EXPECT_EQ(name_of([](auto& r) { r.eflags = 0; })["eflags"], "none");
    EXPECT_EQ(name_of([](auto& r) { r.eflags = 4; })["eflags"], "no cdc connectivity");
    EXPECT_EQ(name_of([](auto& r) { r.eflags = 8; })["eflags"], "unrecognized");
    EXPECT_EQ(name_of([](auto& r) { r.sectype = 1; })["sectype"], "tls");
    EXPECT_EQ(name_of([](auto& r) { r.sectype = 3; })["sectype"], "unrecognized");
}

TEST(DiscoveryLogJson, SectypeIsListedForTcpRecordsOnly)
{
    auto r = tcp_record();
    r.id.trtype = "rdma";
    const auto out = nvmecuse::rpc::discovery_log_json(DiscoveryLog{.records = {r}});
    EXPECT_FALSE(out["records"][0].contains("sectype"));
    EXPECT_TRUE(nvmecuse::rpc::discovery_log_json(DiscoveryLog{.records = {tcp_record()}})["records"][0]
                    .contains("sectype"));
}

} // namespace
