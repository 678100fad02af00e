// The NVMe/TCP PDU parser (transport/tcp/pdu_parser.cpp) on arbitrary byte
// streams, cut into arbitrary chunks, with or without an owner-supplied data
// destination. Invariants:
// - every chunk is an exact-size heap allocation, so ASan catches a read
//   past what was fed; feed() never takes more than it was given, nor past
//   the end of the current PDU;
// - a completed PDU took exactly PLEN bytes; its header, DATA, HDGST and
//   DDGST verdicts agree with the bytes of the stream at HLEN and PDO;
//   data_length() equals PLEN minus the data offset and DDGST;
// - a failed parser stays failed with the same error, its TermReq fields
//   follow the error table and its offending header is a prefix of the PDU;
// - the result does not depend on the chunking: the stream fed whole and
//   fed in pieces gives the same PDUs and the same error;
// - an accepted ICResp settles only what was asked for (TCP 1.0, 3.6.2.3);
// - in encode mode the stream is PDUs built by pdu_encode.cpp from the
//   input's fields and data, and the parser accepts every one of them with
//   its type, PLEN and data, digests and alignment as negotiated.
//
// Input: flags (1), rx_pda (1), maxh2cdata / 4 (2), chunking seed (4),
// ICReq dgst (1), then the stream, or in encode mode PDU descriptions:
// kind (1), data length (1), fields (12), then the data.
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "nvmecuse/transport/tcp/crc32c.hpp"
#include "nvmecuse/transport/tcp/pdu_encode.hpp"
#include "nvmecuse/transport/tcp/pdu_parser.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace nvmecuse::transport::tcp;
using nvmecuse::fuzz::InputReader;
using nvmecuse::fuzz::Xorshift;

namespace option {
constexpr std::uint8_t host_to_controller = 1u << 0;
constexpr std::uint8_t header_digest = 1u << 1;
constexpr std::uint8_t data_digest = 1u << 2;
constexpr std::uint8_t pause_before_data = 1u << 3;
constexpr std::uint8_t destination = 1u << 4;
constexpr std::uint8_t owner_fills = 1u << 5;
constexpr std::uint8_t small_max_plen = 1u << 6;
constexpr std::uint8_t encode = 1u << 7;
} // namespace option

/// What the parser made of the stream: its PDUs and how it ended.
struct Outcome {
    struct Pdu {
        std::uint8_t type;
        std::uint32_t plen;
        std::vector<std::byte> data;
        bool data_digest_error;
        friend bool operator==(const Pdu&, const Pdu&) = default;
    };
    std::vector<Pdu> pdus;
    std::optional<ParseError> error;
    PduParser::Stage stage{};
    std::size_t bytes_needed = 0;
    std::size_t consumed = 0;
    friend bool operator==(const Outcome&, const Outcome&) = default;
};

std::uint32_t load_le32(std::span<const std::byte> s, std::size_t at)
{
    FUZZ_CHECK(at + 4 <= s.size());
    std::uint32_t v;
    std::memcpy(&v, s.data() + at, 4);
    return v;
}

