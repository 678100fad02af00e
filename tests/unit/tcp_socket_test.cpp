// NVMe/TCP address resolution (transport/tcp/socket.cpp): a name that does
// not resolve is reported in getaddrinfo's words, never as an unreachable
// host; numeric addresses resolve without a resolver.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netdb.h>

#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "transport/tcp/socket.hpp"

namespace nvmecuse::transport::tcp {
namespace {

using ::testing::StartsWith;

TEST(TcpResolve, NumericAddressesResolve)
{
    auto v4 = resolve("127.0.0.1", "4420", "");
    ASSERT_TRUE(v4) << v4.error().message();
    EXPECT_EQ(v4->to_string(), "127.0.0.1:4420");
    auto v6 = resolve("::1", "8009", "ipv6");
    ASSERT_TRUE(v6) << v6.error().message();
    EXPECT_EQ(v6->to_string(), "[::1]:8009");
}

TEST(TcpResolve, UnknownNameIsAResolutionErrorNotAnUnreachableHost)
{
    // .invalid never resolves (RFC 6761).
    auto address = resolve("no-such-host.invalid", "4420", "");
    ASSERT_FALSE(address);
    EXPECT_NE(address.error(), std::errc::host_unreachable);
    EXPECT_EQ(&address.error().category(), &resolver_category());
    EXPECT_THAT(address.error().message(), StartsWith("cannot resolve the address: "));
}

TEST(TcpResolve, MessagesAreGetaddrinfos)
{
    const std::error_code noname(EAI_NONAME, resolver_category());
    EXPECT_EQ(noname.message(),
              std::string("cannot resolve the address: ") + ::gai_strerror(EAI_NONAME));
    EXPECT_STREQ(resolver_category().name(), "getaddrinfo");
}

TEST(TcpResolve, AddressFamilyMustMatch)
{
    EXPECT_FALSE(resolve("127.0.0.1", "4420", "ipv6"));
    EXPECT_EQ(resolve("127.0.0.1", "4420", "ipx").error(), std::errc::invalid_argument);
    EXPECT_EQ(resolve("127.0.0.1", "0", "").error(), std::errc::invalid_argument);
}

} // namespace
} // namespace nvmecuse::transport::tcp
