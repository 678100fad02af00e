// SPDK-style transport ID strings (transport/transport_id.cpp): the fields,
// the defaults nvme-cli uses, and one clear error per malformed part.
#include <gtest/gtest.h>

#include <string>

#include "nvmecuse/transport/transport_id.hpp"

namespace {

using namespace nvmecuse::transport;

constexpr const char* subsystem = "nqn.2026-11.io.nvmecuse:target";

TEST(TransportId, ParsesEveryKey)
{
    const auto id = parse_transport_id(
        "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4421 "
        "subnqn:nqn.2026-11.io.nvmecuse:target "
        "hostnqn:nqn.2014-08.org.nvmexpress:uuid:0f8fad5b-d9cb-469f-a165-70867728950e "
        "hostid:0f8fad5b-d9cb-469f-a165-70867728950e");
    ASSERT_TRUE(id) << id.error();
    EXPECT_EQ(id->trtype, "tcp");
    EXPECT_EQ(id->adrfam, "ipv4");
    EXPECT_EQ(id->traddr, "127.0.0.1");
    EXPECT_EQ(id->trsvcid, "4421");
    EXPECT_EQ(id->subnqn, subsystem);
    EXPECT_EQ(id->hostnqn, "nqn.2014-08.org.nvmexpress:uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
    EXPECT_EQ(id->hostid, "0f8fad5b-d9cb-469f-a165-70867728950e");
    EXPECT_FALSE(id->is_discovery());
}

TEST(TransportId, KeysAreCaseInsensitiveAndTakeEitherSeparator)
{
    const auto id = parse_transport_id("  TRTYPE=TCP\tAdrFam:IPv4   traddr=10.0.0.1 TrSvcId=4420 "
                                       "SUBNQN:nqn.2026-11.io.nvmecuse:target  ");
    ASSERT_TRUE(id) << id.error();
    EXPECT_EQ(id->trtype, "tcp");
    EXPECT_EQ(id->adrfam, "ipv4");
    EXPECT_EQ(id->traddr, "10.0.0.1");
    EXPECT_EQ(id->subnqn, subsystem); // values other than trtype/adrfam keep their case
}

TEST(TransportId, FirstSeparatorSplits)
{
    const auto id = parse_transport_id("trtype:tcp traddr:::1 subnqn=nqn.2026-11.io.nvmecuse:a=b");
    ASSERT_TRUE(id) << id.error();
    EXPECT_EQ(id->traddr, "::1");
    EXPECT_EQ(id->subnqn, "nqn.2026-11.io.nvmecuse:a=b");
}

TEST(TransportId, DefaultsFollowNvmeCli)
{
    const auto io =
        parse_transport_id(std::string("trtype:tcp traddr:127.0.0.1 subnqn:") + subsystem);
    ASSERT_TRUE(io) << io.error();
    EXPECT_EQ(io->adrfam, "ipv4");
    EXPECT_EQ(io->trsvcid, "4420");

    const auto no_nqn = parse_transport_id("trtype:tcp traddr:127.0.0.1");
    ASSERT_TRUE(no_nqn) << no_nqn.error();
    EXPECT_TRUE(no_nqn->is_discovery());
    EXPECT_EQ(no_nqn->trsvcid, "8009");

    const auto disc = parse_transport_id(
        "trtype:tcp traddr:127.0.0.1 subnqn:nqn.2014-08.org.nvmexpress.discovery");
    ASSERT_TRUE(disc) << disc.error();
    EXPECT_TRUE(disc->is_discovery());
    EXPECT_EQ(disc->trsvcid, "8009");

    const auto v6 = parse_transport_id("trtype:tcp traddr:fe80::1");
    ASSERT_TRUE(v6) << v6.error();
    EXPECT_EQ(v6->adrfam, "ipv6");
}

TEST(TransportId, DiscoveryOnAnExplicitPort)
{
    const auto id = parse_transport_id("trtype:tcp traddr:127.0.0.1 trsvcid:4420");
    ASSERT_TRUE(id) << id.error();
    EXPECT_TRUE(id->is_discovery());
    EXPECT_EQ(id->trsvcid, "4420");
}

TEST(TransportId, Describe)
{
    TransportId id{.trtype = "tcp",
                   .adrfam = "ipv4",
                   .traddr = "127.0.0.1",
                   .trsvcid = "4420",
                   .subnqn = subsystem,
                   .hostnqn = {},
                   .hostid = {}};
    EXPECT_EQ(id.describe(), "tcp 127.0.0.1:4420 nqn.2026-11.io.nvmecuse:target");
    id.adrfam = "ipv6";
    id.traddr = "::1";
    id.trsvcid = "8009";
    id.subnqn.clear();
    EXPECT_EQ(id.describe(), "tcp [::1]:8009 nqn.2014-08.org.nvmexpress.discovery");
}

// expect_error TEXT FRAGMENT: parsing fails with a message naming FRAGMENT.
void expect_error(const std::string& text, const std::string& fragment)
{
    const auto id = parse_transport_id(text);
    ASSERT_FALSE(id) << "'" << text << "' parsed";
    EXPECT_NE(id.error().find(fragment), std::string::npos)
        << "'" << text << "': " << id.error() << " (expected it to name '" << fragment << "')";
}

TEST(TransportId, PcieTakesAPciAddressNormalized)
{
    const auto id = parse_transport_id("trtype:PCIe traddr:00:04.0");
    ASSERT_TRUE(id) << id.error();
    EXPECT_EQ(id->trtype, "pcie");
    EXPECT_EQ(id->traddr, "0000:00:04.0");
    EXPECT_EQ(id->describe(), "pcie 0000:00:04.0");
    EXPECT_FALSE(id->is_discovery()) << "no subnqn, yet no discovery controller";
    EXPECT_EQ(normalize_bdf("0000:3B:00.1"), "0000:3b:00.1");
    EXPECT_EQ(normalize_bdf("3b:00.1"), "0000:3b:00.1");
    EXPECT_EQ(normalize_bdf("0000:3b:00"), "");
    EXPECT_EQ(normalize_bdf("localhost"), "");
}

TEST(TransportId, Errors)
{
    expect_error("", "empty");
    expect_error("   ", "empty");
    expect_error("traddr:127.0.0.1", "trtype is missing");
    expect_error("trtype:tcp", "traddr is missing");
    expect_error("trtype:rdma traddr:1.2.3.4", "trtype 'rdma'");
    expect_error("trtype:pcie traddr:00:03", "not a PCI address");
    expect_error("trtype:pcie traddr:0000:00:03.g", "not a PCI address");
    expect_error("trtype:pcie traddr:0000:00:03.0 subnqn:nqn.x", "traddr only");
    expect_error("trtype:tcp traddr:1.2.3.4 adrfam:ib", "adrfam 'ib'");
    expect_error("trtype:tcp traddr:1.2.3.4 foo:bar", "unknown key 'foo'");
    expect_error("trtype:tcp traddr:1.2.3.4 trsvcid", "'trsvcid' is not key:value");
    expect_error("trtype:tcp traddr:1.2.3.4 :4420", "has no key");
    expect_error("trtype:tcp traddr:", "traddr has an empty value");
    expect_error("trtype:tcp traddr:1.2.3.4 TRADDR:5.6.7.8", "traddr is given twice");
    expect_error("trtype:tcp traddr:1.2.3.4 trsvcid:0", "trsvcid '0'");
    expect_error("trtype:tcp traddr:1.2.3.4 trsvcid:65536", "trsvcid '65536'");
    expect_error("trtype:tcp traddr:1.2.3.4 trsvcid:44x", "trsvcid '44x'");
    expect_error("trtype:tcp traddr:1.2.3.4 trsvcid:-1", "trsvcid '-1'");
    expect_error("trtype:tcp traddr:1.2.3.4 hostid:not-a-uuid", "hostid 'not-a-uuid'");
    // The offending input is quoted whole.
    expect_error("trtype:tcp traddr:1.2.3.4 x:y", "'trtype:tcp traddr:1.2.3.4 x:y'");
}

TEST(TransportId, NqnLength)
{
    const std::string prefix = "nqn.2026-11.io.nvmecuse:";
    const std::string longest = prefix + std::string(max_nqn_length - prefix.size(), 'x');
    const auto ok = parse_transport_id("trtype:tcp traddr:1.2.3.4 subnqn:" + longest);
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->subnqn.size(), 223u);
    expect_error("trtype:tcp traddr:1.2.3.4 subnqn:" + longest + "x", "subnqn is 224 bytes long");
    expect_error("trtype:tcp traddr:1.2.3.4 hostnqn:" + longest + "x", "hostnqn is 224 bytes long");
}

TEST(HostId, ParsesUuidText)
{
    const auto id = parse_host_id("0F8FAD5B-d9cb-469f-a165-70867728950e");
    ASSERT_TRUE(id) << id.error();
    const std::array<std::uint8_t, 16> expected{0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f,
                                                0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e};
    EXPECT_EQ(*id, expected);
}

TEST(HostId, RefusesMalformedText)
{
    for (const char* bad :
         {"", "0f8fad5b-d9cb-469f-a165-70867728950", // one digit short
          "0f8fad5b-d9cb-469f-a165-70867728950e0", "0f8fad5bxd9cb-469f-a165-70867728950e",
          "0f8fad5b-d9cb-469f-a165-70867728950g", "0f8fad5bd9cb469fa16570867728950e"}) {
        const auto id = parse_host_id(bad);
        EXPECT_FALSE(id) << bad;
        if (!id) {
            EXPECT_NE(id.error().find("not a UUID"), std::string::npos) << id.error();
        }
    }
}

} // namespace
