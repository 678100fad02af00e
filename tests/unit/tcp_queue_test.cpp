// TcpQueue over a socketpair, the test playing the target byte by byte:
// open() on a connected socket (what the tcp_queue fuzz target drives), and
// a CapsuleResp that arrives before the capsule's in-capsule data is out.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <vector>

#include "nvmecuse/transport/tcp/pdu_encode.hpp"

#include "transport/tcp/queue.hpp"

namespace nvmecuse::transport::tcp {
namespace {

class TcpQueueSocketpair : public ::testing::Test {
protected:
    void SetUp() override
    {
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        host_ = UniqueFd(fds[0]);
        target_ = UniqueFd(fds[1]);
    }

    void target_sends(const OutgoingPdu& pdu)
    {
        const auto bytes = pdu.to_bytes();
        ASSERT_EQ(::send(target_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    /// Everything the host has written so far.
    std::vector<std::byte> target_reads()
    {
        std::vector<std::byte> out;
        std::array<std::byte, 4096> chunk{};
        for (ssize_t r; (r = ::recv(target_.get(), chunk.data(), chunk.size(), 0)) > 0;)
            out.insert(out.end(), chunk.begin(), chunk.begin() + r);
        return out;
    }
    std::expected<std::unique_ptr<TcpQueue>, std::error_code> open(const QueueConfig& config)
    {
        return TcpQueue::open(std::move(host_), config, Clock::now() + std::chrono::seconds(5));
    }

    UniqueFd host_;
    UniqueFd target_;
};

TEST_F(TcpQueueSocketpair, OpenOnAConnectedSocketSettlesWhatTheIcRespGrants)
{
    ICRespParams resp;
    resp.digests = {true, true};
    resp.maxh2cdata = 16384;
    target_sends(*encode_ic_resp(resp));
    QueueConfig config;
    config.digests = {true, true};
    auto q = open(config);
    ASSERT_TRUE(q.has_value()) << q.error().message();
    EXPECT_TRUE((*q)->ready());
    EXPECT_TRUE((*q)->negotiated().digests.header);
    EXPECT_TRUE((*q)->negotiated().digests.data);
    EXPECT_EQ((*q)->negotiated().maxh2cdata, 16384u);
    const auto sent = target_reads();
    ASSERT_EQ(sent.size(), sizeof(ICReq)); // the ICReq, nothing else
    EXPECT_EQ(static_cast<PduType>(sent[0]), PduType::ic_req);
}

TEST_F(TcpQueueSocketpair, OpenFailsWhenTheIcRespGrantsADigestNobodyAskedFor)
{
    ICRespParams resp;
    resp.digests = {true, false};
    target_sends(*encode_ic_resp(resp));
    auto q = open(QueueConfig{}); // no digests asked for
    ASSERT_FALSE(q.has_value());
    EXPECT_EQ(q.error(), std::errc::protocol_error);
}

TEST_F(TcpQueueSocketpair, ACapsuleRespBeforeTheInCapsuleDataIsOutCompletesOnlyOnceItIs)
{
    // A send buffer far smaller than the capsule: it goes out in pieces,
    // and only as fast as the target reads.
    const int sndbuf = 4096;
    ASSERT_EQ(::setsockopt(host_.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    target_sends(*encode_ic_resp(ICRespParams{}));
    QueueConfig config;
    config.in_capsule_limit = 32768;
    auto opened = open(config);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    TcpQueue& q = **opened;
    EXPECT_EQ(target_reads().size(), sizeof(ICReq));

    std::vector<std::byte> data(30000);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::byte>(i * 7);
    Request write;
    write.sqe.opc = 0x01;
    write.sqe.cid = 3;
    write.direction = nvme::DataTransfer::host_to_controller;
    write.data = data;
    ASSERT_TRUE(q.submit(write).has_value());

    // The target answers before it has read the capsule: the queue holds
    // the completion, since the capsule still points into `data`.
    nvme::CompletionQueueEntry cqe{};
    cqe.cid = 3;
    target_sends(*encode_capsule_resp(cqe, SendSettings{}));
    std::array<nvme::CompletionQueueEntry, 4> out{};
    EXPECT_EQ(q.reap(out), 0u);

    std::vector<std::byte> received;
    std::size_t completions = 0;
    for (int round = 0; round < 1000 && completions == 0; ++round) {
        const auto more = target_reads();
        received.insert(received.end(), more.begin(), more.end());
        completions = q.reap(out);
    }
    ASSERT_EQ(completions, 1u);
    EXPECT_EQ(out[0].cid, 3u);
    // The whole capsule was written by then (nothing follows): header, data.
    EXPECT_EQ(q.reap(out), 0u);
    const auto rest = target_reads();
    received.insert(received.end(), rest.begin(), rest.end());
    ASSERT_EQ(received.size(), sizeof(CapsuleCmdHeader) + data.size());
    EXPECT_EQ(static_cast<PduType>(received[0]), PduType::capsule_cmd);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), received.begin() + sizeof(CapsuleCmdHeader)));
}

} // namespace
} // namespace nvmecuse::transport::tcp
