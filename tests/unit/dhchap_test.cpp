// DH-HMAC-CHAP: the secret representation of `nvme gen-dhchap-key` and the
// responses, against known answers computed independently (Python's hmac,
// hashlib, zlib and base64 following Linux drivers/nvme/common/auth.c and
// drivers/nvme/host/auth.c; the script's values are frozen here).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nvmecuse/transport/dhchap/crypto.hpp"
#include "nvmecuse/transport/dhchap/secret.hpp"

#include "dhchap_test_keys.hpp"

namespace {

using namespace nvmecuse::transport::dhchap;

constexpr std::string_view host_nqn =
    "nqn.2014-08.org.nvmexpress:uuid:0c4d2f4e-1a7b-4c39-9b55-6f1e2d3c4b5a";
constexpr std::string_view subsystem_nqn = "nqn.2026-12.io.nvmecuse:auth-test";

constexpr std::string_view secret_sha256 = dhchap_test_keys::sha256;
constexpr std::string_view secret_sha384 = dhchap_test_keys::sha384;
constexpr std::string_view secret_sha512 = dhchap_test_keys::sha512;

std::string hex(const std::vector<std::uint8_t>& b)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (const auto v : b) {
        s += digits[v >> 4];
        s += digits[v & 15];
    }
    return s;
}

std::vector<std::uint8_t> iota(std::uint8_t first, std::size_t n)
{
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::uint8_t>(first + i);
    return v;
}

TEST(DhchapSecret, ParsesEachKeyLengthAndTransformation)
{
    auto s256 = parse_secret(secret_sha256);
    ASSERT_TRUE(s256) << s256.error();
    EXPECT_EQ(s256->transform, 1);
    EXPECT_EQ(s256->key, iota(0, 32));
    auto s384 = parse_secret(secret_sha384);
    ASSERT_TRUE(s384) << s384.error();
    EXPECT_EQ(s384->transform, 2);
    EXPECT_EQ(s384->key, iota(100, 48));
    auto s512 = parse_secret(secret_sha512);
    ASSERT_TRUE(s512) << s512.error();
    EXPECT_EQ(s512->key.size(), 64u);
    EXPECT_EQ(s512->key[63], static_cast<std::uint8_t>(63 * 7));
    // The trailing ':' is optional, as for the kernel.
    auto bare = parse_secret(secret_sha256.substr(0, secret_sha256.size() - 1));
    ASSERT_TRUE(bare) << bare.error();
    EXPECT_EQ(bare->key, s256->key);
}

TEST(DhchapSecret, RejectsAWrongCrc)
{
    std::string s(secret_sha256);
    s[12] = s[12] == 'A' ? 'B' : 'A'; // one key bit off
    auto r = parse_secret(s);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("CRC-32"), std::string::npos) << r.error();
}

TEST(DhchapSecret, RejectsBadLengthsBase64AndPrefixes)
{
    // 16 bytes of key + CRC: a length the kernel refuses.
    auto short_key = parse_secret("DHHC-1:00:AAECAwQFBgcICQoLDA0OD4jizs4=:");
    ASSERT_FALSE(short_key);
    EXPECT_NE(short_key.error().find("32, 48 or 64"), std::string::npos) << short_key.error();
    std::string bad_symbol(secret_sha256);
    bad_symbol[15] = '*';
    auto symbol = parse_secret(bad_symbol);
    ASSERT_FALSE(symbol);
    EXPECT_NE(symbol.error().find("base64"), std::string::npos) << symbol.error();
    std::string cut(secret_sha256);
    cut.erase(20, 1);
    auto odd = parse_secret(cut);
    ASSERT_FALSE(odd);
    EXPECT_NE(odd.error().find("multiple of 4"), std::string::npos) << odd.error();
    EXPECT_FALSE(parse_secret("DHHC-2:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"));
    EXPECT_FALSE(parse_secret("DHHC-1:04:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"));
    EXPECT_FALSE(parse_secret("DHHC-1:1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"));
    EXPECT_FALSE(parse_secret("DHHC-1:01::"));
    EXPECT_FALSE(parse_secret(""));
}

TEST(DhchapSecret, TransformsWithTheNqnAsTheKernel)
{
    EXPECT_EQ(hex(transformed_key(*parse_secret(secret_sha256), host_nqn)),
              "6588eb1037eff81277741e9387c5aa3f03867f24105bb993d264b7732d660bc6");
    EXPECT_EQ(hex(transformed_key(*parse_secret(secret_sha384), host_nqn)),
              "d6a2ecef9f826cc72ea13dacfca8b63311fd4ad6017b9a17c022749d98edf29b927783617e2155a3"
              "088aa865311bc112");
    EXPECT_EQ(hex(transformed_key(*parse_secret(secret_sha512), host_nqn)),
              "1c0aececb87a6090f64d5d696eca36c9dabdaf04c59f89b6523f0c0b013790611b45c0609bd2af55"
              "628eca0448e4baeaff3f33c12bec77065724dc7c85c97879");
    // 00: the key itself.
    auto plain = parse_secret(dhchap_test_keys::plain);
    ASSERT_TRUE(plain);
    EXPECT_EQ(transformed_key(*plain, host_nqn), iota(0, 32));
}

