// Builders for the commands the NVMe/TCP host issues on its own: Fabrics
// Connect, Property Get/Set, Authentication Send/Receive, Keep Alive, Identify Controller and the
// Discovery Log Page (NVMe Base 2.0, 5.16, 5.17, 5.22, 6.3, 6.5, 6.6).
// Pure functions; any thread. The data pointer is left zero: the queue
// writes the SGL descriptor the transport uses.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "nvmecuse/spec/fabrics.hpp"
#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::transport::tcp {

/// What a Fabrics Connect carries.
struct ConnectParams {
    std::uint16_t qid = 0;
    std::uint16_t sqsize = 31; ///< 0's based
    std::uint32_t kato_ms = 0; ///< admin queue only
    std::uint16_t cntlid = nvme::fabrics::cntlid_dynamic;
    std::array<std::uint8_t, 16> hostid{};
    std::string_view subnqn;
    std::string_view hostnqn;
};

[[nodiscard]] nvme::SubmissionQueueEntry connect_command(const ConnectParams& params) noexcept;
/// The 1024-byte Connect data; NQNs longer than 255 bytes are cut (the
/// caller validates them).
[[nodiscard]] nvme::fabrics::ConnectData connect_data(const ConnectParams& params) noexcept;

[[nodiscard]] nvme::SubmissionQueueEntry property_get(std::uint32_t offset) noexcept;
[[nodiscard]] nvme::SubmissionQueueEntry property_set(std::uint32_t offset,
                                                      std::uint64_t value) noexcept;
[[nodiscard]] nvme::SubmissionQueueEntry keep_alive() noexcept;
[[nodiscard]] nvme::SubmissionQueueEntry identify_controller() noexcept;
/// Authentication Send (FCTYPE 05h) of `length` bytes (TL) and
/// Authentication Receive (FCTYPE 06h) of up to `length` bytes (AL), for
/// DH-HMAC-CHAP (SECP E9h, SPSP0/1 01h; NVMe Base 2.0, 6.1, 6.2).
[[nodiscard]] nvme::SubmissionQueueEntry authentication_send(std::uint32_t length) noexcept;
[[nodiscard]] nvme::SubmissionQueueEntry authentication_receive(std::uint32_t length) noexcept;
/// Get Log Page 70h: `bytes` (a multiple of 4, >= 4) from byte `offset`.
[[nodiscard]] nvme::SubmissionQueueEntry discovery_log(std::uint64_t offset,
                                                       std::uint32_t bytes) noexcept;

/// The host identifier of this process when none is configured: a random
/// version-4 UUID, generated once. Thread-safe.
[[nodiscard]] const std::array<std::uint8_t, 16>& process_host_id();
/// "nqn.2014-08.org.nvmexpress:uuid:<hostid>" (NVMe Base 2.0, 4.5 "UUID-based NQN").
[[nodiscard]] std::string host_nqn_of(const std::array<std::uint8_t, 16>& hostid);

} // namespace nvmecuse::transport::tcp
