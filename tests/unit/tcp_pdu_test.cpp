// NVMe/TCP PDU encoding, byte-exact against PDUs written out by hand from
// the NVMe TCP Transport Specification 1.0 (Figures 19-28), with and
// without digests and with CPDA/HPDA padding. Digest values were computed
// with an independent bitwise CRC32C, not with the code under test.
#include <gtest/gtest.h>

#include "nvmecuse/transport/tcp/pdu.hpp"
#include "nvmecuse/transport/tcp/pdu_encode.hpp"

#include "tcp_pdu_bytes.hpp"

namespace {

using namespace nvmecuse::transport::tcp;
using namespace tcp_test;

/// Encodes, unwraps, and checks the three pieces add up to PLEN.
Bytes wire(const std::expected<OutgoingPdu, EncodeError>& pdu)
{
    EXPECT_TRUE(pdu.has_value()) << (pdu ? "" : to_string(pdu.error()));
    if (!pdu) return {};
    const Bytes out = pdu->to_bytes();
    EXPECT_EQ(out.size(), pdu->plen());
    EXPECT_EQ(pdu->head().size() + pdu->data().size() + pdu->trailer().size(), out.size());
    return out;
}
Bytes wire(const OutgoingPdu& pdu)
{
    return wire(std::expected<OutgoingPdu, EncodeError>(pdu));
}

constexpr SendSettings no_digests{};
constexpr SendSettings both_digests{.digests = {.header = true, .data = true}, .pda = 0};

TEST(TcpPduTable, TypesDirectionsAndLengthsFollowFigure10)
{
    for (const auto& info : pdu_type_table) {
        const auto raw = static_cast<uint8_t>(info.type);
        EXPECT_EQ(find_pdu_type(raw), &info);
        // Bit 0 of the opcode is the direction (Figure 10, note 1).
        EXPECT_EQ((raw & 1u) != 0, info.direction == Direction::controller_to_host) << info.name;
    }
    EXPECT_EQ(find_pdu_type(0x08), nullptr) << "08h is reserved";
    EXPECT_EQ(find_pdu_type(0x0a), nullptr);
    EXPECT_EQ(find_pdu_type(0xff), nullptr);
    EXPECT_EQ(pdu_type_info(PduType::capsule_cmd).name, "CapsuleCmd");
    EXPECT_EQ(pda_alignment(0), 4u);
    EXPECT_EQ(pda_alignment(2), 12u) << "0's based dwords, not a power of two";
    EXPECT_EQ(pda_alignment(max_pda), 128u);
}

TEST(TcpPduEncode, ICReqIs128BytesFigure20)
{
    const Bytes expected = cat({
        hex("00 | 00 | 80 | 00 | 80000000"), // CH: ICReq, FLAGS 0, HLEN 128, PDO 0, PLEN 128
        hex("0000"),                         // PFV 0
        hex("03"),                           // HPDA 3: 16-byte alignment
        hex("03"),                           // DGST: HDGST_ENABLE | DDGST_ENABLE
        hex("0F000000"),                     // MAXR2T 15 (16 outstanding)
        zeros(112),
    });
    EXPECT_EQ(wire(encode_ic_req({.hpda = 3, .digests = {true, true}, .maxr2t = 15})), expected);
    EXPECT_EQ(encode_ic_req({.hpda = 32, .digests = {}, .maxr2t = 0}).error(),
              EncodeError::pda_out_of_range);
}

TEST(TcpPduEncode, ICRespIs128BytesFigure21)
{
    const Bytes expected = cat({
        hex("01 00 80 00 80000000"),
        hex("0000"),
        hex("07") /*CPDA 7: 32 bytes*/,
        hex("01") /*HDGST only*/,
        hex("00000200") /*MAXH2CDATA 128 KiB*/,
        zeros(112),
    });
    EXPECT_EQ(wire(encode_ic_resp({.cpda = 7, .digests = {true, false}, .maxh2cdata = 0x20000})),
              expected);
}

TEST(TcpPduEncode, CapsuleCmdWithoutDataFigure24)
{
    EXPECT_EQ(wire(encode_capsule_cmd(identify_sqe(), {}, no_digests)),
              cat({hex("04 00 48 00 48000000"), identify_sqe_bytes()}));
    // Header digest only: HDGSTF, PLEN 76; no DDGSTF since there is no data
    // to protect (3.3.1.1), even with data digests on.
    EXPECT_EQ(wire(encode_capsule_cmd(identify_sqe(), {}, both_digests)),
              cat({hex("04 01 48 00 4C000000"), identify_sqe_bytes(), hex("B9D3930E")}));
}

TEST(TcpPduEncode, CapsuleCmdWithInCapsuleData)
{
    const Bytes data = data16();
    // No digests, CPDA 0: DATA right after the header, PDO = HLEN = 72.
    EXPECT_EQ(wire(encode_capsule_cmd(write_sqe(), data, no_digests)),
              cat({hex("04 00 48 48 58000000"), write_sqe_bytes(), data}));
    // Both digests: PDO 76 (after HDGST), PLEN 76 + 16 + 4 = 96.
    EXPECT_EQ(wire(encode_capsule_cmd(write_sqe(), data, both_digests)),
              cat({hex("04 03 48 4C 60000000"), write_sqe_bytes(), hex("3E8B35F7"), data,
                   hex("EB08C9D9")}));
}

TEST(TcpPduEncode, CapsuleCmdPadsToCpda)
{
    const Bytes data = data16();
    // CPDA 7 = 32 bytes: HDR 72 + HDGST 4 = 76, PAD 20 to PDO 96, PLEN 116.
    EXPECT_EQ(wire(encode_capsule_cmd(write_sqe(), data, {.digests = {true, true}, .pda = 7})),
              cat({hex("04 03 48 60 74000000"), write_sqe_bytes(), hex("69EA83D6"), zeros(20), data,
                   hex("EB08C9D9")}));
    // CPDA 1 = 8 bytes, header digest only: PAD 4 to PDO 80, PLEN 96.
    EXPECT_EQ(
        wire(encode_capsule_cmd(write_sqe(), data, {.digests = {true, false}, .pda = 1})),
        cat({hex("04 01 48 50 60000000"), write_sqe_bytes(), hex("39D4E187"), zeros(4), data}));
    // CPDA 1 without header digest: 72 is already 8-aligned, no PAD.
    EXPECT_EQ(wire(encode_capsule_cmd(write_sqe(), data, {.digests = {}, .pda = 1})),
              cat({hex("04 00 48 48 58000000"), write_sqe_bytes(), data}));
}

TEST(TcpPduEncode, CapsuleRespFigure25)
{
    nvme::CompletionQueueEntry cqe{};
    cqe.dw0 = 1;
    cqe.sq_head = 5;
    cqe.sq_id = 1;
    cqe.cid = 7;
    const Bytes rccqe = hex("01000000 00000000 0500 0100 0700 0000");
    EXPECT_EQ(wire(encode_capsule_resp(cqe, no_digests)),
              cat({hex("05 00 18 00 18000000"), rccqe}));
    EXPECT_EQ(wire(encode_capsule_resp(cqe, both_digests)),
              cat({hex("05 01 18 00 1C000000"), rccqe, hex("FC331EE5")}));
}

TEST(TcpPduEncode, H2CDataFigure8Example64ByteAlignment)
{
    // CPDA 0Fh: 64-byte alignment, 24-byte header, 40 PAD bytes (Figure 8).
    const Bytes data = data16();
    const Bytes expected = cat({
        hex("06 | 04 | 18 | 40 | 50000000"), // H2CData, LAST_PDU, HLEN 24, PDO 64, PLEN 80
        hex("0700"),                         // CCCID
        hex("0101"),                         // TTAG from the R2T
        hex("00000000"),                     // DATAO
        hex("10000000"),                     // DATAL 16
        zeros(4),
        zeros(40),
        data,
    });
    EXPECT_EQ(wire(encode_h2c_data({.cccid = 7, .ttag = 0x0101, .datao = 0, .last_pdu = true}, data,
                                   {.digests = {}, .pda = 0x0f})),
              expected);
    EXPECT_EQ(encode_h2c_data({}, {}, no_digests).error(), EncodeError::data_required);
}

TEST(TcpPduEncode, C2HDataFigure9Example16ByteAlignmentWithSuccess)
{
    // HPDA 03h: 16-byte alignment, 8 PAD bytes (Figure 9); SUCCESS | LAST_PDU.
    const Bytes data = data16();
    const Bytes expected = cat({
        hex("07 | 0C | 18 | 20 | 30000000"),
        hex("0700"),
        hex("0000") /*reserved*/,
        hex("00000000"),
        hex("10000000"),
        zeros(4),
        zeros(8),
        data,
    });
    const C2HDataFields fields{.cccid = 7, .datao = 0, .last_pdu = true, .success = true};
    EXPECT_EQ(wire(encode_c2h_data(fields, data, {.digests = {}, .pda = 3})), expected);
}

TEST(TcpPduEncode, C2HDataWithBothDigests)
{
    const Bytes data = data16();
    EXPECT_EQ(wire(encode_c2h_data({.cccid = 7, .datao = 0, .last_pdu = true, .success = true},
                                   data, both_digests)),
              cat({hex("07 0F 18 1C 30000000 0700 0000 00000000 10000000 00000000"),
                   hex("0F7A632A"), data, hex("EB08C9D9")}));
    EXPECT_EQ(encode_c2h_data({.cccid = 0, .datao = 0, .last_pdu = false, .success = true}, data,
                              no_digests)
                  .error(),
              EncodeError::success_without_last_pdu);
}

TEST(TcpPduEncode, R2TFigure28)
{
    // The second R2T of Figure 16: 8,192 bytes at offset BB8h.
    const R2TFields fields{.cccid = 7, .ttag = 0x0101, .r2to = 0xBB8, .r2tl = 0x2000};
    const Bytes psh = hex("0700 | 0101 | B80B0000 | 00200000 | 00000000");
    EXPECT_EQ(wire(encode_r2t(fields, no_digests)), cat({hex("09 00 18 00 18000000"), psh}));
    EXPECT_EQ(wire(encode_r2t(fields, both_digests)),
              cat({hex("09 01 18 00 1C000000"), psh, hex("201AA35B")}));
}

TEST(TcpPduEncode, TermReqCarriesTheOffendingHeaderFigure22)
{
    const Bytes offending = cat({hex("09 01 18 00 1C000000"), zeros(16)});
    // FEI is unaligned at byte 10; never digests, PDO reserved (0).
    EXPECT_EQ(
        wire(encode_h2c_term_req(FatalErrorStatus::header_digest_error, 0xDEADBEEF, offending)),
        cat({hex("02 00 18 00 30000000"), hex("0300"), hex("EFBEADDE"), zeros(10), offending}));
    EXPECT_EQ(wire(encode_c2h_term_req(FatalErrorStatus::invalid_pdu_header_field, 2, {})),
              cat({hex("03 00 18 00 18000000 0100 02000000"), zeros(10)}));
    // At most 128 bytes of header: PLEN 152.
    const auto big = encode_h2c_term_req(FatalErrorStatus::pdu_sequence_error, 0, zeros(200));
    EXPECT_EQ(big.plen(), term_req_max_plen);
    EXPECT_EQ(big.data().size(), term_req_max_data);
}

TEST(TcpPduEncode, PdaAboveLimitIsRefused)
{
    EXPECT_EQ(encode_r2t({}, {.digests = {}, .pda = 32}).error(), EncodeError::pda_out_of_range);
}

TEST(TcpPduEncode, GatherPiecesDoNotCopyData)
{
    const Bytes data = data16();
    const auto pdu = encode_capsule_cmd(write_sqe(), data, both_digests);
    ASSERT_TRUE(pdu);
    EXPECT_EQ(pdu->data().data(), data.data());
    EXPECT_EQ(pdu->head().size(), 76u);
    EXPECT_EQ(pdu->trailer().size(), 4u);
}

} // namespace
