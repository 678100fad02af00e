// DH-HMAC-CHAP computations over OpenSSL 3 (libcrypto). See
// include/nvmecuse/transport/dhchap/crypto.hpp.
#include "nvmecuse/transport/dhchap/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "nvmecuse/transport/dhchap/secret.hpp"

namespace nvmecuse::transport::dhchap {

namespace {

struct HashInfo {
    std::string_view name;
    std::size_t length;
    const EVP_MD* (*md)();
};
constexpr std::array<HashInfo, 4> hashes{{
    {"?", 0, nullptr},
    {"hmac(sha256)", 32, &EVP_sha256},
    {"hmac(sha384)", 48, &EVP_sha384},
    {"hmac(sha512)", 64, &EVP_sha512},
}};

struct GroupInfo {
    std::string_view name; ///< also OpenSSL's group name (RFC 7919)
    std::size_t value_length;
};
constexpr std::array<GroupInfo, 6> groups{{
    {"null", 0},
    {"ffdhe2048", 256},
    {"ffdhe3072", 384},
    {"ffdhe4096", 512},
    {"ffdhe6144", 768},
    {"ffdhe8192", 1024},
}};

const EVP_MD* md_of(HashId h)
{
    const auto i = static_cast<std::size_t>(h);
    if (i == 0 || i >= hashes.size()) throw std::invalid_argument("DH-HMAC-CHAP: unknown hash");
    return hashes[i].md();
}

/// The last OpenSSL error as text, prefixed with what failed.
std::string openssl_error(std::string_view what)
{
    std::string s(what);
    if (const unsigned long e = ERR_get_error(); e != 0) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        s += ": ";
        s += buf.data();
    }
    ERR_clear_error();
    return s;
}

template <typename T, void (*Free)(T*)> struct Deleter {
    void operator()(T* p) const noexcept { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

void append(Bytes& out, std::string_view text)
{
    out.insert(out.end(), text.begin(), text.end());
}

} // namespace

std::size_t hash_length(std::uint8_t id) noexcept
{
    return id < hashes.size() ? hashes[id].length : 0;
}

std::string_view hash_name(std::uint8_t id) noexcept
{
    return id < hashes.size() ? hashes[id].name : "?";
}

std::string_view dh_group_name(std::uint8_t id) noexcept
{
    return id < groups.size() ? groups[id].name : "?";
}

std::size_t dh_value_length(std::uint8_t id) noexcept
{
    return id < groups.size() ? groups[id].value_length : 0;
}

Bytes hmac(HashId hash, std::span<const std::uint8_t> key, std::span<const std::uint8_t> data)
{
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int n = 0;
    if (HMAC(md_of(hash), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
             out.data(), &n) == nullptr)
        throw std::runtime_error(openssl_error("HMAC"));
    out.resize(n);
    return out;
}

Bytes digest(HashId hash, std::span<const std::uint8_t> data)
{
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, md_of(hash), nullptr) != 1)
        throw std::runtime_error(openssl_error("digest"));
    out.resize(n);
    return out;
}

Bytes response(Responder who, const ResponseInput& in)
{
    Bytes challenge(in.challenge.begin(), in.challenge.end());
    if (!in.session_key.empty()) {
        auto hashed_key = digest(in.hash, in.session_key);
        challenge = hmac(in.hash, hashed_key, challenge);
        wipe(hashed_key);
    }
    Bytes message = challenge;
    for (int i = 0; i < 4; ++i)
        message.push_back(static_cast<std::uint8_t>(in.sequence >> (8 * i)));
    message.push_back(static_cast<std::uint8_t>(in.transaction));
    message.push_back(static_cast<std::uint8_t>(in.transaction >> 8));
    message.push_back(0);
    const bool host = who == Responder::host;
    append(message, host ? std::string_view("HostHost") : std::string_view("Controller"));
    append(message, host ? in.host_nqn : in.subsystem_nqn);
    message.push_back(0);
    append(message, host ? in.subsystem_nqn : in.host_nqn);
    return hmac(in.hash, in.key, message);
}

