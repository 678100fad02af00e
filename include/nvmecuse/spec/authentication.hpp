// In-band authentication of NVMe over Fabrics: the Authentication Send and
// Authentication Receive commands and the DH-HMAC-CHAP messages they carry
// (NVMe Base 2.0, 6.1 "Authentication Receive", 6.2 "Authentication Send",
// 8.13.5 "DH-HMAC-CHAP Protocol"; field names as Linux include/linux/nvme.h).
// Every message starts with AUTH-TYPE, AUTH-ID, a reserved word and T_ID;
// the variable parts (challenge, response, DH value) follow the fixed
// structs below. Little endian on the wire, as the host. Header-only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "bits.hpp"
#include "command.hpp"

namespace nvme::auth {

/// SECP of both commands: DH-HMAC-CHAP (NVMe Base 2.0, Figure 446);
/// SPSP0 and SPSP1 are 01h.
inline constexpr uint8_t secp_dhchap = 0xe9;
inline constexpr uint8_t spsp_dhchap = 0x01;

/// CDW10 of Authentication Send/Receive: SECP 31:24, SPSP1 23:16, SPSP0 15:8.
namespace cdw10 {
using Spsp0 = Field<8, 8>;
using Spsp1 = Field<16, 8>;
using Secp = Field<24, 8>;
} // namespace cdw10
// CDW11 is TL (Send) or AL (Receive): the transfer length in bytes.

/// AUTH-TYPE.
enum class AuthType : uint8_t { common = 0x00, dhchap = 0x01 };
/// AUTH-ID.
enum class MessageId : uint8_t {
    negotiate = 0x00, ///< AUTH_Negotiate (common)
    challenge = 0x01,
    reply = 0x02,
    success1 = 0x03,
    success2 = 0x04,
    failure2 = 0xf0, ///< AUTH_Failure2 (common): host to controller
    failure1 = 0xf1, ///< AUTH_Failure1 (common): controller to host
};
/// AUTHID of the DH-HMAC-CHAP protocol descriptor.
inline constexpr uint8_t authid_dhchap = 0x01;

/// Reason Code Explanation of a failure message (NVMe Base 2.0, Figure 458);
/// the Reason Code is always 01h "authentication failure".
enum class FailureReason : uint8_t {
    failed = 0x01,
    not_usable = 0x02,
    concat_mismatch = 0x03,
    hash_unusable = 0x04,
    dhgroup_unusable = 0x05,
    incorrect_payload = 0x06,
    incorrect_message = 0x07,
};
inline constexpr uint8_t reason_code_failure = 0x01;

/// The four bytes every message starts with, and T_ID.
struct MessageHeader {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
};
static_assert(sizeof(MessageHeader) == 6);

/// AUTH_Negotiate (Figure 451): followed by NAPD protocol descriptors.
struct NegotiateData {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
    uint8_t sc_c; ///< secure channel concatenation: 0 none
    uint8_t napd; ///< number of protocol descriptors
};
static_assert(sizeof(NegotiateData) == 8);

/// DH-HMAC-CHAP protocol descriptor (Figure 452): HALEN hash identifiers at
/// idlist[0..], DHLEN DH group identifiers at idlist[30..].
struct DhchapProtocolDescriptor {
    uint8_t authid;
    uint8_t rsvd1;
    uint8_t halen;
    uint8_t dhlen;
    std::array<uint8_t, 60> idlist;
};
static_assert(sizeof(DhchapProtocolDescriptor) == 64);
inline constexpr std::size_t dhgroup_list_offset = 30;

/// DH-HMAC-CHAP_Challenge (Figure 453): HL bytes of challenge, then DHVLEN
/// bytes of the controller's DH value.
struct ChallengeData {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
    uint8_t hl;
    uint8_t rsvd7;
    uint8_t hashid;
    uint8_t dhgid;
    uint16_t dhvlen;
    uint32_t seqnum;
};
static_assert(sizeof(ChallengeData) == 16);
static_assert(offsetof(ChallengeData, hashid) == 8 && offsetof(ChallengeData, seqnum) == 12);

/// DH-HMAC-CHAP_Reply (Figure 454): HL bytes of response, HL bytes of the
/// host's challenge (meaningful with CVALID), DHVLEN bytes of DH value.
struct ReplyData {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
    uint8_t hl;
    uint8_t rsvd7;
    uint8_t cvalid; ///< bit 0: the host asks the controller to authenticate
    uint8_t rsvd9;
    uint16_t dhvlen;
    uint32_t seqnum; ///< S2; 0 when CVALID is clear
};
static_assert(sizeof(ReplyData) == 16);
static_assert(offsetof(ReplyData, cvalid) == 8 && offsetof(ReplyData, seqnum) == 12);

/// DH-HMAC-CHAP_Success1 (Figure 455): HL bytes of the controller's response
/// when RVALID.
struct Success1Data {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
    uint8_t hl;
    uint8_t rsvd7;
    uint8_t rvalid; ///< bit 0
    std::array<uint8_t, 7> rsvd9;
};
static_assert(sizeof(Success1Data) == 16);

/// DH-HMAC-CHAP_Success2 (Figure 456).
struct Success2Data {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
    std::array<uint8_t, 10> rsvd6;
};
static_assert(sizeof(Success2Data) == 16);

/// AUTH_Failure1 / AUTH_Failure2 (Figure 457).
struct FailureData {
    uint8_t auth_type;
    uint8_t auth_id;
    uint16_t rsvd2;
    uint16_t t_id;
    uint8_t rescode;
    uint8_t rescode_exp;
};
static_assert(sizeof(FailureData) == 8);

static_assert(std::is_trivially_copyable_v<ChallengeData> && std::is_standard_layout_v<ReplyData>);

} // namespace nvme::auth
