// Receiving NVMe/TCP PDUs: an incremental parser fed from a byte stream that
// validates every length and flag from the wire before it trusts it, and the
// ICResp checks of connection setup (NVMe TCP Transport 1.0, 3.1, 3.3, 3.5,
// 3.6.2). Every rejection is a distinct ParseError, mapped by one table to
// the Fatal Error Status and Fatal Error Information of the TermReq to send.
//
// Threading: a PduParser belongs to the one thread that reads its socket.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "nvmecuse/transport/tcp/pdu.hpp"

namespace nvmecuse::transport::tcp {

/// Why a received PDU (or an ICResp) was rejected. All but
/// data_digest_mismatch are fatal: the connection is terminated (3.5).
enum class ParseError : uint8_t {
    unknown_pdu_type,             ///< PDU-Type not in Figure 10
    wrong_direction,              ///< a PDU only the receiver itself may send (3.3)
    reserved_flags_set,           ///< FLAGS bits the type does not define
    header_digest_flag_mismatch,  ///< HDGSTF differs from the negotiated setting (3.3.1.1)
    data_digest_flag_mismatch,    ///< DDGSTF differs from negotiated setting and data presence
    success_without_last_pdu,     ///< C2HData SUCCESS with LAST_PDU clear (3.3.2.1)
    invalid_hlen,                 ///< HLEN not the type's fixed length
    invalid_pdo,                  ///< PDO set where reserved, inside the header, or misaligned
    plen_below_hlen,              ///< PLEN shorter than the header
    plen_inconsistent,            ///< PLEN does not match the header, PAD, data and digests
    plen_over_maximum,            ///< PLEN above ParserConfig::max_plen
    term_req_length_invalid,      ///< TermReq PLEN outside 24..152: drop without a TermReq (3.5)
    data_length_mismatch,         ///< DATAL differs from the data the PDU carries
    h2c_data_over_maxh2cdata,     ///< H2CData DATAL above MAXH2CDATA (3.3.2.2)
    header_digest_mismatch,       ///< HDGST wrong: the stream can no longer be trusted (3.5)
    data_digest_mismatch,         ///< DDGST wrong: not fatal, the command fails (3.5)
    ic_resp_unsupported_pfv,      ///< ICResp PFV other than 0
    ic_resp_invalid_cpda,         ///< ICResp CPDA above 31
    ic_resp_digest_not_requested, ///< ICResp enables a digest the ICReq did not ask for
    ic_resp_invalid_maxh2cdata,   ///< MAXH2CDATA below 4096 or not a dword multiple
};

/// One row of the error table.
struct ParseErrorInfo {
    ParseError error;
    std::string_view name;
    bool fatal;                ///< the connection must be terminated
    bool send_term_req;        ///< a TermReq reports it (false: just drop or continue)
    FatalErrorStatus fes;      ///< when send_term_req
    uint32_t fei_field_offset; ///< FEI for FES 01h/06h: offset of the offending field
};

/// The table itself lives in pdu_parser.cpp; one row per ParseError.
[[nodiscard]] const ParseErrorInfo& parse_error_info(ParseError error) noexcept;
[[nodiscard]] std::string_view to_string(ParseError error) noexcept;

/// What to put in the TermReq for a fatal error.
struct TermReqFields {
    FatalErrorStatus fes;
    uint32_t fei; ///< field offset (01h, 06h), the received HDGST (03h), else 0
};
/// nullopt when no TermReq is sent: TermReqs with a bad PLEN (the connection
/// is simply dropped) and data digest errors (not fatal).
[[nodiscard]] std::optional<TermReqFields> term_req_for(ParseError error,
                                                        uint32_t received_hdgst = 0) noexcept;

/// Checks the ICResp answering `sent` and returns the connection it settles:
/// a digest is on when both sides set it (TCP 1.0, 3.1, 3.3.1.1, 3.6.2.3).
/// The ICResp's common header must already have passed a PduParser.
[[nodiscard]] std::expected<NegotiatedConnection, ParseError>
accept_ic_resp(const ICResp& resp, const ICReqParams& sent) noexcept;

/// What a parser accepts.
struct ParserConfig {
    /// PDUs this side receives: controller_to_host for a host.
    Direction accepts = Direction::controller_to_host;
    /// As negotiated; both off until the ICResp is accepted (IC and TermReq
    /// PDUs never carry digests).
    DigestSettings digests;
    /// The alignment this side asked for (the host's HPDA): received PDO
    /// must be a multiple of pda_alignment(rx_pda).
    uint8_t rx_pda = 0;
    /// Largest PLEN accepted; bounds the memory one PDU can make us allocate.
    uint32_t max_plen = (1u << 20) + 256;
    /// Controller side only: MAXH2CDATA announced in the ICResp; 0 = unchecked.
    uint32_t maxh2cdata = 0;
    /// feed() returns as soon as the header of a PDU with data has been
    /// validated (stage data, no data byte taken), so that the owner can
    /// look at header<>() and set_data_destination() before feeding on.
    bool pause_before_data = false;
};

/// An incremental PDU parser. Feed it bytes as they arrive; it asks for the
/// 8-byte common header first, validates it, then asks for the rest of the
/// header (HDGST and PAD included), checks the header digest, then asks for
/// the data and its digest. Every length it uses was validated first and no
/// buffer is indexed past what was received: hostile input ends in a
/// ParseError, never in an out-of-bounds access or an unbounded allocation.
///
/// DATA lands in a buffer of the parser's own unless the owner names a
/// destination for it (set_data_destination()): a host receives C2HData
/// straight into the command's buffer, even from its own recv() calls
/// (data_destination_space(), data_destination_filled()).
class PduParser {
public:
    enum class Stage : uint8_t { common_header, header, data, complete, failed };

