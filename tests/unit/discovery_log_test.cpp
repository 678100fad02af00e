// The Discovery Log Page (spec/discovery.hpp) and its entries as transport
// IDs (transport/discovery_records.cpp): layout facts checked byte by byte,
// padded fields trimmed, malformed pages and entries refused.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"
#include "nvmecuse/transport/discovery_records.hpp"

namespace {

using namespace nvmecuse::transport;

nvme::DiscoveryLogEntry tcp_entry(const std::string& traddr, const std::string& trsvcid,
                                  const std::string& subnqn)
{
    nvme::DiscoveryLogEntry e{};
    e.trtype = static_cast<uint8_t>(nvme::TransportType::tcp);
    e.adrfam = static_cast<uint8_t>(nvme::AddressFamily::ipv4);
    e.subtype = static_cast<uint8_t>(nvme::DiscoverySubsystemType::nvm);
    e.portid = 1;
    e.cntlid = nvme::cntlid_dynamic;
    e.asqsz = 32;
    nvme::set_padded(e.trsvcid, trsvcid);
    nvme::set_padded(e.traddr, traddr);
    nvme::set_nul_padded(e.subnqn, subnqn);
    return e;
}

std::vector<std::byte> page_of(const std::vector<nvme::DiscoveryLogEntry>& entries, uint64_t numrec,
                               uint16_t recfmt = 0)
{
    nvme::DiscoveryLogHeader header{};
    header.genctr = 7;
    header.numrec = numrec;
    header.recfmt = recfmt;
    std::vector<std::byte> page(sizeof header + entries.size() * sizeof(nvme::DiscoveryLogEntry));
    std::memcpy(page.data(), &header, sizeof header);
    if (!entries.empty())
        std::memcpy(page.data() + sizeof header, entries.data(),
                    entries.size() * sizeof(nvme::DiscoveryLogEntry));
    return page;
}

TEST(DiscoveryLog, WireLayout)
{
    nvme::DiscoveryLogEntry e = tcp_entry("127.0.0.1", "4420", "nqn.x");
    e.portid = 0x0201;
    e.eflags = nvme::eflags::epcsd;
    e.treq = static_cast<uint8_t>(
        nvme::treq::SecureChannel::make(nvme::treq::secure_channel_not_required) |
        nvme::treq::sq_flow_control_disable);
    std::array<uint8_t, 1024> raw{};
    std::memcpy(raw.data(), &e, raw.size());
    EXPECT_EQ(raw[0], 3);    // TRTYPE TCP
    EXPECT_EQ(raw[1], 1);    // ADRFAM IPv4
    EXPECT_EQ(raw[2], 2);    // SUBTYPE NVM subsystem
    EXPECT_EQ(raw[3], 0x06); // TREQ: not required, SQ flow control disable
    EXPECT_EQ(raw[4], 0x01);
    EXPECT_EQ(raw[5], 0x02); // PORTID little endian
    EXPECT_EQ(raw[6], 0xff);
    EXPECT_EQ(raw[7], 0xff);  // CNTLID dynamic
    EXPECT_EQ(raw[8], 32);    // ASQSZ
    EXPECT_EQ(raw[10], 0x02); // EFLAGS EPCSD
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&raw[32]), 5), "4420 ");
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&raw[256]), 6), std::string("nqn.x\0", 6));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&raw[512]), 10), "127.0.0.1 ");
}

TEST(DiscoveryLog, EntriesOfAPage)
{
    const auto page = page_of(
        {tcp_entry("10.0.0.1", "4420", "nqn.a"), tcp_entry("10.0.0.2", "4421", "nqn.b")}, 2);
    const auto entries = discovery_log_entries(page);
    ASSERT_TRUE(entries) << entries.error();
    ASSERT_EQ(entries->size(), 2u);
    EXPECT_EQ(nvme::trimmed((*entries)[1].traddr), "10.0.0.2");

    // A page read in full may hold more room than records.
    const auto fewer = discovery_log_entries(page_of({tcp_entry("10.0.0.1", "4420", "nqn.a")}, 0));
    ASSERT_TRUE(fewer) << fewer.error();
    EXPECT_TRUE(fewer->empty());
}

TEST(DiscoveryLog, MalformedPages)
{
    const std::vector<std::byte> short_page(1023);
    ASSERT_FALSE(discovery_log_entries(short_page));
    EXPECT_NE(discovery_log_entries(short_page).error().find("shorter than its 1024-byte header"),
              std::string::npos);

    const auto truncated = discovery_log_entries(page_of({tcp_entry("1.2.3.4", "4420", "n")}, 2));
    ASSERT_FALSE(truncated);
    EXPECT_NE(truncated.error().find("2 records announced"), std::string::npos)
        << truncated.error();

    const auto recfmt = discovery_log_entries(page_of({}, 0, 1));
    ASSERT_FALSE(recfmt);
    EXPECT_NE(recfmt.error().find("record format 1"), std::string::npos) << recfmt.error();
}

TEST(DiscoveryLog, EntryToTransportId)
{
    const auto id = transport_id_of(tcp_entry("192.168.1.7", "4420", "nqn.2026-11.io.nvmecuse:t"));
    ASSERT_TRUE(id) << id.error();
    EXPECT_EQ(id->trtype, "tcp");
    EXPECT_EQ(id->adrfam, "ipv4");
    EXPECT_EQ(id->traddr, "192.168.1.7");
    EXPECT_EQ(id->trsvcid, "4420");
    EXPECT_EQ(id->subnqn, "nqn.2026-11.io.nvmecuse:t");
    EXPECT_TRUE(id->hostnqn.empty());

    auto v6 = tcp_entry("fd00::7", "8009", std::string(discovery_nqn));
    v6.adrfam = static_cast<uint8_t>(nvme::AddressFamily::ipv6);
    const auto id6 = transport_id_of(v6);
    ASSERT_TRUE(id6) << id6.error();
    EXPECT_EQ(id6->adrfam, "ipv6");
    EXPECT_TRUE(id6->is_discovery());
    EXPECT_EQ(id6->describe(), "tcp [fd00::7]:8009 nqn.2014-08.org.nvmexpress.discovery");
}

TEST(DiscoveryLog, EntriesThatCannotBeAttached)
{
    auto expect_refused = [](const nvme::DiscoveryLogEntry& e, const std::string& fragment) {
        const auto id = transport_id_of(e);
        ASSERT_FALSE(id);
        EXPECT_NE(id.error().find(fragment), std::string::npos) << id.error();
    };
    auto rdma = tcp_entry("1.2.3.4", "4420", "nqn.a");
    rdma.trtype = static_cast<uint8_t>(nvme::TransportType::rdma);
    expect_refused(rdma, "transport type 1");
    auto fc = tcp_entry("1.2.3.4", "4420", "nqn.a");
    fc.adrfam = static_cast<uint8_t>(nvme::AddressFamily::fibre_channel);
    expect_refused(fc, "address family 4");
    expect_refused(tcp_entry("", "4420", "nqn.a"), "empty TRADDR");
    expect_refused(tcp_entry("1.2.3.4", "port", "nqn.a"), "TRSVCID");
    expect_refused(tcp_entry("1.2.3.4", "4420", ""), "empty SUBNQN");
}

} // namespace
