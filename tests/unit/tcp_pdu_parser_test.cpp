// The incremental NVMe/TCP PDU parser: hand-built PDUs from the NVMe TCP
// Transport Specification 1.0 are accepted, every encoder output round-trips,
// and each malformed PDU is rejected with its own ParseError and the
// FES/FEI of section 3.5 and Figures 22-23 - fed in one piece and byte by byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <set>

#include "nvmecuse/transport/tcp/crc32c.hpp"
#include "nvmecuse/transport/tcp/pdu_encode.hpp"
#include "nvmecuse/transport/tcp/pdu_parser.hpp"

#include "tcp_pdu_bytes.hpp"

namespace {

using namespace nvmecuse::transport::tcp;
using namespace tcp_test;

constexpr DigestSettings both{.header = true, .data = true};

ParserConfig host(DigestSettings digests = {}, uint8_t hpda = 0)
{
    ParserConfig c;
    c.accepts = Direction::controller_to_host;
    c.digests = digests;
    c.rx_pda = hpda;
    return c;
}
ParserConfig controller(DigestSettings digests = {}, uint32_t maxh2cdata = 0)
{
    ParserConfig c = host(digests);
    c.accepts = Direction::host_to_controller;
    c.maxh2cdata = maxh2cdata;
    return c;
}

/// Feeds everything at once; returns the error or the bytes consumed.
std::expected<std::size_t, ParseError> feed_whole(PduParser& p, const Bytes& bytes)
{
    return p.feed(view(bytes));
}

/// Feeds one byte at a time, as a trickling socket would; checks that the
/// parser always asks for more while it is incomplete.
std::expected<std::size_t, ParseError> feed_bytewise(PduParser& p, const Bytes& bytes)
{
    std::size_t total = 0;
    for (std::size_t i = 0; i < bytes.size() && !p.complete(); ++i) {
        EXPECT_GT(p.bytes_needed(), 0u) << "at byte " << i;
        auto r = p.feed(view(bytes).subspan(i, 1));
        if (!r) return r;
        EXPECT_EQ(*r, 1u);
        total += *r;
    }
    return total;
}

const Bytes c2h_data_figure9 =
    cat({hex("07 0C 18 20 30000000 0700 0000 00000000 10000000 00000000"), zeros(8), data16()});

TEST(TcpPduParser, AcceptsFigure9C2HDataAndSaysWhatItNeeds)
{
    PduParser p(host({}, 3));
    EXPECT_EQ(p.bytes_needed(), 8u) << "common header first";
    ASSERT_EQ(p.feed(view(c2h_data_figure9).first(8)).value(), 8u);
    EXPECT_EQ(p.stage(), PduParser::Stage::header);
    EXPECT_EQ(p.bytes_needed(), 24u) << "rest of the header and 8 PAD bytes up to PDO 32";
    ASSERT_EQ(p.feed(view(c2h_data_figure9).subspan(8, 24)).value(), 24u);
    EXPECT_EQ(p.stage(), PduParser::Stage::data);
    EXPECT_EQ(p.bytes_needed(), 16u);
    ASSERT_EQ(p.feed(view(c2h_data_figure9).subspan(32)).value(), 16u);
    ASSERT_TRUE(p.complete());
    EXPECT_EQ(p.bytes_needed(), 0u);

    const auto h = p.header<C2HDataHeader>();
    ASSERT_TRUE(h);
    EXPECT_EQ(h->cccid, 7u);
    EXPECT_EQ(h->datao, 0u);
    EXPECT_EQ(h->datal, 16u);
    EXPECT_EQ(h->ch.flags, pdu_flags::last_pdu | pdu_flags::success);
    EXPECT_FALSE(p.header<R2THeader>()) << "typed access checks the type";
    EXPECT_EQ(Bytes(p.data().begin(), p.data().end()), data16());
    EXPECT_FALSE(p.data_digest_error());

    PduParser q(host({}, 3));
    EXPECT_EQ(feed_bytewise(q, c2h_data_figure9).value(), c2h_data_figure9.size());
    EXPECT_TRUE(q.complete());
    EXPECT_EQ(Bytes(q.data().begin(), q.data().end()), data16());
}

TEST(TcpPduParser, AcceptsC2HDataWithBothDigests)
{
    const Bytes pdu = cat({hex("07 0F 18 1C 30000000 0700 0000 00000000 10000000 00000000"),
                           hex("0F7A632A"), data16(), hex("EB08C9D9")});
    for (bool bytewise : {false, true}) {
        PduParser p(host(both));
        auto r = bytewise ? feed_bytewise(p, pdu) : feed_whole(p, pdu);
        ASSERT_TRUE(r) << to_string(r.error());
        EXPECT_EQ(*r, pdu.size());
        EXPECT_TRUE(p.complete());
        EXPECT_FALSE(p.data_digest_error());
        EXPECT_EQ(Bytes(p.data().begin(), p.data().end()), data16());
    }
}

/// Every PDU the encoder builds parses back, in both digest settings and
/// with padding, on the side that receives it.
TEST(TcpPduParser, EveryEncodedPduRoundTrips)
{
    const Bytes data = data16();
    nvme::CompletionQueueEntry cqe{};
    cqe.cid = 9;
    for (const DigestSettings digests :
         {DigestSettings{}, both, DigestSettings{true, false}, DigestSettings{false, true}}) {
        for (const uint8_t pda : {uint8_t{0}, uint8_t{3}, uint8_t{31}}) {
            const SendSettings send{.digests = digests, .pda = pda};
            struct Case {
                std::expected<OutgoingPdu, EncodeError> pdu;
                Direction direction;
                std::size_t data_size;
            };
            const Case cases[] = {
                {encode_capsule_cmd(write_sqe(), data, send), Direction::host_to_controller, 16},
                {encode_capsule_cmd(identify_sqe(), {}, send), Direction::host_to_controller, 0},
                {encode_h2c_data({.cccid = 1, .ttag = 2, .datao = 4, .last_pdu = true}, data, send),
                 Direction::host_to_controller, 16},
                {encode_c2h_data({.cccid = 1, .datao = 0, .last_pdu = false, .success = false},
                                 data, send),
                 Direction::controller_to_host, 16},
                {encode_capsule_resp(cqe, send), Direction::controller_to_host, 0},
                {encode_r2t({.cccid = 1, .ttag = 2, .r2to = 0, .r2tl = 4096}, send),
                 Direction::controller_to_host, 0},
            };
            for (const auto& c : cases) {
                ASSERT_TRUE(c.pdu);
                const Bytes bytes = c.pdu->to_bytes();
                ParserConfig cfg = host(digests, pda);
                cfg.accepts = c.direction;
                PduParser p(cfg);
                auto r = feed_whole(p, bytes);
                ASSERT_TRUE(r) << to_string(r.error()) << " type " << int(bytes[0]);
                EXPECT_EQ(*r, bytes.size());
                ASSERT_TRUE(p.complete());
                EXPECT_EQ(p.data().size(), c.data_size);
                EXPECT_TRUE(
                    std::equal(p.header_bytes().begin(), p.header_bytes().end(), bytes.begin()));
            }
        }
    }
}

TEST(TcpPduParser, ICAndTermReqPdusParseWithoutDigestsEvenWhenNegotiated)
{
    const auto resp = encode_ic_resp({.cpda = 0, .digests = both, .maxh2cdata = 8192});
    PduParser p(host());
    ASSERT_TRUE(feed_whole(p, resp->to_bytes()));
    ASSERT_TRUE(p.header<ICResp>());
    EXPECT_EQ(p.header<ICResp>()->maxh2cdata, 8192u);

    const Bytes offending = cat({hex("09 00 18 00 18000000"), zeros(16)});
    const Bytes term =
        encode_c2h_term_req(FatalErrorStatus::pdu_sequence_error, 0, view(offending)).to_bytes();
    PduParser t(host(both));
    ASSERT_TRUE(feed_bytewise(t, term));
    ASSERT_TRUE(t.complete());
    EXPECT_EQ(t.header<C2HTermReqHeader>()->fes, 0x02u);
    EXPECT_EQ(Bytes(t.data().begin(), t.data().end()), offending);
}

TEST(TcpPduParser, StopsAtTheEndOfEachPduInAStream)
{
    nvme::CompletionQueueEntry cqe{};
    cqe.cid = 7;
    const Bytes first = c2h_data_figure9;
    const Bytes second = encode_capsule_resp(cqe, {})->to_bytes();
    const Bytes stream = cat({first, second});
    PduParser p(host({}, 3));
    EXPECT_EQ(feed_whole(p, stream).value(), first.size());
    ASSERT_TRUE(p.complete());
    EXPECT_EQ(feed_whole(p, stream).value(), 0u) << "a complete PDU takes nothing more";
    p.next();
    EXPECT_EQ(p.feed(view(stream).subspan(first.size())).value(), second.size());
    ASSERT_TRUE(p.header<CapsuleRespHeader>());
    EXPECT_EQ(p.header<CapsuleRespHeader>()->cqe.cid, 7u);
}

TEST(TcpPduParser, DataDigestMismatchIsNotFatal)
{
    // Section 3.5: the data is bad, the stream is fine - the command fails,
    // the connection goes on.
    const Bytes bad = cat({hex("07 0F 18 1C 30000000 0700 0000 00000000 10000000 00000000"),
                           hex("0F7A632A"), data16(), hex("EB08C9DA")});
    nvme::CompletionQueueEntry cqe{};
    const Bytes after = encode_capsule_resp(cqe, {.digests = both, .pda = 0})->to_bytes();
    for (bool bytewise : {false, true}) {
        PduParser p(host(both));
        auto r = bytewise ? feed_bytewise(p, bad) : feed_whole(p, cat({bad, after}));
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, bad.size());
        ASSERT_TRUE(p.complete());
        EXPECT_EQ(p.data_digest_error(), ParseError::data_digest_mismatch);
        EXPECT_FALSE(p.error());
        EXPECT_FALSE(term_req_for(ParseError::data_digest_mismatch));
        EXPECT_FALSE(parse_error_info(ParseError::data_digest_mismatch).fatal);
        p.next();
        ASSERT_TRUE(feed_whole(p, after));
        EXPECT_TRUE(p.complete());
        EXPECT_FALSE(p.data_digest_error());
    }
}

