// DH-HMAC-CHAP secrets as `nvme gen-dhchap-key` writes them and the
// kernel's `nvme connect --dhchap-secret` takes them (NVMe Base 2.0,
// 8.13.5.8 "DH-HMAC-CHAP secret representation"):
//   "DHHC-1:<hh>:<base64 of key || CRC-32 (little endian)>:"
// <hh> names the transformation of the key: 00 none, 01/02/03 HMAC with
// SHA-256/384/512 of the NQN and "NVMe-over-Fabrics" (8.13.5.7). The key is
// 32, 48 or 64 bytes (Linux drivers/nvme/common/auth.c).
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace nvmecuse::transport::dhchap {

/// A parsed secret: the key and how it is transformed before use. Its
/// bytes are wiped when it goes (as the kernel's kfree_sensitive()).
struct Secret {
    std::vector<std::uint8_t> key;
    std::uint8_t transform = 0; ///< <hh>: 0 none, else a HashId (1..3)

    Secret() = default;
    Secret(std::vector<std::uint8_t> k, std::uint8_t t) : key(std::move(k)), transform(t) {}
    Secret(const Secret&) = default;
    Secret(Secret&&) noexcept = default;
    Secret& operator=(const Secret&) = default;
    Secret& operator=(Secret&&) noexcept = default;
    ~Secret();

    [[nodiscard]] bool empty() const noexcept { return key.empty(); }
};

/// Overwrites `bytes` with zeros in a way the compiler keeps (OPENSSL_cleanse).
void wipe(std::vector<std::uint8_t>& bytes) noexcept;

/// Parses the representation; the error is a message naming what is wrong
/// (prefix, transformation, base64, length, CRC) without the secret itself.
[[nodiscard]] std::expected<Secret, std::string> parse_secret(std::string_view text);

/// The key the HMAC of a response uses: the key itself (transform 0), or
/// HMAC-<hash>(key, nqn || "NVMe-over-Fabrics"), `nqn` being the host NQN for
/// the host's secret and the subsystem NQN for the controller's (Linux
/// nvme_auth_transform_key()).
[[nodiscard]] std::vector<std::uint8_t> transformed_key(const Secret& secret, std::string_view nqn);

} // namespace nvmecuse::transport::dhchap
