// DH-HMAC-CHAP secret representation. See include/nvmecuse/transport/dhchap/secret.hpp.
#include "nvmecuse/transport/dhchap/secret.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>

#include "nvmecuse/transport/dhchap/crypto.hpp"

namespace nvmecuse::transport::dhchap {

namespace {

constexpr std::string_view prefix = "DHHC-1:";

/// CRC-32 (IEEE 802.3, reflected, as zlib's crc32() and the kernel's
/// ~crc32_le(~0, ...)): an integrity check of the secret's text, not crypto.
std::uint32_t crc32_ieee(std::span<const std::uint8_t> bytes) noexcept
{
    std::uint32_t crc = 0xffffffffu;
    for (const std::uint8_t b : bytes) {
        crc ^= b;
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

bool is_base64_symbol(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/// Strict RFC 4648 base64 with padding, as the kernel's base64_decode(..., padding true).
std::expected<std::vector<std::uint8_t>, std::string> decode_base64(std::string_view text)
{
    if (text.empty() || text.size() % 4 != 0)
        return std::unexpected("the base64 part is not a multiple of 4 characters long");
    std::size_t padding = 0;
    while (padding < 2 && text[text.size() - 1 - padding] == '=')
        ++padding;
    const auto body = text.substr(0, text.size() - padding);
    if (!std::all_of(body.begin(), body.end(), is_base64_symbol))
        return std::unexpected("the base64 part has a character outside the base64 alphabet");
    std::vector<std::uint8_t> out(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) return std::unexpected("the base64 part does not decode");
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

} // namespace

void wipe(std::vector<std::uint8_t>& bytes) noexcept
{
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

Secret::~Secret()
{
    wipe(key);
}

std::expected<Secret, std::string> parse_secret(std::string_view text)
{
    if (!text.starts_with(prefix))
        return std::unexpected("a DH-HMAC-CHAP secret starts with \"DHHC-1:\"");
    text.remove_prefix(prefix.size());
    if (text.size() < 3 || text[2] != ':' || text[0] < '0' || text[0] > '9' || text[1] < '0' ||
        text[1] > '9')
        return std::unexpected("\"DHHC-1:\" is followed by two digits and ':' (00, 01, 02 or 03)");
    const auto transform = static_cast<std::uint8_t>((text[0] - '0') * 10 + (text[1] - '0'));
    if (transform > 3)
        return std::unexpected("the key transformation is 00 (none), 01 (SHA-256), 02 (SHA-384) "
                               "or 03 (SHA-512)");
    text.remove_prefix(3);
    if (text.ends_with(':'))
        text.remove_suffix(1); // the trailing ':' is optional, as in the kernel
    auto decoded = decode_base64(text);
    if (!decoded) return std::unexpected(decoded.error());
    auto& bytes = *decoded;
    if (bytes.size() != 36 && bytes.size() != 52 && bytes.size() != 68)
        return std::unexpected("the key is " +
                               std::to_string(bytes.size() < 4 ? 0 : bytes.size() - 4) +
                               " bytes long; it must be 32, 48 or 64 (and a CRC-32)");
    const std::size_t key_length = bytes.size() - 4;
    const std::uint32_t stored = static_cast<std::uint32_t>(bytes[key_length]) |
                                 static_cast<std::uint32_t>(bytes[key_length + 1]) << 8 |
                                 static_cast<std::uint32_t>(bytes[key_length + 2]) << 16 |
                                 static_cast<std::uint32_t>(bytes[key_length + 3]) << 24;
    if (stored != crc32_ieee(std::span(bytes).first(key_length))) {
        wipe(bytes);
        return std::unexpected("the key's CRC-32 does not match: the secret is mistyped or cut");
    }
    bytes.resize(key_length);
    return Secret{std::move(bytes), transform};
}

std::vector<std::uint8_t> transformed_key(const Secret& secret, std::string_view nqn)
{
    if (secret.transform == 0) return secret.key;
    std::vector<std::uint8_t> message(nqn.begin(), nqn.end());
    constexpr std::string_view label = "NVMe-over-Fabrics";
    message.insert(message.end(), label.begin(), label.end());
    return hmac(static_cast<HashId>(secret.transform), secret.key, message);
}

} // namespace nvmecuse::transport::dhchap