// ---- DATA into the owner's memory ------------------------------------------

ParserConfig pausing(ParserConfig c)
{
    c.pause_before_data = true;
    return c;
}

/// A destination with guard bytes on both sides, to see that nothing lands
/// outside it.
struct Guarded {
    static constexpr std::size_t guard = 32;
    static constexpr std::byte fill{0xa5};
    Bytes memory;
    explicit Guarded(std::size_t n) : memory(n + 2 * guard, fill) {}
    [[nodiscard]] std::span<std::byte> span() { return std::span(memory).subspan(guard, size()); }
    [[nodiscard]] std::size_t size() const { return memory.size() - 2 * guard; }
    [[nodiscard]] Bytes inside() const
    {
        return Bytes(memory.begin() + guard, memory.end() - guard);
    }
    [[nodiscard]] bool guards_intact() const
    {
        return std::all_of(memory.begin(), memory.begin() + guard,
                           [](std::byte b) { return b == fill; }) &&
               std::all_of(memory.end() - guard, memory.end(),
                           [](std::byte b) { return b == fill; });
    }
};

/// Feeds the header (one piece or byte by byte) until the pausing parser
/// stops before the data; returns the bytes consumed.
std::size_t feed_header(PduParser& p, const Bytes& pdu, bool bytewise)
{
    std::size_t at = 0;
    while (at < pdu.size() && p.stage() != PduParser::Stage::data) {
        auto r = p.feed(view(pdu).subspan(at, bytewise ? 1 : pdu.size() - at));
        EXPECT_TRUE(r);
        if (!r) break;
        at += *r;
    }
    return at;
}

