// Helpers for the NVMe/TCP PDU tests: PDUs written out by hand, field by
// field, as hex strings ("04 00 48 00"), and the two SQEs the tests use.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "nvmecuse/spec/command.hpp"

namespace tcp_test {

using Bytes = std::vector<std::byte>;

/// "04 00 48" -> {0x04, 0x00, 0x48}; spaces and '|' separate nothing.
inline Bytes hex(std::string_view text)
{
    Bytes out;
    int high = -1;
    for (const char c : text) {
        if (c == ' ' || c == '|' || c == '\n') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) throw std::invalid_argument("hex");
        const int nibble = std::isdigit(static_cast<unsigned char>(c))
                               ? c - '0'
                               : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
        if (high < 0) {
            high = nibble;
        } else {
            out.push_back(static_cast<std::byte>(high << 4 | nibble));
            high = -1;
        }
    }
    if (high >= 0) throw std::invalid_argument("odd hex digits");
    return out;
}

inline Bytes zeros(std::size_t n)
{
    return Bytes(n, std::byte{0});
}

/// Concatenation of PDU fields.
inline Bytes cat(std::initializer_list<Bytes> parts)
{
    Bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

/// 00 01 02 ... 0f: the data every test PDU carries.
inline Bytes data16()
{
    Bytes d(16);
    for (std::size_t i = 0; i < d.size(); ++i)
        d[i] = static_cast<std::byte>(i);
    return d;
}

/// Identify Controller, CID 1234h, SGL1 a Command Data Buffer descriptor
/// (Transport SGL Data Block, subtype Ah, 4096 bytes; TCP 1.0 Figure 14).
inline nvme::SubmissionQueueEntry identify_sqe()
{
    nvme::SubmissionQueueEntry s{};
    s.opc = 0x06;
    s.flags = 0x40; // PSDT 01b: SGL
    s.cid = 0x1234;
    s.prp2 = 0x5A00000000001000ull; // length 4096, SGL identifier 5Ah
    s.cdw10 = 1;                    // CNS 01h
    return s;
}
/// The same SQE as the spec lays it out (NVMe Base 2.0 Figure 88).
inline Bytes identify_sqe_bytes()
{
    return cat({hex("06 40 3412"), hex("00000000"), zeros(8), zeros(8) /*mptr*/,
                zeros(8) /*sgl address*/, hex("00100000") /*sgl length*/, zeros(3),
                hex("5A") /*type 5h subtype Ah*/, hex("01000000") /*cdw10*/, zeros(20)});
}

/// Write, CID 0007h, nsid 1, SGL1 an in-capsule Data Block (subtype 1h, 16 bytes).
inline nvme::SubmissionQueueEntry write_sqe()
{
    nvme::SubmissionQueueEntry s{};
    s.opc = 0x01;
    s.flags = 0x40;
    s.cid = 0x0007;
    s.nsid = 1;
    s.prp2 = 0x0100000000000010ull; // length 16, SGL identifier 01h
    return s;
}
inline Bytes write_sqe_bytes()
{
    return cat({hex("01 40 0700"), hex("01000000"), zeros(8), zeros(8), zeros(8), hex("10000000"),
                zeros(3), hex("01"), zeros(24)});
}

inline std::span<const std::byte> view(const Bytes& b)
{
    return {b.data(), b.size()};
}

} // namespace tcp_test
