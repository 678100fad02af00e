// The incremental PDU parser and the ParseError table. See pdu_parser.hpp.
#include "nvmecuse/transport/tcp/pdu_parser.hpp"

#include <algorithm>

#include "nvmecuse/transport/tcp/crc32c.hpp"

namespace nvmecuse::transport::tcp {

namespace {

using enum ParseError;
using Fes = FatalErrorStatus;

// Byte offsets of the fields a FEI can point at (TCP 1.0, Figures 19-27).
constexpr uint32_t at_type = offsetof(CommonHeader, pdu_type);
constexpr uint32_t at_flags = offsetof(CommonHeader, flags);
constexpr uint32_t at_hlen = offsetof(CommonHeader, hlen);
constexpr uint32_t at_pdo = offsetof(CommonHeader, pdo);
constexpr uint32_t at_plen = offsetof(CommonHeader, plen);
constexpr uint32_t at_datal = offsetof(C2HDataHeader, datal);
static_assert(at_datal == offsetof(H2CDataHeader, datal));

/// One row per ParseError, in enum order (checked below). FES 01h and 06h
/// carry the offending field's offset as FEI (TCP 1.0, Figures 22, 23).
constexpr std::array<ParseErrorInfo, 20> error_table{{
    {unknown_pdu_type, "unknown PDU type", true, true, Fes::invalid_pdu_header_field, at_type},
    {wrong_direction, "PDU type sent in the wrong direction", true, true,
     Fes::invalid_pdu_header_field, at_type},
    {reserved_flags_set, "FLAGS bits reserved for this PDU type", true, true,
     Fes::invalid_pdu_header_field, at_flags},
    {header_digest_flag_mismatch, "HDGSTF differs from the negotiated header digest", true, true,
     Fes::invalid_pdu_header_field, at_flags},
    {data_digest_flag_mismatch, "DDGSTF differs from the negotiated data digest", true, true,
     Fes::invalid_pdu_header_field, at_flags},
    {success_without_last_pdu, "C2HData SUCCESS without LAST_PDU", true, true,
     Fes::invalid_pdu_header_field, at_flags},
    {invalid_hlen, "HLEN wrong for the PDU type", true, true, Fes::invalid_pdu_header_field,
     at_hlen},
    {invalid_pdo, "PDO reserved, inside the header or misaligned", true, true,
     Fes::invalid_pdu_header_field, at_pdo},
    {plen_below_hlen, "PLEN shorter than HLEN", true, true, Fes::invalid_pdu_header_field, at_plen},
    {plen_inconsistent, "PLEN inconsistent with header, data and digests", true, true,
     Fes::invalid_pdu_header_field, at_plen},
    {plen_over_maximum, "PLEN above the configured maximum", true, true,
     Fes::invalid_pdu_header_field, at_plen},
    {term_req_length_invalid, "TermReq PLEN outside 24..152", true, false,
     Fes::invalid_pdu_header_field, at_plen},
    {data_length_mismatch, "DATAL differs from the data in the PDU", true, true,
     Fes::invalid_pdu_header_field, at_datal},
    {h2c_data_over_maxh2cdata, "H2CData DATAL above MAXH2CDATA", true, true,
     Fes::data_transfer_limit_exceeded, 0},
    {header_digest_mismatch, "header digest mismatch", true, true, Fes::header_digest_error, 0},
    {data_digest_mismatch, "data digest mismatch", false, false, Fes::invalid_pdu_header_field, 0},
    {ic_resp_unsupported_pfv, "ICResp PFV unsupported", true, true, Fes::unsupported_parameter,
     offsetof(ICResp, pfv)},
    {ic_resp_invalid_cpda, "ICResp CPDA above 31", true, true, Fes::invalid_pdu_header_field,
     offsetof(ICResp, cpda)},
    {ic_resp_digest_not_requested, "ICResp enables a digest the host did not request", true, true,
     Fes::invalid_pdu_header_field, offsetof(ICResp, dgst)},
    {ic_resp_invalid_maxh2cdata, "ICResp MAXH2CDATA below 4096 or not dword-aligned", true, true,
     Fes::invalid_pdu_header_field, offsetof(ICResp, maxh2cdata)},
}};

consteval bool table_in_enum_order()
{
    for (std::size_t i = 0; i < error_table.size(); ++i)
        if (static_cast<std::size_t>(error_table[i].error) != i) return false;
    return true;
}
static_assert(table_in_enum_order());
static_assert(error_table.back().error == ic_resp_invalid_maxh2cdata);

[[nodiscard]] uint32_t load_le32(const std::byte* p) noexcept
{
    uint32_t v;
    std::memcpy(&v, p, sizeof v); // little-endian host, checked in spec/bits.hpp
    return v;
}

} // namespace

const ParseErrorInfo& parse_error_info(ParseError error) noexcept
{
    return error_table[static_cast<std::size_t>(error)];
}

std::string_view to_string(ParseError error) noexcept
{
    return parse_error_info(error).name;
}

std::optional<TermReqFields> term_req_for(ParseError error, uint32_t received_hdgst) noexcept
{
    const auto& info = parse_error_info(error);
    if (!info.send_term_req) return std::nullopt;
    const uint32_t fei =
        info.fes == Fes::header_digest_error ? received_hdgst : info.fei_field_offset;
    return TermReqFields{info.fes, fei};
}

std::size_t PduParser::bytes_needed() const noexcept
{
    switch (stage_) {
    case Stage::common_header:
        return sizeof(CommonHeader) - buffered_;
    case Stage::header:
        return prefix_end_ - buffered_;
    case Stage::data:
        return data_stage_length() - data_received_;
    case Stage::complete:
    case Stage::failed:
        return 0;
    }
    return 0;
}

std::expected<std::size_t, ParseError> PduParser::feed(std::span<const std::byte> bytes)
{
    if (stage_ == Stage::failed) return std::unexpected(*error_);
    std::size_t consumed = 0;
    while (consumed < bytes.size() && stage_ != Stage::complete) {
        const auto rest = bytes.subspan(consumed);
        const std::size_t n = std::min(rest.size(), bytes_needed());
        if (stage_ == Stage::data) {
            take_data(rest.first(n));
        } else {
            std::memcpy(buffer_.data() + buffered_, rest.data(), n);
            buffered_ += n;
        }
        consumed += n;
        if (bytes_needed() != 0) break; // input exhausted mid-stage

        if (stage_ == Stage::common_header) {
            std::memcpy(&ch_, buffer_.data(), sizeof ch_);
            if (auto r = on_common_header(); !r) return fail(r.error());
        } else if (stage_ == Stage::header) {
            if (auto r = on_header(); !r) return fail(r.error());
            if (stage_ == Stage::data && config_.pause_before_data) break; // the owner's turn
        } else {
            on_data();
        }
    }
    return consumed;
}

std::unexpected<ParseError> PduParser::fail(ParseError error) noexcept
{
    stage_ = Stage::failed;
    error_ = error;
    destination_ = {}; // a failed parser holds nothing of its owner's
    return std::unexpected(error);
}

/// Validates the common header field by field, lowest offset first as FEI
/// wants it (TCP 1.0, Figure 22), and computes where DATA starts and ends.
std::expected<void, ParseError> PduParser::on_common_header()
{
    const PduTypeInfo* info = find_pdu_type(ch_.pdu_type);
    if (info == nullptr) return std::unexpected(unknown_pdu_type);
    if (info->direction != config_.accepts) return std::unexpected(wrong_direction);

    if ((ch_.flags & ~info->valid_flags) != 0) return std::unexpected(reserved_flags_set);
    const bool hdgstf = (ch_.flags & pdu_flags::hdgstf) != 0;
    const bool ddgstf = (ch_.flags & pdu_flags::ddgstf) != 0;
    if (info->digests && hdgstf != config_.digests.header)
        return std::unexpected(header_digest_flag_mismatch);
    if (ddgstf && !config_.digests.data) return std::unexpected(data_digest_flag_mismatch);
    const bool data_at_pdo = info->data == DataPlacement::optional_at_pdo ||
                             info->data == DataPlacement::required_at_pdo;
    // With data (PDO set), DDGSTF follows the negotiation; without, it is
    // meaningless (3.3.1.1). A FLAGS error, so reported before HLEN/PDO ones.
    if (data_at_pdo && ddgstf != (ch_.pdo != 0 && config_.digests.data))
        return std::unexpected(data_digest_flag_mismatch);
    if ((ch_.flags & pdu_flags::success) != 0 && (ch_.flags & pdu_flags::last_pdu) == 0)
        return std::unexpected(success_without_last_pdu); // SUCCESS is C2HData-only, checked above

    if (ch_.hlen != info->hlen) return std::unexpected(invalid_hlen);
    const uint32_t header_end = ch_.hlen + (hdgstf ? digest_length : 0u);

    if (!data_at_pdo && ch_.pdo != 0) return std::unexpected(invalid_pdo);
    if (data_at_pdo) {
        if (ch_.pdo == 0 && info->data == DataPlacement::required_at_pdo)
            return std::unexpected(invalid_pdo);
        if (ch_.pdo != 0 && (ch_.pdo < header_end || ch_.pdo % pda_alignment(config_.rx_pda) != 0))
            return std::unexpected(invalid_pdo);
    }

    const uint64_t plen = ch_.plen; // 64-bit: no sum below can wrap
    if (info->data == DataPlacement::after_header &&
        (plen < info->hlen || plen > term_req_max_plen))
        return std::unexpected(term_req_length_invalid); // 3.5: ignore, drop the connection
    if (plen < ch_.hlen) return std::unexpected(plen_below_hlen);
    if (info->data != DataPlacement::after_header && plen > config_.max_plen)
        return std::unexpected(plen_over_maximum); // a TermReq is bounded by 152 above

    const uint64_t trailer = ddgstf ? digest_length : 0u;
    data_length_ = 0;
    prefix_end_ = header_end;
    if (info->data == DataPlacement::after_header) {
        prefix_end_ = ch_.hlen;
        data_length_ = static_cast<std::size_t>(plen - ch_.hlen);
    } else if (data_at_pdo && ch_.pdo != 0) {
        if (plen < uint64_t{ch_.pdo} + trailer + 1) return std::unexpected(plen_inconsistent);
        prefix_end_ = ch_.pdo;
        data_length_ = static_cast<std::size_t>(plen - ch_.pdo - trailer);
    } else if (plen != header_end) {
        return std::unexpected(plen_inconsistent);
    }
    ddgst_ = ddgstf;
    stage_ = Stage::header;
    return {};
}

/// Checks HDGST before any PSH field is believed, then the PSH fields that
/// describe the data.
std::expected<void, ParseError> PduParser::on_header()
{
    if ((ch_.flags & pdu_flags::hdgstf) != 0) { // HLEN + 4 <= prefix_end_: validated
        received_hdgst_ = load_le32(buffer_.data() + ch_.hlen);
        if (crc32c(header_bytes()) != received_hdgst_)
            return std::unexpected(header_digest_mismatch);
    }
    const PduType t = type();
    if (t == PduType::h2c_data || t == PduType::c2h_data) {
        const uint32_t datal = load_le32(buffer_.data() + at_datal);
        if (datal != data_length_) return std::unexpected(data_length_mismatch);
        if (t == PduType::h2c_data && config_.maxh2cdata != 0 && datal > config_.maxh2cdata)
            return std::unexpected(h2c_data_over_maxh2cdata);
    }
    if (data_length_ == 0) {
        stage_ = Stage::complete;
        return {};
    }
    // data_ is sized at the first data byte, when the owner has not named
    // a destination by then (bounded by max_plen, or 128 for a TermReq).
    data_received_ = 0;
    stage_ = Stage::data;
    return {};
}

void PduParser::take_data(std::span<const std::byte> bytes)
{
    // data_received_ + bytes.size() <= data_stage_length(): the caller
    // takes at most bytes_needed().
    if (destination_.empty()) {
        if (data_.size() != data_stage_length()) data_.resize(data_stage_length());
        std::memcpy(data_.data() + data_received_, bytes.data(), bytes.size());
        data_received_ += bytes.size();
        return;
    }
    const std::size_t to_data =
        std::min(bytes.size(), data_length_ - std::min(data_received_, data_length_));
    if (to_data != 0) std::memcpy(destination_.data() + data_received_, bytes.data(), to_data);
    data_received_ += to_data;
    const std::size_t to_ddgst = bytes.size() - to_data; // data_received_ >= data_length_ now
    if (to_ddgst != 0)
        std::memcpy(ddgst_buffer_.data() + (data_received_ - data_length_), bytes.data() + to_data,
                    to_ddgst);
    data_received_ += to_ddgst;
}

bool PduParser::set_data_destination(std::span<std::byte> destination) noexcept
{
    if (stage_ != Stage::data || data_received_ != 0 || destination.size() != data_length_)
        return false;
    destination_ = destination; // data_length_ > 0 in stage data: never empty
    return true;
}

std::span<std::byte> PduParser::data_destination_space() const noexcept
{
    if (stage_ != Stage::data || destination_.empty() || data_received_ >= data_length_) return {};
    return destination_.subspan(data_received_);
}

bool PduParser::data_destination_filled(std::size_t n) noexcept
{
    if (n > data_destination_space().size()) return false;
    if (n == 0) return true;
    data_received_ += n;
    if (bytes_needed() == 0) on_data();
    return true;
}

void PduParser::on_data()
{
    if (ddgst_) {
        const std::byte* at =
            destination_.empty() ? data_.data() + data_length_ : ddgst_buffer_.data();
        data_digest_ok_ = crc32c(data()) == load_le32(at);
    }
    stage_ = Stage::complete;
}

void PduParser::next() noexcept
{
    if (stage_ == Stage::failed) return; // a failed connection stays failed
    stage_ = Stage::common_header;
    ch_ = {};
    buffered_ = 0;
    prefix_end_ = 0;
    received_hdgst_ = 0;
    data_.clear(); // keeps its capacity for the next PDU
    destination_ = {};
    data_length_ = 0;
    data_received_ = 0;
    ddgst_ = false;
    data_digest_ok_ = true;
}

std::optional<TermReqFields> PduParser::term_req() const noexcept
{
    if (!error_) return std::nullopt;
    return term_req_for(*error_, received_hdgst_);
}

std::span<const std::byte> PduParser::offending_header() const noexcept
{
    const std::size_t header = std::max<std::size_t>(sizeof(CommonHeader), ch_.hlen);
    const std::size_t n = std::min({buffered_, header, std::size_t{term_req_max_data}});
    return {buffer_.data(), n};
}

} // namespace nvmecuse::transport::tcp