const Bytes c2h_data_both_digests =
    cat({hex("07 0F 18 1C 30000000 0700 0000 00000000 10000000 00000000"), hex("0F7A632A"),
         data16(), hex("EB08C9D9")});

TEST(TcpPduParser, PausesBeforeTheDataSoTheOwnerCanNameADestination)
{
    for (bool bytewise : {false, true}) {
        SCOPED_TRACE(bytewise);
        PduParser p(pausing(host({}, 3)));
        // Figure 9: PDO 32 behind a 24-byte header - the 8 PAD bytes stay in the parser.
        ASSERT_EQ(feed_header(p, c2h_data_figure9, bytewise), 32u);
        ASSERT_EQ(p.stage(), PduParser::Stage::data);
        EXPECT_EQ(p.bytes_needed(), 16u);
        EXPECT_EQ(p.data_length(), 16u);
        const auto h = p.header<C2HDataHeader>();
        ASSERT_TRUE(h) << "the header is readable before the data";
        EXPECT_EQ(h->cccid, 7u);
        EXPECT_EQ(h->datal, 16u);

        Guarded dest(16);
        ASSERT_TRUE(p.set_data_destination(dest.span()));
        const Bytes rest(c2h_data_figure9.begin() + 32, c2h_data_figure9.end());
        if (bytewise) {
            EXPECT_EQ(feed_bytewise(p, rest).value(), 16u);
        } else {
            EXPECT_EQ(feed_whole(p, rest).value(), 16u);
        }
        ASSERT_TRUE(p.complete());
        EXPECT_EQ(dest.inside(), data16());
        EXPECT_TRUE(dest.guards_intact());
        EXPECT_EQ(p.data().data(), dest.span().data()) << "data() is the destination";
        EXPECT_EQ(p.data().size(), 16u);
        EXPECT_FALSE(p.data_digest_error());
    }
}