/// Checks a completed PDU against the stream bytes it came from.
Outcome::Pdu check_complete(const PduParser& p, std::span<const std::byte> pdu,
                            const ParserConfig& config, std::uint8_t icreq_dgst)
{
    const CommonHeader& ch = p.common_header();
    FUZZ_CHECK(pdu.size() == ch.plen);
    const PduTypeInfo* info = find_pdu_type(ch.pdu_type);
    FUZZ_CHECK(info != nullptr);
    FUZZ_CHECK(info->direction == config.accepts);
    FUZZ_CHECK(ch.hlen == info->hlen);
    FUZZ_CHECK((ch.flags & ~info->valid_flags) == 0);

    const auto header = p.header_bytes();
    FUZZ_CHECK(header.size() == ch.hlen && ch.hlen <= pdu.size());
    FUZZ_CHECK(std::memcmp(header.data(), pdu.data(), header.size()) == 0);
    const bool hdgstf = (ch.flags & pdu_flags::hdgstf) != 0;
    const bool ddgstf = (ch.flags & pdu_flags::ddgstf) != 0;
    FUZZ_CHECK(!hdgstf || config.digests.header);
    FUZZ_CHECK(!ddgstf || config.digests.data);
    if (hdgstf) FUZZ_CHECK(crc32c(header) == load_le32(pdu, ch.hlen));

    const std::size_t data_offset = info->data == DataPlacement::after_header ? ch.hlen : ch.pdo;
    const auto data = p.data();
    FUZZ_CHECK(data.size() == p.data_length());
    if (!data.empty()) {
        FUZZ_CHECK(data_offset >= ch.hlen + (hdgstf ? 4u : 0u));
        FUZZ_CHECK(data_offset + data.size() + (ddgstf ? 4u : 0u) == ch.plen);
        FUZZ_CHECK(std::memcmp(data.data(), pdu.data() + data_offset, data.size()) == 0);
        if (data_offset != ch.hlen) FUZZ_CHECK(data_offset % pda_alignment(config.rx_pda) == 0);
    } else {
        FUZZ_CHECK(info->data != DataPlacement::required_at_pdo);
        FUZZ_CHECK(ch.plen == ch.hlen + (hdgstf ? 4u : 0u));
    }
    const bool digest_bad =
        ddgstf && !data.empty() && crc32c(data) != load_le32(pdu, ch.plen - 4u);
    FUZZ_CHECK(p.data_digest_error().has_value() == digest_bad);
    if (!data.empty()) {
        // The two CRC32C implementations agree on every data payload.
        // The two CRC32C implementations and the incremental one agree.
        using namespace nvmecuse::transport::tcp::detail;
        const std::uint32_t portable = ~crc32c_update_portable(0xFFFFFFFFu, data);
        if (crc32c_hardware_available())
            FUZZ_CHECK(~crc32c_update_hardware(0xFFFFFFFFu, data) == portable);
        Crc32c incremental;
        incremental.update(data.first(data.size() / 3));
        incremental.update(data.subspan(data.size() / 3));
        FUZZ_CHECK(incremental.value() == portable && crc32c(data) == portable);
    }

    switch (static_cast<PduType>(ch.pdu_type)) {
    case PduType::c2h_data: {
        const auto h = p.header<C2HDataHeader>();
        FUZZ_CHECK(h && h->datal == data.size() && h->datal != 0);
        FUZZ_CHECK(!p.header<H2CDataHeader>());
        break;
    }
    case PduType::h2c_data: {
        const auto h = p.header<H2CDataHeader>();
        FUZZ_CHECK(h && h->datal == data.size() && h->datal != 0);
        if (config.maxh2cdata != 0) FUZZ_CHECK(h->datal <= config.maxh2cdata);
        break;
    }
    case PduType::c2h_term_req:
    case PduType::h2c_term_req:
        FUZZ_CHECK(ch.plen <= term_req_max_plen && data.size() <= term_req_max_data);
        break;
    case PduType::ic_resp: {
        const auto h = p.header<ICResp>();
        FUZZ_CHECK(h.has_value());
        ICReqParams sent;
        sent.hpda = config.rx_pda;
        sent.digests = digests_of(icreq_dgst);
        const auto settled = accept_ic_resp(*h, sent);
        if (settled) {
            FUZZ_CHECK(h->pfv == pfv_1_0 && h->cpda <= max_pda);
            FUZZ_CHECK(settled->cpda == h->cpda && settled->hpda == sent.hpda);
            FUZZ_CHECK(!settled->digests.header || sent.digests.header);
            FUZZ_CHECK(!settled->digests.data || sent.digests.data);
            FUZZ_CHECK(settled->maxh2cdata >= min_maxh2cdata && settled->maxh2cdata % 4 == 0);
        } else {
            FUZZ_CHECK(parse_error_info(settled.error()).fatal);
        }
        break;
    }
    default:
        break;
    }
    return {ch.pdu_type, ch.plen, {data.begin(), data.end()}, digest_bad};
}

