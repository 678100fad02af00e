// Building NVMe/TCP PDUs for the wire: header, optional HDGST, PAD up to
// PDO, data, optional DDGST, with HLEN/PDO/PLEN and the digest flags
// computed here and nowhere else (NVMe TCP Transport 1.0, 2 Figure 3,
// 3.3 "PDU Data alignment", 3.3.1.1 "PDU Header and Data Digests").
//
// Pure functions: no I/O, no allocation except OutgoingPdu::to_bytes().
// Safe to call from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string_view>
#include <vector>

#include "nvmecuse/transport/tcp/pdu.hpp"

namespace nvmecuse::transport::tcp {

/// How the sending side lays out PDUs that may carry digests and data.
struct SendSettings {
    DigestSettings digests; ///< as negotiated; never applied to IC or TermReq PDUs
    /// The receiver's data alignment: CPDA from ICResp when the host sends,
    /// HPDA from ICReq when the controller sends (0..31, TCP 1.0 3.3).
    uint8_t pda = 0;
};

/// Why a PDU could not be built; each is a caller bug, never a wire condition.
enum class EncodeError : uint8_t {
    pda_out_of_range,         ///< SendSettings::pda > 31
    data_too_long,            ///< PLEN would not fit in 32 bits
    data_required,            ///< H2CData/C2HData with no data
    success_without_last_pdu, ///< C2HData SUCCESS needs LAST_PDU (TCP 1.0, 3.3.2.1)
};
[[nodiscard]] std::string_view to_string(EncodeError error) noexcept;

/// A PDU laid out for one gather write (writev/sendmsg): head(), then the
/// caller's data(), then trailer(). The data is not copied: data() views the
/// span passed to the encoder, which must outlive this object.
class OutgoingPdu {
public:
    /// Header, HDGST if enabled, PAD up to PDO.
    [[nodiscard]] std::span<const std::byte> head() const noexcept
    {
        return {head_.data(), head_length_};
    }
    [[nodiscard]] std::span<const std::byte> data() const noexcept { return data_; }
    /// DDGST when the PDU carries data and data digests are on; else empty.
    [[nodiscard]] std::span<const std::byte> trailer() const noexcept
    {
        return {trailer_.data(), trailer_length_};
    }
    /// PLEN: head + data + trailer.
    [[nodiscard]] uint32_t plen() const noexcept
    {
        return static_cast<uint32_t>(head_length_ + data_.size() + trailer_length_);
    }
    /// The whole PDU in one buffer (tests, small PDUs).
    [[nodiscard]] std::vector<std::byte> to_bytes() const;

private:
    friend class PduBuilder;
    std::array<std::byte, max_pdo + 1> head_{};
    std::size_t head_length_ = 0;
    std::span<const std::byte> data_;
    std::array<std::byte, digest_length> trailer_{};
    std::size_t trailer_length_ = 0;
};

/// ICResp fields a controller (the in-test peer) answers with.
struct ICRespParams {
    uint8_t cpda = 0;
    DigestSettings digests;
    uint32_t maxh2cdata = min_maxh2cdata;
};

/// H2CData fields (TCP 1.0, 3.6.2.8); DATAL is the data's size.
struct H2CDataFields {
    uint16_t cccid = 0;
    uint16_t ttag = 0;
    uint32_t datao = 0;
    bool last_pdu = false;
};

/// C2HData fields (TCP 1.0, 3.6.2.9); DATAL is the data's size.
struct C2HDataFields {
    uint16_t cccid = 0;
    uint32_t datao = 0;
    bool last_pdu = false;
    bool success = false;
};

/// R2T fields (TCP 1.0, 3.6.2.10).
struct R2TFields {
    uint16_t cccid = 0;
    uint16_t ttag = 0;
    uint32_t r2to = 0;
    uint32_t r2tl = 0;
};

/// ICReq: PFV 0, HPDA, DGST and MAXR2T (0's based) as given (TCP 1.0, 3.6.2.2).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError> encode_ic_req(const ICReqParams& params);
/// ICResp (TCP 1.0, 3.6.2.3).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError> encode_ic_resp(const ICRespParams& params);

/// H2CTermReq / C2HTermReq carrying the first 128 bytes at most of
/// `offending_header` as data (TCP 1.0, 3.5, 3.6.2.4, 3.6.2.5).
[[nodiscard]] OutgoingPdu encode_h2c_term_req(FatalErrorStatus fes, uint32_t fei,
                                              std::span<const std::byte> offending_header);
[[nodiscard]] OutgoingPdu encode_c2h_term_req(FatalErrorStatus fes, uint32_t fei,
                                              std::span<const std::byte> offending_header);

/// CapsuleCmd with optional in-capsule data, PAD per CPDA (TCP 1.0, 3.6.2.6).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError>
encode_capsule_cmd(const nvme::SubmissionQueueEntry& sqe,
                   std::span<const std::byte> in_capsule_data, const SendSettings& settings);

/// CapsuleResp (TCP 1.0, 3.6.2.7).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError>
encode_capsule_resp(const nvme::CompletionQueueEntry& cqe, const SendSettings& settings);

/// H2CData (TCP 1.0, 3.6.2.8).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError>
encode_h2c_data(const H2CDataFields& fields, std::span<const std::byte> data,
                const SendSettings& settings);

/// C2HData (TCP 1.0, 3.6.2.9).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError>
encode_c2h_data(const C2HDataFields& fields, std::span<const std::byte> data,
                const SendSettings& settings);

/// R2T (TCP 1.0, 3.6.2.10).
[[nodiscard]] std::expected<OutgoingPdu, EncodeError> encode_r2t(const R2TFields& fields,
                                                                 const SendSettings& settings);

} // namespace nvmecuse::transport::tcp