TEST(TcpPduParser, DestinationDataIsCheckedAgainstItsDigest)
{
    Bytes corrupt = c2h_data_both_digests;
    corrupt.back() ^= std::byte{0x01};
    for (const Bytes* pdu : std::initializer_list<const Bytes*>{&c2h_data_both_digests, &corrupt})
        for (bool bytewise : {false, true}) {
            SCOPED_TRACE(bytewise);
            PduParser p(pausing(host(both)));
            ASSERT_EQ(feed_header(p, *pdu, bytewise), 28u);
            Guarded dest(16);
            ASSERT_TRUE(p.set_data_destination(dest.span()));
            EXPECT_EQ(p.bytes_needed(), 20u) << "DATA and DDGST";
            const Bytes rest(pdu->begin() + 28, pdu->end());
            auto r = bytewise ? feed_bytewise(p, rest) : feed_whole(p, rest);
            ASSERT_TRUE(r);
            EXPECT_EQ(*r, 20u);
            ASSERT_TRUE(p.complete());
            EXPECT_EQ(dest.inside(), data16()) << "the data stays in place either way";
            EXPECT_TRUE(dest.guards_intact()) << "DDGST never lands in the destination";
            if (pdu == &corrupt) {
                EXPECT_EQ(p.data_digest_error(), ParseError::data_digest_mismatch);
            } else {
                EXPECT_FALSE(p.data_digest_error());
            }
            EXPECT_FALSE(p.error());
        }
}

TEST(TcpPduParser, OwnerMayWriteTheDataIntoTheDestinationItself)
{
    // What TcpQueue does with recv(): DATA straight into the space, DDGST fed.
    for (const bool corrupt : {false, true}) {
        Bytes pdu = c2h_data_both_digests;
        if (corrupt) pdu[28 + 3] ^= std::byte{0x40}; // a DATA byte
        PduParser p(pausing(host(both)));
        ASSERT_EQ(feed_header(p, pdu, false), 28u);
        EXPECT_TRUE(p.data_destination_space().empty()) << "no destination yet";
        Guarded dest(16);
        ASSERT_TRUE(p.set_data_destination(dest.span()));
        ASSERT_EQ(p.data_destination_space().size(), 16u);
        EXPECT_EQ(p.data_destination_space().data(), dest.span().data());
        EXPECT_FALSE(p.data_destination_filled(17)) << "more than the space";
        EXPECT_EQ(p.bytes_needed(), 20u) << "refused: nothing recorded";

        std::memcpy(p.data_destination_space().data(), pdu.data() + 28, 10);
        ASSERT_TRUE(p.data_destination_filled(10));
        EXPECT_EQ(p.data_destination_space().size(), 6u);
        EXPECT_EQ(p.bytes_needed(), 10u);
        std::memcpy(p.data_destination_space().data(), pdu.data() + 38, 6);
        ASSERT_TRUE(p.data_destination_filled(6));
        EXPECT_TRUE(p.data_destination_space().empty()) << "DDGST is not the owner's";
        EXPECT_FALSE(p.data_destination_filled(1));
        EXPECT_EQ(p.stage(), PduParser::Stage::data);
        EXPECT_EQ(p.bytes_needed(), 4u);
        EXPECT_FALSE(p.set_data_destination(dest.span())) << "data has arrived";

        // DDGST and the start of the next PDU: only the digest is taken.
        const Bytes stream = cat({Bytes(pdu.end() - 4, pdu.end()), c2h_data_both_digests});
        EXPECT_EQ(feed_whole(p, stream).value(), 4u);
        ASSERT_TRUE(p.complete());
        EXPECT_EQ(dest.inside(), Bytes(pdu.begin() + 28, pdu.end() - 4));
        EXPECT_TRUE(dest.guards_intact());
        EXPECT_EQ(p.data_digest_error().has_value(), corrupt);
    }

    // Without DDGST the last DATA byte completes the PDU.
    PduParser p(pausing(host({}, 3)));
    ASSERT_EQ(feed_header(p, c2h_data_figure9, false), 32u);
    Guarded dest(16);
    ASSERT_TRUE(p.set_data_destination(dest.span()));
    std::memcpy(p.data_destination_space().data(), c2h_data_figure9.data() + 32, 16);
    ASSERT_TRUE(p.data_destination_filled(16));
    EXPECT_TRUE(p.complete());
    EXPECT_EQ(dest.inside(), data16());
}