/// Feeds `stream` through one parser, cut by `cut` (0: as much as possible).
Outcome run(std::span<const std::byte> stream, const ParserConfig& config, std::uint8_t flags,
            std::uint8_t icreq_dgst, std::optional<std::uint64_t> cut)
{
    Outcome out;
    PduParser p(config);
    std::optional<Xorshift> chunks;
    if (cut) chunks.emplace(*cut);
    std::size_t pos = 0;
    std::size_t pdu_start = 0;
    std::unique_ptr<std::byte[]> destination;

    while (pos < stream.size()) {
        FUZZ_CHECK(p.stage() != PduParser::Stage::complete && p.stage() != PduParser::Stage::failed);
        FUZZ_CHECK(p.bytes_needed() > 0);

        // The owner's turn at the start of DATA: its own buffer, maybe filled by hand.
        if (p.stage() == PduParser::Stage::data && (flags & option::destination) != 0 &&
            !destination) {
            const std::size_t n = p.data_length();
            FUZZ_CHECK(n > 0);
            std::byte wrong[1];
            FUZZ_CHECK(n == 1 || !p.set_data_destination({wrong, 1}));
            destination = std::make_unique<std::byte[]>(n);
            if (p.set_data_destination({destination.get(), n})) {
                const auto space = p.data_destination_space();
                FUZZ_CHECK(space.data() == destination.get() && space.size() == n);
                if ((flags & option::owner_fills) != 0) {
                    const std::size_t k = std::min(
                        stream.size() - pos, chunks ? chunks->chunk(space.size()) : space.size());
                    FUZZ_CHECK(!p.data_destination_filled(space.size() + 1));
                    std::memcpy(space.data(), stream.data() + pos, k);
                    FUZZ_CHECK(p.data_destination_filled(k));
                    pos += k;
                }
            }
        }
        if (p.stage() != PduParser::Stage::complete && pos < stream.size()) {
            const std::size_t left = stream.size() - pos;
            const std::size_t n = chunks ? chunks->chunk(left) : left;
            auto chunk = std::make_unique<std::byte[]>(n); // exactly n: ASan sees any overread
            std::memcpy(chunk.get(), stream.data() + pos, n);
            const auto r = p.feed({chunk.get(), n});
            if (!r) {
                FUZZ_CHECK(p.stage() == PduParser::Stage::failed && p.error() == r.error());
                FUZZ_CHECK(p.bytes_needed() == 0);
                const auto again = p.feed({chunk.get(), n});
                FUZZ_CHECK(!again && again.error() == r.error());
                const auto& info = parse_error_info(r.error());
                FUZZ_CHECK(info.error == r.error() && info.fatal);
                FUZZ_CHECK(p.term_req().has_value() == info.send_term_req);
                const auto offending = p.offending_header();
                FUZZ_CHECK(offending.size() <= term_req_max_data);
                FUZZ_CHECK(pdu_start + offending.size() <= stream.size());
                FUZZ_CHECK(std::memcmp(offending.data(), stream.data() + pdu_start,
                                       offending.size()) == 0);
                out.error = r.error();
                break;
            }
            FUZZ_CHECK(*r <= n);
            pos += *r;
            if (*r < n)
                FUZZ_CHECK(p.complete() || ((flags & option::pause_before_data) != 0 &&
                                            p.stage() == PduParser::Stage::data));
            if (p.stage() != PduParser::Stage::common_header)
                FUZZ_CHECK(pos - pdu_start <= p.common_header().plen);
        }
        if (p.complete()) {
            out.pdus.push_back(
                check_complete(p, stream.subspan(pdu_start, pos - pdu_start), config, icreq_dgst));
            p.next();
            destination.reset();
            pdu_start = pos;
        }
    }
    out.stage = p.stage();
    out.bytes_needed = p.bytes_needed();
    out.consumed = out.error ? pdu_start : pos;
    return out;
}

