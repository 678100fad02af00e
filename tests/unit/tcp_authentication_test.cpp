// In-band authentication (DH-HMAC-CHAP) of the NVMe/TCP host against the
// in-test target with a host entry's keys: the right key authenticates
// every queue, a wrong one is refused with the target's AUTH_Failure1, a
// controller that answers the host's challenge with another key is refused
// by the host (AUTH_Failure2), and a missing secret is ENOKEY.
#include <gtest/gtest.h>

#include <chrono>
#include <system_error>

#include "nvmecuse/spec/fabrics.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "dhchap_test_keys.hpp"
#include "tcp_test_target.hpp"

namespace {

using namespace std::chrono_literals;
using nvmecuse::transport::TransportId;
using nvmecuse::transport::tcp::TcpOptions;
using tcp_test::TargetConfig;
using tcp_test::TestTarget;

constexpr std::string_view key_a = dhchap_test_keys::sha256;
constexpr std::string_view key_b = dhchap_test_keys::sha384;
constexpr std::string_view key_c = dhchap_test_keys::sha512;
constexpr std::string_view key_plain = dhchap_test_keys::plain;

TransportId id_for(const TestTarget& t)
{
    TransportId id;
    id.trtype = "tcp";
    id.adrfam = "ipv4";
    id.traddr = "127.0.0.1";
    id.trsvcid = t.port_string();
    id.subnqn = "nqn.2026-12.io.nvmecuse:auth";
    return id;
}

TcpOptions options(std::string_view secret, std::string_view ctrl_secret = {})
{
    TcpOptions o;
    o.connect_timeout = 5s;
    o.io_queues = 2;
    o.queue_size = 32;
    o.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:7e3b1a2c-58d4-4f6e-9a1b-2c3d4e5f6a7b";
    o.dhchap_secret = std::string(secret);
    o.dhchap_ctrl_secret = std::string(ctrl_secret);
    return o;
}

TargetConfig auth_target(std::string_view host_key, std::string_view ctrl_key = {},
                         std::uint8_t hash = 1, std::uint8_t dh_group = 0)
{
    TargetConfig c;
    c.auth.host_key = std::string(host_key);
    c.auth.controller_key = std::string(ctrl_key);
    c.auth.hash = hash;
    c.auth.dh_group = dh_group;
    return c;
}

/// A Property Get of CAP: only an authenticated admin queue gets an answer.
bool admin_queue_works(nvmecuse::transport::Transport& t)
{
    nvmecuse::transport::Request r;
    r.sqe = nvme::fabrics::property_get_sqe(nvme::reg_offset::cap);
    r.sqe.cid = 1;
    if (!t.admin_queue().submit(r)) return false;
    nvme::CompletionQueueEntry c{};
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (t.admin_queue().reap(std::span(&c, 1)) == 1) return nvme::status_of(c).is_success();
    }
    return false;
}

TEST(TcpAuthentication, TheRightKeyAuthenticatesTheAdminAndEveryIoQueue)
{
    TestTarget target(auth_target(key_a));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_a));
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(target.authentications.load(), 1);
    EXPECT_TRUE(admin_queue_works(**t));
    auto io = (*t)->create_io_queue(1, 16);
    ASSERT_TRUE(io) << io.error().message();
    EXPECT_EQ(target.authentications.load(), 2);
    EXPECT_EQ(target.auth_failures1.load(), 0);
    EXPECT_EQ(target.unauthenticated_commands.load(), 0);
}

TEST(TcpAuthentication, AReconnectAuthenticatesAgain)
{
    TestTarget target(auth_target(key_b, key_c, 2, 1));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_b, key_c));
    ASSERT_TRUE(t) << t.error().message();
    target.drop_connections();
    (*t)->disconnect();
    ASSERT_TRUE((*t)->connect_admin());
    EXPECT_EQ(target.authentications.load(), 2);
    EXPECT_EQ(target.admin_connects.load(), 2);
    EXPECT_TRUE(admin_queue_works(**t));
}

TEST(TcpAuthentication, EachHashAndAnFfdheGroupWithAnUntransformedKey)
{
    struct Case {
        std::string_view key;
        std::uint8_t hash;
        std::uint8_t group;
    };
    for (const Case c : {Case{key_b, 2, 1}, Case{key_c, 3, 2}, Case{key_plain, 1, 1}}) {
        TestTarget target(auth_target(c.key, {}, c.hash, c.group));
        auto t = nvmecuse::transport::tcp::connect(id_for(target), options(c.key));
        ASSERT_TRUE(t) << "hash " << int(c.hash) << " group " << int(c.group) << ": "
                       << t.error().message();
        EXPECT_EQ(target.authentications.load(), 1);
        EXPECT_TRUE(admin_queue_works(**t));
    }
}

TEST(TcpAuthentication, AWrongKeyIsRefusedByTheController)
{
    TestTarget target(auth_target(key_a, {}, 1, 1));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_plain));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().value(), EKEYREJECTED);
    EXPECT_EQ(target.auth_failures1.load(), 1);
    EXPECT_EQ(target.authentications.load(), 0);
}

TEST(TcpAuthentication, AConnectionClosedInsteadOfSuccess1IsARefusalAsNvmetDoesIt)
{
    auto config = auth_target(key_a);
    config.auth.close_instead_of_failure1 = true;
    TestTarget target(config);
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_b));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().value(), EKEYREJECTED);
    EXPECT_EQ(target.auth_failures1.load(), 1);
}

TEST(TcpAuthentication, BidirectionalSucceedsWithTheControllersKey)
{
    TestTarget target(auth_target(key_a, key_b, 2, 1));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_a, key_b));
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(target.authentications.load(), 1); // Success2 received
    EXPECT_EQ(target.auth_failures2.load(), 0);
    EXPECT_TRUE(admin_queue_works(**t));
}

TEST(TcpAuthentication, AControllerAnsweringWithAnotherKeyIsRefusedByTheHost)
{
    TestTarget target(auth_target(key_a, key_c));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_a, key_b));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().value(), EKEYREJECTED);
    EXPECT_EQ(target.auth_failures2.load(), 1);
    EXPECT_EQ(target.authentications.load(), 0);
}

TEST(TcpAuthentication, AControllerWithoutAKeyCannotAnswerTheHostsChallenge)
{
    TestTarget target(auth_target(key_a));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_a, key_b));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().value(), EKEYREJECTED);
    EXPECT_EQ(target.auth_failures2.load(), 1);
}

TEST(TcpAuthentication, NoSecretWhenTheControllerRequiresOneIsEnokey)
{
    TestTarget target(auth_target(key_a));
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options({}));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().value(), ENOKEY);
}

TEST(TcpAuthentication, ASecretIsUnusedWhenTheControllerAsksForNone)
{
    TestTarget target;
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(key_a));
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(target.authentications.load(), 0);
    EXPECT_TRUE(admin_queue_works(**t));
}

TEST(TcpAuthentication, AMalformedSecretFailsBeforeConnecting)
{
    TestTarget target(auth_target(key_a));
    std::string bad(key_a);
    bad[14] ^= 1;
    auto t = nvmecuse::transport::tcp::connect(id_for(target), options(bad));
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error(), std::errc::invalid_argument);
    EXPECT_EQ(target.connections.load(), 0);
    EXPECT_FALSE(nvmecuse::transport::tcp::check_dhchap_secret(bad));
    EXPECT_TRUE(nvmecuse::transport::tcp::check_dhchap_secret(key_a));
}

} // namespace
