// PDU layout for sending: one builder applies the type table's rules
// (pdu.hpp) to every PDU type. See pdu_encode.hpp.
#include "nvmecuse/transport/tcp/pdu_encode.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "nvmecuse/transport/tcp/crc32c.hpp"

namespace nvmecuse::transport::tcp {

namespace {

void store_le32(std::byte* out, uint32_t v) noexcept
{
    std::memcpy(out, &v, sizeof v); // little-endian host, checked in spec/bits.hpp
}

[[nodiscard]] constexpr std::size_t round_up(std::size_t v, std::size_t alignment) noexcept
{
    return (v + alignment - 1) / alignment * alignment;
}

} // namespace

/// Lays out one PDU: the typed header `h` (its CH is overwritten), `flags`
/// holding only the type-specific bits, `data` per the type's DataPlacement.
class PduBuilder {
public:
    template <class Header>
    static std::expected<OutgoingPdu, EncodeError> build(const Header& h, uint8_t flags,
                                                         std::span<const std::byte> data,
                                                         const SendSettings& settings)
    {
        static_assert(is_pdu_header_v<Header>);
        const auto bytes = std::bit_cast<std::array<std::byte, sizeof(Header)>>(h);
        return build_raw(pdu_type_info(Header::type), bytes, flags, data, settings);
    }

private:
    static std::expected<OutgoingPdu, EncodeError>
    build_raw(const PduTypeInfo& info, std::span<const std::byte> header, uint8_t flags,
              std::span<const std::byte> data, const SendSettings& settings)
    {
        if (settings.pda > max_pda) return std::unexpected(EncodeError::pda_out_of_range);
        if (info.data == DataPlacement::required_at_pdo && data.empty())
            return std::unexpected(EncodeError::data_required);

        const bool has_data = !data.empty() && info.data != DataPlacement::none;
        const bool hdgst = info.digests && settings.digests.header;
        const bool ddgst = info.digests && settings.digests.data && has_data;
        const std::size_t header_end = info.hlen + (hdgst ? digest_length : 0u);

        std::size_t data_start = header_end;
        uint8_t pdo = 0;
        if (has_data && info.data != DataPlacement::after_header) {
            // PAD brings DATA to the receiver's alignment (TCP 1.0, 3.3).
            data_start = round_up(header_end, pda_alignment(settings.pda));
            pdo = static_cast<uint8_t>(data_start); // <= round_up(76, 128) = 128
        }
        const std::size_t trailer = ddgst ? digest_length : 0u;
        if (has_data && data.size() > std::numeric_limits<uint32_t>::max() - data_start - trailer)
            return std::unexpected(EncodeError::data_too_long);

        OutgoingPdu pdu;
        std::copy(header.begin(), header.end(), pdu.head_.begin());
        CommonHeader ch{};
        ch.pdu_type = static_cast<uint8_t>(info.type);
        ch.flags = static_cast<uint8_t>(flags | (hdgst ? pdu_flags::hdgstf : 0u) |
                                        (ddgst ? pdu_flags::ddgstf : 0u));
        ch.hlen = info.hlen;
        ch.pdo = pdo;
        ch.plen = static_cast<uint32_t>(has_data ? data_start + data.size() + trailer : header_end);
        std::memcpy(pdu.head_.data(), &ch, sizeof ch);

        if (hdgst) // HDGST covers CH + PSH, i.e. HLEN bytes (3.3.1.1)
            store_le32(pdu.head_.data() + info.hlen,
                       crc32c(std::span<const std::byte>(pdu.head_.data(), info.hlen)));
        // PAD bytes stay zero: head_ is value-initialised.
        pdu.head_length_ = has_data ? data_start : header_end;
        if (has_data) pdu.data_ = data;
        if (ddgst) { // DDGST covers DATA only, not PAD (3.3)
            store_le32(pdu.trailer_.data(), crc32c(data));
            pdu.trailer_length_ = digest_length;
        }
        return pdu;
    }
};

std::vector<std::byte> OutgoingPdu::to_bytes() const
{
    std::vector<std::byte> out;
    out.reserve(plen());
    out.insert(out.end(), head().begin(), head().end());
    out.insert(out.end(), data_.begin(), data_.end());
    out.insert(out.end(), trailer().begin(), trailer().end());
    return out;
}

std::string_view to_string(EncodeError error) noexcept
{
    switch (error) {
    case EncodeError::pda_out_of_range:
        return "PDU data alignment above 31";
    case EncodeError::data_too_long:
        return "PDU length does not fit 32 bits";
    case EncodeError::data_required:
        return "data PDU without data";
    case EncodeError::success_without_last_pdu:
        return "C2HData SUCCESS without LAST_PDU";
    }
    return "unknown encode error";
}

std::expected<OutgoingPdu, EncodeError> encode_ic_req(const ICReqParams& params)
{
    if (params.hpda > max_pda) return std::unexpected(EncodeError::pda_out_of_range);
    ICReq h{};
    h.pfv = pfv_1_0;
    h.hpda = params.hpda;
    h.dgst = dgst_of(params.digests);
    h.maxr2t = params.maxr2t;
    return PduBuilder::build(h, 0, {}, {});
}

std::expected<OutgoingPdu, EncodeError> encode_ic_resp(const ICRespParams& params)
{
    if (params.cpda > max_pda) return std::unexpected(EncodeError::pda_out_of_range);
    ICResp h{};
    h.pfv = pfv_1_0;
    h.cpda = params.cpda;
    h.dgst = dgst_of(params.digests);
    h.maxh2cdata = params.maxh2cdata;
    return PduBuilder::build(h, 0, {}, {});
}

namespace {

template <class Header>
OutgoingPdu encode_term_req(FatalErrorStatus fes, uint32_t fei,
                            std::span<const std::byte> offending_header)
{
    Header h{};
    h.fes = static_cast<uint16_t>(fes);
    h.fei.set(fei);
    const auto data =
        offending_header.first(std::min<std::size_t>(offending_header.size(), term_req_max_data));
    // Cannot fail: no alignment, no digests, at most 152 bytes.
    return *PduBuilder::build(h, 0, data, {});
}

} // namespace

OutgoingPdu encode_h2c_term_req(FatalErrorStatus fes, uint32_t fei,
                                std::span<const std::byte> offending_header)
{
    return encode_term_req<H2CTermReqHeader>(fes, fei, offending_header);
}

OutgoingPdu encode_c2h_term_req(FatalErrorStatus fes, uint32_t fei,
                                std::span<const std::byte> offending_header)
{
    return encode_term_req<C2HTermReqHeader>(fes, fei, offending_header);
}

std::expected<OutgoingPdu, EncodeError>
encode_capsule_cmd(const nvme::SubmissionQueueEntry& sqe,
                   std::span<const std::byte> in_capsule_data, const SendSettings& settings)
{
    CapsuleCmdHeader h{};
    h.sqe = sqe;
    return PduBuilder::build(h, 0, in_capsule_data, settings);
}

std::expected<OutgoingPdu, EncodeError> encode_capsule_resp(const nvme::CompletionQueueEntry& cqe,
                                                            const SendSettings& settings)
{
    CapsuleRespHeader h{};
    h.cqe = cqe;
    return PduBuilder::build(h, 0, {}, settings);
}

std::expected<OutgoingPdu, EncodeError> encode_h2c_data(const H2CDataFields& fields,
                                                        std::span<const std::byte> data,
                                                        const SendSettings& settings)
{
    H2CDataHeader h{};
    h.cccid = fields.cccid;
    h.ttag = fields.ttag;
    h.datao = fields.datao;
    h.datal = static_cast<uint32_t>(data.size()); // data_too_long is checked by the builder
    return PduBuilder::build(h, fields.last_pdu ? pdu_flags::last_pdu : 0, data, settings);
}

std::expected<OutgoingPdu, EncodeError> encode_c2h_data(const C2HDataFields& fields,
                                                        std::span<const std::byte> data,
                                                        const SendSettings& settings)
{
    if (fields.success && !fields.last_pdu)
        return std::unexpected(EncodeError::success_without_last_pdu);
    C2HDataHeader h{};
    h.cccid = fields.cccid;
    h.datao = fields.datao;
    h.datal = static_cast<uint32_t>(data.size());
    const auto flags = static_cast<uint8_t>((fields.last_pdu ? pdu_flags::last_pdu : 0u) |
                                            (fields.success ? pdu_flags::success : 0u));
    return PduBuilder::build(h, flags, data, settings);
}

std::expected<OutgoingPdu, EncodeError> encode_r2t(const R2TFields& fields,
                                                   const SendSettings& settings)
{
    R2THeader h{};
    h.cccid = fields.cccid;
    h.ttag = fields.ttag;
    h.r2to = fields.r2to;
    h.r2tl = fields.r2tl;
    return PduBuilder::build(h, 0, {}, settings);
}

} // namespace nvmecuse::transport::tcp