/// Encode mode: PDUs the receiver `config` accepts, built by the encoder
/// from `in`; returns the stream and what the parser must make of it.
std::vector<std::byte> encode_stream(InputReader& in, const ParserConfig& config,
                                     std::vector<Outcome::Pdu>& expected)
{
    const SendSettings settings{config.digests, config.rx_pda};
    const bool to_host = config.accepts == Direction::controller_to_host;
    std::vector<std::byte> stream;
    while (in.remaining() > 0 && expected.size() < 16) {
        const auto kind = in.take<std::uint8_t>();
        const auto length = in.take<std::uint8_t>();
        const auto a = in.take<std::uint32_t>();
        const auto b = in.take<std::uint32_t>();
        const auto c = in.take<std::uint32_t>();
        const auto raw = in.take_bytes(length);
        const std::span<const std::byte> data(reinterpret_cast<const std::byte*>(raw.data()), raw.size());
        std::optional<std::expected<OutgoingPdu, EncodeError>> pdu;
        bool carries_data = true; // the parser's data() is `data`
        switch (kind % 5) {
        case 0:
            carries_data = false;
            if (to_host)
                pdu = encode_ic_resp({static_cast<std::uint8_t>(a % 32), digests_of(static_cast<std::uint8_t>(b)),
                                      std::max(c & ~3u, min_maxh2cdata)});
            else
                pdu = encode_ic_req({static_cast<std::uint8_t>(a % 32), digests_of(static_cast<std::uint8_t>(b)), c});
            break;
        case 1: {
            const auto fes = static_cast<FatalErrorStatus>(a % 7);
            pdu = to_host ? encode_c2h_term_req(fes, b, data) : encode_h2c_term_req(fes, b, data);
            break; // data beyond 128 bytes is cut off below
        }
        case 2: {
            if (to_host) {
                carries_data = false;
                nvme::CompletionQueueEntry cqe{};
                std::memcpy(&cqe, &a, sizeof a);
                pdu = encode_capsule_resp(cqe, settings);
            } else {
                nvme::SubmissionQueueEntry sqe{};
                sqe.cdw10 = a;
                sqe.nsid = b;
                pdu = encode_capsule_cmd(sqe, data, settings);
            }
            break;
        }
        case 3:
            if (to_host)
                pdu = encode_c2h_data({static_cast<std::uint16_t>(a), b, (c & 1u) != 0, (c & 2u) != 0}, data,
                                      settings);
            else
                pdu = encode_h2c_data({static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(a >> 16), b,
                                       (c & 1u) != 0},
                                      data, settings);
            if (!*pdu) {
                FUZZ_CHECK(pdu->error() == EncodeError::data_required ||
                           pdu->error() == EncodeError::success_without_last_pdu);
                if (pdu->error() == EncodeError::data_required) FUZZ_CHECK(data.empty());
                if (!data.empty()) FUZZ_CHECK(to_host && (c & 3u) == 2u); // SUCCESS without LAST_PDU
            }
            break;
        default:
            if (!to_host) continue; // R2T goes to the host only
            carries_data = false;
            pdu = encode_r2t({static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(a >> 16), b, c}, settings);
            break;
        }
        if (!*pdu) continue;
        const auto bytes = (*pdu)->to_bytes();
        FUZZ_CHECK(bytes.size() == (*pdu)->plen());
        stream.insert(stream.end(), bytes.begin(), bytes.end());
        Outcome::Pdu want{static_cast<std::uint8_t>(bytes[0]), (*pdu)->plen(), {}, false};
        if (carries_data) {
            const bool term_req = kind % 5 == 1;
            const auto kept = term_req ? data.first(std::min<std::size_t>(data.size(), term_req_max_data)) : data;
            want.data.assign(kept.begin(), kept.end());
        }
        expected.push_back(std::move(want));
    }
    return stream;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    InputReader in(data, size);
    const auto flags = in.take<std::uint8_t>();
    const auto rx_pda = in.take<std::uint8_t>();
    const auto maxh2cdata = in.take<std::uint16_t>();
    const auto seed = in.take<std::uint32_t>();
    const auto icreq_dgst = in.take<std::uint8_t>();

    ParserConfig config;
    config.accepts = (flags & option::host_to_controller) != 0 ? Direction::host_to_controller
                                                               : Direction::controller_to_host;
    config.digests = {(flags & option::header_digest) != 0, (flags & option::data_digest) != 0};
    config.rx_pda = rx_pda & max_pda;
    config.maxh2cdata = std::uint32_t{maxh2cdata} * 4u;
    config.pause_before_data = (flags & option::pause_before_data) != 0;
    if ((flags & option::small_max_plen) != 0) config.max_plen = 4096;

    std::vector<std::byte> encoded;
    std::vector<Outcome::Pdu> expected;
    std::span<const std::byte> stream;
    if ((flags & option::encode) != 0) {
        config.maxh2cdata = 0;
        config.max_plen = std::max<std::uint32_t>(config.max_plen, 1u << 16);
        encoded = encode_stream(in, config, expected);
        stream = encoded;
    } else {
        const auto rest = in.rest();
        stream = {reinterpret_cast<const std::byte*>(rest.data()), rest.size()};
    }

    const Outcome whole = run(stream, config, flags, icreq_dgst, std::nullopt);
    const Outcome pieces = run(stream, config, flags, icreq_dgst, seed);
    FUZZ_CHECK(whole == pieces);
    if ((flags & option::encode) != 0) {
        FUZZ_CHECK(!whole.error && whole.stage == PduParser::Stage::common_header);
        FUZZ_CHECK(whole.pdus.size() == expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            FUZZ_CHECK(whole.pdus[i].type == expected[i].type && whole.pdus[i].plen == expected[i].plen);
            FUZZ_CHECK(!whole.pdus[i].data_digest_error && whole.pdus[i].data == expected[i].data);
        }
    }
    return 0;
}
