// The computations of DH-HMAC-CHAP (NVMe Base 2.0, 8.13.5), every primitive
// from OpenSSL (libcrypto): HMAC and SHA-2 for the responses, finite-field
// Diffie-Hellman over the RFC 7919 groups for the augmented challenge.
// Pure functions and a value type; any thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nvmecuse::transport::dhchap {

/// Hash function identifiers (NVMe Base 2.0, Figure 449).
enum class HashId : std::uint8_t { sha256 = 1, sha384 = 2, sha512 = 3 };
/// Diffie-Hellman group identifiers (NVMe Base 2.0, Figure 450).
enum class DhGroup : std::uint8_t {
    null = 0,
    ffdhe2048 = 1,
    ffdhe3072 = 2,
    ffdhe4096 = 3,
    ffdhe6144 = 4,
    ffdhe8192 = 5,
};

/// Digest length of `id` in bytes; 0 for an identifier that is not one.
[[nodiscard]] std::size_t hash_length(std::uint8_t id) noexcept;
/// "hmac(sha256)", ... as the kernel names them; "?" for others.
[[nodiscard]] std::string_view hash_name(std::uint8_t id) noexcept;
/// "null", "ffdhe2048", ...; "?" for others.
[[nodiscard]] std::string_view dh_group_name(std::uint8_t id) noexcept;
/// Bytes of a public value of the group (its prime); 0 for null or unknown.
[[nodiscard]] std::size_t dh_value_length(std::uint8_t id) noexcept;

using Bytes = std::vector<std::uint8_t>;

[[nodiscard]] Bytes hmac(HashId hash, std::span<const std::uint8_t> key,
                         std::span<const std::uint8_t> data);
[[nodiscard]] Bytes digest(HashId hash, std::span<const std::uint8_t> data);

/// Who a response authenticates: the host answers the controller's
/// challenge, the controller the host's (bidirectional authentication).
enum class Responder : std::uint8_t { host, controller };

/// What a response covers (NVMe Base 2.0, 8.13.5.3 and 8.13.5.4).
struct ResponseInput {
    HashId hash = HashId::sha256;
    std::span<const std::uint8_t> key;         ///< the transformed key of the responder's secret
    std::span<const std::uint8_t> challenge;   ///< C1 (host) or C2 (controller), hash-length bytes
    std::span<const std::uint8_t> session_key; ///< empty for the null DH group
    std::uint32_t sequence = 0;                ///< S1 or S2
    std::uint16_t transaction = 0;
    std::string_view host_nqn;
    std::string_view subsystem_nqn;
};

/// R = HMAC(key, Ca || S (LE32) || T (LE16) || 00h || "HostHost" || NQNh ||
/// 00h || NQNc) for the host, with "Controller" and the NQNs swapped for the
/// controller; Ca is the challenge, or with a DH group the augmented
/// challenge HMAC(H(session key), challenge).
[[nodiscard]] Bytes response(Responder who, const ResponseInput& in);

/// One side's ephemeral Diffie-Hellman key in an FFDHE group.
class DhKey {
public:
    /// A new random private key; an error message if OpenSSL fails.
    [[nodiscard]] static std::expected<DhKey, std::string> generate(DhGroup group);
    ~DhKey();
    DhKey(DhKey&&) noexcept;
    DhKey& operator=(DhKey&&) noexcept;

    /// g^x mod p, big endian, the prime's length.
    [[nodiscard]] const Bytes& public_value() const noexcept { return public_; }
    /// The shared secret with the peer's public value, big endian and
    /// zero-padded to the prime's length as the kernel's kpp computes it;
    /// an error for a value out of range or of the wrong length.
    [[nodiscard]] std::expected<Bytes, std::string>
    shared_secret(std::span<const std::uint8_t> peer) const;

private:
    DhKey() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    DhGroup group_ = DhGroup::null;
    Bytes public_;
};

/// Random bytes from OpenSSL's CSPRNG.
[[nodiscard]] Bytes random_bytes(std::size_t n);

} // namespace nvmecuse::transport::dhchap