TEST(TcpPduParser, RefusesADestinationOfTheWrongSizeOrAtTheWrongTime)
{
    PduParser p(pausing(host({}, 3)));
    Guarded dest(16);
    EXPECT_FALSE(p.set_data_destination(dest.span())) << "before the header";
    ASSERT_EQ(p.feed(view(c2h_data_figure9).first(20)).value(), 20u);
    EXPECT_EQ(p.stage(), PduParser::Stage::header);
    EXPECT_FALSE(p.set_data_destination(dest.span())) << "header incomplete";
    EXPECT_FALSE(p.header<C2HDataHeader>()) << "nor is the header readable yet";
    ASSERT_EQ(p.feed(view(c2h_data_figure9).subspan(20)).value(), 12u);
    ASSERT_EQ(p.stage(), PduParser::Stage::data);

    Guarded small(15), large(17);
    EXPECT_FALSE(p.set_data_destination(small.span()));
    EXPECT_FALSE(p.set_data_destination(large.span()));
    EXPECT_FALSE(p.set_data_destination({}));
    EXPECT_TRUE(p.data_destination_space().empty());

    // Refused means none: the data goes to the parser's own buffer.
    ASSERT_EQ(p.feed(view(c2h_data_figure9).subspan(32, 1)).value(), 1u);
    EXPECT_FALSE(p.set_data_destination(dest.span())) << "after the first data byte";
    ASSERT_EQ(p.feed(view(c2h_data_figure9).subspan(33)).value(), 15u);
    ASSERT_TRUE(p.complete());
    EXPECT_EQ(Bytes(p.data().begin(), p.data().end()), data16());
    EXPECT_NE(p.data().data(), dest.span().data());
    for (const auto* g : {&dest, &small, &large}) {
        EXPECT_TRUE(std::all_of(g->memory.begin(), g->memory.end(), [](std::byte b) {
            return b == Guarded::fill;
        })) << "untouched";
    }
    EXPECT_FALSE(p.set_data_destination(dest.span())) << "complete";

    // next() forgets a destination: the next PDU's data is the parser's own.
    p.next();
    ASSERT_EQ(feed_header(p, c2h_data_figure9, false), 32u);
    ASSERT_TRUE(p.set_data_destination(dest.span()));
    ASSERT_EQ(feed_whole(p, Bytes(c2h_data_figure9.begin() + 32, c2h_data_figure9.end())).value(),
              16u);
    p.next();
    ASSERT_EQ(feed_whole(p, c2h_data_figure9).value(), 32u) << "pauses again";
    ASSERT_EQ(feed_whole(p, Bytes(c2h_data_figure9.begin() + 32, c2h_data_figure9.end())).value(),
              16u);
    ASSERT_TRUE(p.complete());
    EXPECT_NE(p.data().data(), dest.span().data());
    EXPECT_EQ(Bytes(p.data().begin(), p.data().end()), data16());
}

TEST(TcpPduParser, WithoutPausingOrADestinationNothingChanges)
{
    // The default: feed() runs through header and data in one call.
    PduParser p(host({}, 3));
    EXPECT_EQ(feed_whole(p, c2h_data_figure9).value(), c2h_data_figure9.size());
    ASSERT_TRUE(p.complete());
    EXPECT_EQ(Bytes(p.data().begin(), p.data().end()), data16());

    // Pausing, but no destination named: data() is the parser's as before.
    for (const Bytes* pdu : {&c2h_data_figure9, &c2h_data_both_digests}) {
        PduParser q(pausing(pdu == &c2h_data_figure9 ? host({}, 3) : host(both)));
        const std::size_t header = feed_header(q, *pdu, false);
        ASSERT_EQ(q.stage(), PduParser::Stage::data);
        EXPECT_EQ(
            feed_bytewise(q, Bytes(pdu->begin() + static_cast<std::ptrdiff_t>(header), pdu->end()))
                .value(),
            pdu->size() - header);
        ASSERT_TRUE(q.complete());
        EXPECT_EQ(Bytes(q.data().begin(), q.data().end()), data16());
        EXPECT_FALSE(q.data_digest_error());
    }

    // PDUs without data never pause.
    nvme::CompletionQueueEntry cqe{};
    const Bytes resp = encode_capsule_resp(cqe, {})->to_bytes();
    PduParser r(pausing(host()));
    EXPECT_EQ(feed_whole(r, resp).value(), resp.size());
    EXPECT_TRUE(r.complete());
}

struct Rejection {
    std::string_view name;
    ParserConfig config;
    Bytes pdu;
    ParseError error;
    std::optional<TermReqFields> term_req;
    std::size_t detected_after; ///< bytes consumed when the error shows (bytewise)
};

