// Fabrics command capsules (spec/fabrics.hpp) and the NVMe/TCP host's
// builders: byte offsets from NVMe Base 2.0 Figures 545-553 and NVMe-oF 1.1
// Figures 19-21, checked on the wire bytes rather than through the structs.
#include <gtest/gtest.h>

#include <cstring>

#include "nvmecuse/spec/fabrics.hpp"

#include "transport/tcp/fabrics_commands.hpp"

namespace {

using namespace nvmecuse::transport::tcp;

std::array<std::uint8_t, 64> bytes_of(const nvme::SubmissionQueueEntry& sqe)
{
    std::array<std::uint8_t, 64> b{};
    std::memcpy(b.data(), &sqe, sizeof sqe);
    return b;
}

std::uint32_t le32(const std::uint8_t* p)
{
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}

TEST(TcpFabricsCommands, AuthenticationSendAndReceiveCarryDhchapAndTheLength)
{
    // Linux struct nvmf_auth_send_command: resv3, SPSP0, SPSP1, SECP at
    // bytes 40..43, TL (AL for Receive) at 44.
    const auto send = bytes_of(authentication_send(72));
    EXPECT_EQ(send[0], 0x7f);
    EXPECT_EQ(send[4], 0x05); // FCTYPE Authentication Send
    EXPECT_EQ(send[40], 0x00);
    EXPECT_EQ(send[41], 0x01); // SPSP0
    EXPECT_EQ(send[42], 0x01); // SPSP1
    EXPECT_EQ(send[43], 0xe9); // SECP: DH-HMAC-CHAP
    EXPECT_EQ(le32(&send[44]), 72u);
    const auto receive = bytes_of(authentication_receive(4096));
    EXPECT_EQ(receive[4], 0x06); // FCTYPE Authentication Receive
    EXPECT_EQ(receive[43], 0xe9);
    EXPECT_EQ(le32(&receive[44]), 4096u);
    EXPECT_EQ(nvme::data_transfer(nvme::FabricsCommandType::authentication_send),
              nvme::DataTransfer::host_to_controller);
    EXPECT_EQ(nvme::data_transfer(nvme::FabricsCommandType::authentication_receive),
              nvme::DataTransfer::controller_to_host);
}

TEST(TcpFabricsCommands, ConnectCarriesQidSqsizeAndKatoAtTheirOffsets)
{
    ConnectParams p;
    p.qid = 0;
    p.sqsize = 31;
    p.kato_ms = 5000;
    const auto b = bytes_of(connect_command(p));
    EXPECT_EQ(b[0], 0x7f);
    EXPECT_EQ(b[4], 0x01);             // FCTYPE Connect
    EXPECT_EQ(b[40] | b[41] << 8, 0);  // RECFMT
    EXPECT_EQ(b[42] | b[43] << 8, 0);  // QID
    EXPECT_EQ(b[44] | b[45] << 8, 31); // SQSIZE
    EXPECT_EQ(le32(&b[48]), 5000u);    // KATO
}

TEST(TcpFabricsCommands, IoQueueConnectHasNoKato)
{
    ConnectParams p;
    p.qid = 3;
    p.sqsize = 127;
    p.kato_ms = 5000;
    const auto b = bytes_of(connect_command(p));
    EXPECT_EQ(b[42] | b[43] << 8, 3);
    EXPECT_EQ(b[44] | b[45] << 8, 127);
    EXPECT_EQ(le32(&b[48]), 0u);
}

TEST(TcpFabricsCommands, ConnectDataLayout)
{
    ConnectParams p;
    p.cntlid = 0x1234;
    p.hostid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    p.subnqn = "nqn.sub";
    p.hostnqn = "nqn.host";
    const auto d = connect_data(p);
    std::array<std::uint8_t, 1024> b{};
    std::memcpy(b.data(), &d, sizeof d);
    EXPECT_EQ(b[0], 1);
    EXPECT_EQ(b[15], 16);
    EXPECT_EQ(b[16] | b[17] << 8, 0x1234);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&b[256])), "nqn.sub");
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&b[512])), "nqn.host");
}

TEST(TcpFabricsCommands, OverlongNqnIsCutAndStaysTerminated)
{
    const std::string longer(400, 'x');
    ConnectParams p;
    p.subnqn = longer;
    const auto d = connect_data(p);
    EXPECT_EQ(d.subnqn[255], '\0');
    EXPECT_EQ(d.subnqn[254], 'x');
    EXPECT_EQ(d.hostnqn[0], '\0');
}

TEST(TcpFabricsCommands, PropertyGetSizesFollowTheRegister)
{
    auto cap = bytes_of(property_get(nvme::reg_offset::cap));
    EXPECT_EQ(cap[4], 0x04);
    EXPECT_EQ(cap[40], 1); // 8 bytes
    EXPECT_EQ(le32(&cap[44]), 0u);
    auto csts = bytes_of(property_get(nvme::reg_offset::csts));
    EXPECT_EQ(csts[40], 0);
    EXPECT_EQ(le32(&csts[44]), 0x1cu);
}

TEST(TcpFabricsCommands, PropertySetValueAtByte48)
{
    auto b = bytes_of(property_set(nvme::reg_offset::cc, 0x00460001));
    EXPECT_EQ(b[4], 0x00);
    EXPECT_EQ(b[40], 0);
    EXPECT_EQ(le32(&b[44]), 0x14u);
    EXPECT_EQ(le32(&b[48]), 0x00460001u);
    EXPECT_EQ(le32(&b[52]), 0u);
}

TEST(TcpFabricsCommands, DiscoveryLogPageCommand)
{
    const auto sqe = discovery_log(1024, 4096);
    EXPECT_EQ(sqe.opc, 0x02);
    EXPECT_EQ(nvme::cmd::get_log_page::Lid::get(sqe), 0x70u);
    EXPECT_EQ(nvme::cmd::get_log_page::num_bytes(sqe), 4096u);
    EXPECT_EQ(nvme::cmd::get_log_page::lpo(sqe), 1024u);
}

TEST(TcpFabricsCommands, PropertyValueJoinsDw0AndDw1)
{
    nvme::CompletionQueueEntry c{};
    c.dw0 = 0x89abcdef;
    c.dw1 = 0x01234567;
    EXPECT_EQ(nvme::fabrics::property_value(c), 0x0123456789abcdefull);
}

TEST(TcpFabricsCommands, HostIdIsAVersion4UuidAndTheNqnNamesIt)
{
    const auto& id = process_host_id();
    EXPECT_EQ(&id, &process_host_id()); // once per process
    EXPECT_EQ(id[6] >> 4, 4);
    EXPECT_EQ(id[8] & 0xc0, 0x80);
    const auto nqn =
        host_nqn_of({0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7});
    EXPECT_EQ(nqn, "nqn.2014-08.org.nvmexpress:uuid:12345678-9abc-def0-0001-020304050607");
}

} // namespace