Bytes random_bytes(std::size_t n)
{
    Bytes out(n);
    if (n != 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1)
        throw std::runtime_error(openssl_error("RAND_bytes"));
    return out;
}

// ---------------------------------------------------------------------------
// DhKey
// ---------------------------------------------------------------------------

struct DhKey::Impl {
    PkeyPtr key;
};

DhKey::~DhKey() = default;
DhKey::DhKey(DhKey&&) noexcept = default;
DhKey& DhKey::operator=(DhKey&&) noexcept = default;

std::expected<DhKey, std::string> DhKey::generate(DhGroup group)
{
    const auto g = static_cast<std::size_t>(group);
    if (g == 0 || g >= groups.size()) return std::unexpected("not an FFDHE group");
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1)
        return std::unexpected(openssl_error("DH key generation"));
    std::string name(groups[g].name);
    const std::array params{
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, name.data(), 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_CTX_set_params(ctx.get(), params.data()) != 1 ||
        EVP_PKEY_generate(ctx.get(), &raw) != 1)
        return std::unexpected(openssl_error("DH key generation"));
    DhKey k;
    k.impl_ = std::make_unique<Impl>();
    k.impl_->key.reset(raw);
    k.group_ = group;
    BIGNUM* pub = nullptr;
    if (EVP_PKEY_get_bn_param(raw, OSSL_PKEY_PARAM_PUB_KEY, &pub) != 1)
        return std::unexpected(openssl_error("DH public value"));
    BnPtr owned(pub);
    k.public_.resize(groups[g].value_length);
    if (BN_bn2binpad(pub, k.public_.data(), static_cast<int>(k.public_.size())) < 0)
        return std::unexpected(openssl_error("DH public value"));
    return k;
}

std::expected<Bytes, std::string> DhKey::shared_secret(std::span<const std::uint8_t> peer) const
{
    const auto& g = groups[static_cast<std::size_t>(group_)];
    if (peer.size() != g.value_length)
        return std::unexpected("the peer's DH value is " + std::to_string(peer.size()) +
                               " bytes long, " + std::string(g.name) + " has " +
                               std::to_string(g.value_length));
    BnPtr value(BN_bin2bn(peer.data(), static_cast<int>(peer.size()), nullptr));
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!value || !bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, g.name.data(),
                                        g.name.size()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, value.get()) != 1)
        return std::unexpected(openssl_error("DH peer value"));
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtxPtr from(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
    EVP_PKEY* raw_peer = nullptr;
    if (!params || !from || EVP_PKEY_fromdata_init(from.get()) != 1 ||
        EVP_PKEY_fromdata(from.get(), &raw_peer, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        return std::unexpected(openssl_error("DH peer value"));
    PkeyPtr peer_key(raw_peer);
    PkeyCtxPtr derive(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->key.get(), nullptr));
    // EVP_PKEY_derive_set_peer() checks the value (1 < y < p - 1, and y^q = 1
    // for a safe prime), as the kernel's dh_is_pubkey_valid() does.
    if (!derive || EVP_PKEY_derive_init(derive.get()) != 1 ||
        EVP_PKEY_CTX_set_dh_pad(derive.get(), 1) != 1 ||
        EVP_PKEY_derive_set_peer(derive.get(), peer_key.get()) != 1)
        return std::unexpected(openssl_error("the peer's DH value is not valid"));
    std::size_t n = 0;
    if (EVP_PKEY_derive(derive.get(), nullptr, &n) != 1)
        return std::unexpected(openssl_error("DH shared secret"));
    Bytes out(n);
    if (EVP_PKEY_derive(derive.get(), out.data(), &n) != 1)
        return std::unexpected(openssl_error("DH shared secret"));
    out.resize(n);
    return out;
}

} // namespace nvmecuse::transport::dhchap