std::vector<Rejection> rejections()
{
    using F = FatalErrorStatus;
    const Bytes resp_psh = zeros(16);
    const Bytes c2h_psh = hex("0700 0000 00000000 10000000 00000000");
    const auto fe = [](F fes, uint32_t fei) { return std::optional<TermReqFields>({fes, fei}); };
    const auto invalid = [&](uint32_t fei) { return fe(F::invalid_pdu_header_field, fei); };
    return {
        {"type 08h is reserved", host(), cat({hex("08 00 18 00 18000000"), resp_psh}),
         ParseError::unknown_pdu_type, invalid(0), 8},
        {"a host never receives a CapsuleCmd", host(),
         cat({hex("04 00 48 00 48000000"), identify_sqe_bytes()}), ParseError::wrong_direction,
         invalid(0), 8},
        {"a controller never receives an R2T", controller(),
         cat({hex("09 00 18 00 18000000"), resp_psh}), ParseError::wrong_direction, invalid(0), 8},
        {"LAST_PDU is not a CapsuleResp flag", host(), cat({hex("05 04 18 00 18000000"), resp_psh}),
         ParseError::reserved_flags_set, invalid(1), 8},
        {"ICResp FLAGS are reserved", host(), cat({hex("01 01 80 00 80000000"), zeros(120)}),
         ParseError::reserved_flags_set, invalid(1), 8},
        {"HDGSTF missing with header digests on", host(both),
         cat({hex("05 00 18 00 18000000"), resp_psh}), ParseError::header_digest_flag_mismatch,
         invalid(1), 8},
        {"HDGSTF set with header digests off", host(),
         cat({hex("05 01 18 00 1C000000"), resp_psh, zeros(4)}),
         ParseError::header_digest_flag_mismatch, invalid(1), 8},
        {"DDGSTF set with data digests off", host(),
         cat({hex("07 06 18 18 2C000000"), c2h_psh, data16(), zeros(4)}),
         ParseError::data_digest_flag_mismatch, invalid(1), 8},
        {"DDGSTF missing on data with data digests on", host({false, true}),
         cat({hex("07 04 18 18 28000000"), c2h_psh, data16()}),
         ParseError::data_digest_flag_mismatch, invalid(1), 8},
        {"SUCCESS without LAST_PDU", host(), cat({hex("07 08 18 18 28000000"), c2h_psh, data16()}),
         ParseError::success_without_last_pdu, invalid(1), 8},
        {"CapsuleResp HLEN 32", host(), cat({hex("05 00 20 00 20000000"), zeros(24)}),
         ParseError::invalid_hlen, invalid(2), 8},
        {"R2T PDO is reserved", host(), cat({hex("09 00 18 18 18000000"), resp_psh}),
         ParseError::invalid_pdo, invalid(3), 8},
        {"C2HData without PDO", host(), cat({hex("07 04 18 00 28000000"), c2h_psh, data16()}),
         ParseError::invalid_pdo, invalid(3), 8},
        {"C2HData PDO inside the header", host(),
         cat({hex("07 04 18 14 28000000"), c2h_psh, data16()}), ParseError::invalid_pdo, invalid(3),
         8},
        {"C2HData PDO 28 not a multiple of HPDA 3 (16 bytes)", host({}, 3),
         cat({hex("07 04 18 1C 2C000000"), c2h_psh, zeros(4), data16()}), ParseError::invalid_pdo,
         invalid(3), 8},
        {"PLEN below HLEN", host(), cat({hex("05 00 18 00 10000000"), resp_psh}),
         ParseError::plen_below_hlen, invalid(4), 8},
        {"CapsuleResp longer than its header", host(),
         cat({hex("05 00 18 00 1C000000"), resp_psh, zeros(4)}), ParseError::plen_inconsistent,
         invalid(4), 8},
        {"C2HData whose PLEN leaves no data", host(), cat({hex("07 04 18 18 18000000"), c2h_psh}),
         ParseError::plen_inconsistent, invalid(4), 8},
        {"C2HData PLEN 4 GiB", host(), cat({hex("07 04 18 18 FFFFFFFF"), c2h_psh}),
         ParseError::plen_over_maximum, invalid(4), 8},
        {"C2HTermReq PLEN 23 is ignored, no TermReq", host(),
         cat({hex("03 00 18 00 17000000"), zeros(16)}), ParseError::term_req_length_invalid,
         std::nullopt, 8},
        {"C2HTermReq PLEN 153 is ignored, no TermReq", host(),
         cat({hex("03 00 18 00 99000000"), zeros(16)}), ParseError::term_req_length_invalid,
         std::nullopt, 8},
        {"DATAL 15 with 16 bytes of data", host(),
         cat({hex("07 04 18 18 28000000 0700 0000 00000000 0F000000 00000000"), data16()}),
         ParseError::data_length_mismatch, invalid(16), 24},
        {"H2CData above MAXH2CDATA", controller({}, 8),
         cat({hex("06 04 18 18 28000000 0700 0101 00000000 10000000 00000000"), data16()}),
         ParseError::h2c_data_over_maxh2cdata, fe(F::data_transfer_limit_exceeded, 0), 24},
        {"R2T header digest wrong", host(both),
         cat({hex("09 01 18 00 1C000000 0700 0101 B80B0000 00200000 00000000"), hex("201AA35C")}),
         ParseError::header_digest_mismatch, fe(F::header_digest_error, 0x5CA31A20), 28},
    };
}