    explicit PduParser(const ParserConfig& config = {}) : config_(config) {}

    /// Replace the configuration, e.g. digests after the ICResp. Only
    /// between PDUs (stage common_header with nothing buffered) or after next().
    void reconfigure(const ParserConfig& config) noexcept { config_ = config; }
    [[nodiscard]] const ParserConfig& config() const noexcept { return config_; }

    [[nodiscard]] Stage stage() const noexcept { return stage_; }
    /// Bytes still missing to finish the current stage; 0 when complete or failed.
    [[nodiscard]] std::size_t bytes_needed() const noexcept;

    /// Consumes bytes of the current PDU, never past its end (the caller
    /// keeps the rest for the next one), and returns how many it took.
    /// A fatal error makes the parser fail for good; feeding a failed parser
    /// returns the same error again. A data digest mismatch is not fatal:
    /// the PDU completes, and data_digest_error() says so.
    [[nodiscard]] std::expected<std::size_t, ParseError> feed(std::span<const std::byte> bytes);

    /// A whole PDU has been received and validated (stage complete).
    [[nodiscard]] bool complete() const noexcept { return stage_ == Stage::complete; }
    /// Drops the completed PDU and starts on the next one.
    void next() noexcept;

    // --- Receiving DATA into the owner's memory ---------------------------
    /// In stage data before any data byte was taken: DATA goes to
    /// `destination`, which must be exactly data_length() bytes and stay
    /// valid until the PDU completes or the parser is reset or destroyed;
    /// data() then returns it. DDGST is still checked over it (the digest
    /// itself, like PAD, stays in the parser). False, and nothing changes,
    /// in another stage, after data arrived, or for a span of another size.
    [[nodiscard]] bool set_data_destination(std::span<std::byte> destination) noexcept;
    /// The part of the destination DATA has not reached yet; empty without
    /// a destination or once DATA is all in (DDGST is fed as usual). An
    /// owner may write the stream's next bytes there itself, then call
    /// data_destination_filled(): never more than this, so that no byte
    /// of what follows the data is taken.
    [[nodiscard]] std::span<std::byte> data_destination_space() const noexcept;
    /// Records that the owner wrote the next `n` bytes of DATA to the front
    /// of data_destination_space(), as feed() would have; completes the PDU
    /// when they were the last and no DDGST follows. False, and nothing
    /// changes, when `n` exceeds the space.
    [[nodiscard]] bool data_destination_filled(std::size_t n) noexcept;
    /// Bytes of DATA the PDU carries (DATAL for C2HData and H2CData),
    /// without PAD and DDGST; known from stage data on (0 before).
    [[nodiscard]] std::size_t data_length() const noexcept { return data_length_; }