TEST(DhchapResponse, HostResponseWithoutDhMatchesTheKnownAnswer)
{
    const auto key = transformed_key(*parse_secret(secret_sha256), host_nqn);
    const auto c1 = iota(0x40, 32);
    ResponseInput in;
    in.hash = HashId::sha256;
    in.key = key;
    in.challenge = c1;
    in.sequence = 0x12345678;
    in.transaction = 7;
    in.host_nqn = host_nqn;
    in.subsystem_nqn = subsystem_nqn;
    EXPECT_EQ(hex(response(Responder::host, in)),
              "759a9415819183069b3e394730a1ae90946b83e06fee9c5beb2599e31c2d1a8c");
    in.transaction = 8; // every input counts
    EXPECT_NE(hex(response(Responder::host, in)),
              "759a9415819183069b3e394730a1ae90946b83e06fee9c5beb2599e31c2d1a8c");
}

TEST(DhchapResponse, ControllerResponseSwapsTheNqnsAndUsesTheSubsystemNqnTransform)
{
    const auto key = transformed_key(*parse_secret(secret_sha384), subsystem_nqn);
    const auto c2 = iota(0x80, 48);
    ResponseInput in;
    in.hash = HashId::sha384;
    in.key = key;
    in.challenge = c2;
    in.sequence = 0x9abcdef0;
    in.transaction = 0xbeef;
    in.host_nqn = host_nqn;
    in.subsystem_nqn = subsystem_nqn;
    EXPECT_EQ(hex(response(Responder::controller, in)),
              "c161e23826a933436caac1375e39e2874b41d65f971e4549c5b0350f3c798da58a5fc12ab07f6542"
              "854697c7110ea8d9");
}

TEST(DhchapResponse, AugmentedChallengeWithASessionKey)
{
    const auto key = transformed_key(*parse_secret(secret_sha384), host_nqn);
    const auto c1 = iota(0x80, 48);
    std::vector<std::uint8_t> session(256);
    for (std::size_t i = 0; i < session.size(); ++i)
        session[i] = static_cast<std::uint8_t>(i * 13 + 5);
    ResponseInput in;
    in.hash = HashId::sha384;
    in.key = key;
    in.challenge = c1;
    in.session_key = session;
    in.sequence = 1;
    in.transaction = 2;
    in.host_nqn = host_nqn;
    in.subsystem_nqn = subsystem_nqn;
    EXPECT_EQ(hex(response(Responder::host, in)),
              "edb32ad8877c481c689a45ea765beff93f035732625d4b754b9412e3224ef58cfed739988b326868"
              "60750febe5d7edc5");
}

TEST(DhchapDh, BothSidesDeriveTheSamePaddedSecret)
{
    for (const auto group : {DhGroup::ffdhe2048, DhGroup::ffdhe3072}) {
        auto a = DhKey::generate(group);
        auto b = DhKey::generate(group);
        ASSERT_TRUE(a) << a.error();
        ASSERT_TRUE(b) << b.error();
        const std::size_t length = dh_value_length(static_cast<std::uint8_t>(group));
        EXPECT_EQ(a->public_value().size(), length);
        EXPECT_NE(a->public_value(), b->public_value());
        auto ab = a->shared_secret(b->public_value());
        auto ba = b->shared_secret(a->public_value());
        ASSERT_TRUE(ab) << ab.error();
        ASSERT_TRUE(ba) << ba.error();
        EXPECT_EQ(ab->size(), length);
        EXPECT_EQ(*ab, *ba);
    }
}

TEST(DhchapDh, RefusesPeerValuesOutOfRangeOrOfTheWrongLength)
{
    auto a = DhKey::generate(DhGroup::ffdhe2048);
    ASSERT_TRUE(a) << a.error();
    std::vector<std::uint8_t> one(256, 0);
    one.back() = 1; // y = 1 gives a known secret: refused
    EXPECT_FALSE(a->shared_secret(one));
    std::vector<std::uint8_t> all_ones(256, 0xff); // above p
    EXPECT_FALSE(a->shared_secret(all_ones));
    auto short_value = a->shared_secret(std::vector<std::uint8_t>(128, 0x55));
    ASSERT_FALSE(short_value);
    EXPECT_NE(short_value.error().find("bytes long"), std::string::npos);
}

TEST(DhchapNames, AsTheKernelNamesThem)
{
    EXPECT_EQ(hash_length(1), 32u);
    EXPECT_EQ(hash_length(3), 64u);
    EXPECT_EQ(hash_length(4), 0u);
    EXPECT_EQ(hash_name(2), "hmac(sha384)");
    EXPECT_EQ(dh_group_name(5), "ffdhe8192");
    EXPECT_EQ(dh_value_length(5), 1024u);
    EXPECT_EQ(dh_value_length(0), 0u);
}

} // namespace