TEST(TcpPduParser, RejectsEachMalformedPduWithItsOwnError)
{
    for (const auto& c : rejections()) {
        SCOPED_TRACE(c.name);
        for (bool bytewise : {false, true}) {
            PduParser p(c.config);
            const auto r = bytewise ? feed_bytewise(p, c.pdu) : feed_whole(p, c.pdu);
            ASSERT_FALSE(r) << (bytewise ? "bytewise" : "whole");
            EXPECT_EQ(r.error(), c.error) << to_string(r.error());
            EXPECT_EQ(p.stage(), PduParser::Stage::failed);
            EXPECT_EQ(p.error(), c.error);
            EXPECT_EQ(p.bytes_needed(), 0u);
            const auto term = p.term_req();
            ASSERT_EQ(term.has_value(), c.term_req.has_value());
            if (term) {
                EXPECT_EQ(term->fes, c.term_req->fes);
                EXPECT_EQ(term->fei, c.term_req->fei);
            }
            // The offending header goes back in the TermReq: what was read of it.
            const auto offending = p.offending_header();
            const auto hlen = std::to_integer<std::size_t>(c.pdu[2]);
            EXPECT_EQ(offending.size(), std::min(c.detected_after, hlen));
            EXPECT_TRUE(std::equal(offending.begin(), offending.end(), c.pdu.begin()));
            // A failed parser stays failed.
            EXPECT_EQ(p.feed(view(c.pdu)).error(), c.error);
            p.next();
            EXPECT_EQ(p.stage(), PduParser::Stage::failed);
        }
    }
}

TEST(TcpPduParser, EveryErrorHasADistinctNameAndItsOwnRow)
{
    std::set<std::string_view> names;
    for (uint8_t i = 0; i <= static_cast<uint8_t>(ParseError::ic_resp_invalid_maxh2cdata); ++i) {
        const auto e = static_cast<ParseError>(i);
        EXPECT_EQ(parse_error_info(e).error, e);
        EXPECT_TRUE(names.insert(to_string(e)).second) << to_string(e);
    }
}

ICResp ic_resp(uint16_t pfv, uint8_t cpda, uint8_t dgst, uint32_t maxh2cdata)
{
    ICResp r{};
    r.ch = {0x01, 0, 128, 0, 128};
    r.pfv = pfv;
    r.cpda = cpda;
    r.dgst = dgst;
    r.maxh2cdata = maxh2cdata;
    return r;
}

TEST(TcpICResp, NegotiatesDigestsBothSidesWant)
{
    const ICReqParams asked{.hpda = 3, .digests = both, .maxr2t = 0};
    const auto c = accept_ic_resp(ic_resp(0, 7, dgst_bits::hdgst_enable, 0x20000), asked);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->digests, (DigestSettings{true, false})) << "the controller may decline one";
    EXPECT_EQ(c->cpda, 7u);
    EXPECT_EQ(c->hpda, 3u);
    EXPECT_EQ(c->maxh2cdata, 0x20000u);
}

TEST(TcpICResp, RejectsEachInvalidField)
{
    const ICReqParams asked{.hpda = 0, .digests = {true, false}, .maxr2t = 0};
    struct Case {
        ICResp resp;
        ParseError error;
        FatalErrorStatus fes;
        uint32_t fei;
    };
    using F = FatalErrorStatus;
    const Case cases[] = {
        {ic_resp(1, 0, 0, 4096), ParseError::ic_resp_unsupported_pfv, F::unsupported_parameter, 8},
        {ic_resp(0, 32, 0, 4096), ParseError::ic_resp_invalid_cpda, F::invalid_pdu_header_field,
         10},
        {ic_resp(0, 0, dgst_bits::ddgst_enable, 4096), ParseError::ic_resp_digest_not_requested,
         F::invalid_pdu_header_field, 11},
        {ic_resp(0, 0, 0x04, 4096), ParseError::ic_resp_digest_not_requested,
         F::invalid_pdu_header_field, 11},
        {ic_resp(0, 0, 0, 4092), ParseError::ic_resp_invalid_maxh2cdata,
         F::invalid_pdu_header_field, 12},
        {ic_resp(0, 0, 0, 4098), ParseError::ic_resp_invalid_maxh2cdata,
         F::invalid_pdu_header_field, 12},
    };
    for (const auto& c : cases) {
        const auto r = accept_ic_resp(c.resp, asked);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), c.error);
        const auto term = term_req_for(r.error());
        ASSERT_TRUE(term);
        EXPECT_EQ(term->fes, c.fes);
        EXPECT_EQ(term->fei, c.fei);
    }
}