    // --- The received PDU; valid while complete() (the header from stage data on)
    [[nodiscard]] PduType type() const noexcept { return static_cast<PduType>(ch_.pdu_type); }
    [[nodiscard]] const CommonHeader& common_header() const noexcept { return ch_; }
    /// HLEN bytes: common header and PDU-specific header.
    [[nodiscard]] std::span<const std::byte> header_bytes() const noexcept
    {
        return {buffer_.data(), ch_.hlen};
    }
    /// The header as its struct, validated (HDGST included); nullopt for
    /// another type or before the header is complete.
    template <class Header> [[nodiscard]] std::optional<Header> header() const noexcept
    {
        static_assert(is_pdu_header_v<Header>);
        if ((!complete() && stage_ != Stage::data) || type() != Header::type) return std::nullopt;
        Header h;
        std::memcpy(&h, buffer_.data(), sizeof h); // HLEN == sizeof(Header), validated
        return h;
    }
    /// DATA without PAD and DDGST (a TermReq's offending header included):
    /// the destination when one was set.
    [[nodiscard]] std::span<const std::byte> data() const noexcept
    {
        if (!destination_.empty()) return destination_;
        return std::span<const std::byte>(data_).first(std::min(data_length_, data_.size()));
    }
    /// Set when the completed PDU's DDGST did not match: the data is
    /// corrupt, the stream is fine (TCP 1.0, 3.5 "Digest Error handling").
    [[nodiscard]] std::optional<ParseError> data_digest_error() const noexcept
    {
        return data_digest_ok_ ? std::nullopt
                               : std::optional<ParseError>(ParseError::data_digest_mismatch);
    }

    // --- After a fatal error ----------------------------------------------
    [[nodiscard]] std::optional<ParseError> error() const noexcept { return error_; }
    /// FES/FEI for the H2CTermReq (or C2HTermReq); nullopt when none is sent.
    [[nodiscard]] std::optional<TermReqFields> term_req() const noexcept;
    /// The header bytes received of the PDU being processed, at most 128:
    /// the DATA of the TermReq (TCP 1.0, 3.5).
    [[nodiscard]] std::span<const std::byte> offending_header() const noexcept;

private:
    [[nodiscard]] std::expected<void, ParseError> on_common_header();
    [[nodiscard]] std::expected<void, ParseError> on_header();
    void on_data();
    /// Stores the next bytes of the data stage, at most bytes_needed().
    void take_data(std::span<const std::byte> bytes);
    [[nodiscard]] std::size_t data_stage_length() const noexcept
    {
        return data_length_ + (ddgst_ ? digest_length : 0u);
    }
    std::unexpected<ParseError> fail(ParseError error) noexcept;

    ParserConfig config_;
    Stage stage_ = Stage::common_header;
    std::optional<ParseError> error_;
    CommonHeader ch_{};
    /// CH, PSH, HDGST and PAD: everything before DATA (PDO <= 255).
    std::array<std::byte, max_pdo + 1> buffer_{};
    std::size_t buffered_ = 0;   ///< bytes of buffer_ filled
    std::size_t prefix_end_ = 0; ///< where DATA starts (or the PDU ends)
    uint32_t received_hdgst_ = 0;
    std::vector<std::byte> data_; ///< DATA then DDGST, without a destination
    /// The owner's memory for DATA (data_length_ bytes); empty when none.
    std::span<std::byte> destination_;
    std::array<std::byte, digest_length> ddgst_buffer_{}; ///< DDGST, with a destination
    std::size_t data_length_ = 0;
    std::size_t data_received_ = 0; ///< bytes of DATA and DDGST so far
    bool ddgst_ = false;
    bool data_digest_ok_ = true;
};

} // namespace nvmecuse::transport::tcp