/// Hostile input: random bytes and every single-byte corruption of valid
/// PDUs end in an error or a valid PDU - never a crash or an out-of-bounds
/// access (the ASan tier runs this).
TEST(TcpPduParser, SurvivesGarbageAndCorruption)
{
    std::mt19937 rng(42);
    for (int round = 0; round < 2000; ++round) {
        Bytes junk(rng() % 300);
        for (auto& b : junk)
            b = static_cast<std::byte>(rng());
        if (!junk.empty() && round % 2 == 0) junk[0] = static_cast<std::byte>(rng() % 10);
        PduParser p(round % 3 == 0 ? controller(both, 4096)
                                   : host(both, static_cast<uint8_t>(rng() % 32)));
        std::size_t at = 0;
        while (at < junk.size()) {
            const auto piece =
                view(junk).subspan(at, std::min<std::size_t>(1 + rng() % 40, junk.size() - at));
            auto r = p.feed(piece);
            if (!r) break;
            at += *r;
            if (p.complete()) p.next();
        }
    }
    // Streams of C2HData with a byte or two corrupted, the owner naming a
    // destination of exactly the announced length whenever the parser
    // pauses (heap memory of that size: ASan sees any overrun).
    for (int round = 0; round < 2000; ++round) {
        const DigestSettings digests = round % 2 == 0 ? both : DigestSettings{};
        const auto pda = static_cast<uint8_t>(rng() % 4);
        Bytes stream;
        for (int n = 0; n < 3; ++n) {
            Bytes data(1 + rng() % 200);
            for (auto& b : data)
                b = static_cast<std::byte>(rng());
            const auto pdu = encode_c2h_data({.cccid = 1, .datao = 0, .last_pdu = true}, view(data),
                                             {.digests = digests, .pda = pda});
            ASSERT_TRUE(pdu);
            stream = cat({stream, pdu->to_bytes()});
        }
        for (int flips = static_cast<int>(rng() % 3); flips > 0; --flips)
            stream[rng() % std::min<std::size_t>(stream.size(), 40)] ^=
                static_cast<std::byte>(1 + rng() % 255);
        PduParser p(pausing(host(digests, pda)));
        std::unique_ptr<std::byte[]> dest;
        std::size_t at = 0;
        while (at < stream.size()) {
            if (p.stage() == PduParser::Stage::data && !dest) {
                dest = std::make_unique<std::byte[]>(p.data_length());
                ASSERT_TRUE(p.set_data_destination({dest.get(), p.data_length()}));
            }
            const auto piece =
                view(stream).subspan(at, std::min<std::size_t>(1 + rng() % 40, stream.size() - at));
            auto r = p.feed(piece);
            if (!r) break;
            at += *r;
            if (p.complete()) {
                if (dest) {
                    EXPECT_EQ(p.data().data(), dest.get());
                }
                p.next();
                dest.reset();
            }
        }
    }
    const Bytes valid[] = {
        c2h_data_figure9,
        cat({hex("07 0F 18 1C 30000000 0700 0000 00000000 10000000 00000000"), hex("0F7A632A"),
             data16(), hex("EB08C9D9")}),
        cat({hex("09 01 18 00 1C000000 0700 0101 B80B0000 00200000 00000000"), hex("201AA35B")}),
    };
    for (const auto& pdu : valid)
        for (std::size_t i = 0; i < pdu.size(); ++i)
            for (const unsigned flip : {0x01u, 0x80u, 0xffu}) {
                Bytes bad = pdu;
                bad[i] ^= static_cast<std::byte>(flip);
                for (const auto& cfg : {host({}, 3), host(both)}) {
                    PduParser p(cfg);
                    auto r = feed_whole(p, bad);
                    if (r) {
                        EXPECT_LE(*r, bad.size());
                    }
                    if (r && p.complete()) {
                        EXPECT_LE(p.data().size(), bad.size());
                    }
                }
            }
}

} // namespace
