// Transport ID strings (transport/transport_id.cpp) and Discovery Log Pages
// (transport/discovery_records.cpp), as a command line and a hostile
// discovery controller hand them over. Invariants:
// - an accepted transport ID is complete and valid (trtype tcp, adrfam ipv4
//   or ipv6, a non-empty traddr, a port 1..65535, NQNs of at most 223 bytes,
//   a hostid that parses) and writes back out to a string that parses to the
//   same ID; no value holds whitespace;
// - parse_host_id accepts exactly the 8-4-4-4-12 hex form, and its bytes are
//   the text's hex digits;
// - discovery_log_entries accepts a page exactly when it holds its header,
//   RECFMT 0 and NUMREC whole entries, and returns those entries verbatim;
// - an entry's transport ID is TCP with the entry's address family, and its
//   fields are the entry's space-trimmed ASCII fields.
//
// Input: one selector byte (0: transport ID, 1: host ID, else a discovery
// log page), then the text or page.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <string_view>

#include "nvmecuse/transport/discovery_records.hpp"
#include "nvmecuse/transport/transport_id.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace nvmecuse::transport;

bool has_space(std::string_view s)
{
    for (const char c : s)
        if (std::isspace(static_cast<unsigned char>(c)) != 0) return true;
    return false;
}

bool is_port(std::string_view s)
{
    if (s.empty()) return false;
    unsigned v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
        v = std::min(v * 10 + static_cast<unsigned>(c - '0'), 100000u);
    }
    return v >= 1 && v <= 65535;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// An independent reading of the UUID text form.
bool is_uuid(std::string_view s)
{
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hex_value(s[i]) < 0) return false;
    }
    return true;
}

void check_host_id(std::string_view text)
{
    const auto id = parse_host_id(text);
    FUZZ_CHECK(id.has_value() == is_uuid(text));
    if (!id) {
        FUZZ_CHECK(!id.error().empty());
        return;
    }
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] == '-') {
            ++i;
            continue;
        }
        FUZZ_CHECK((*id)[byte++] == (hex_value(text[i]) << 4 | hex_value(text[i + 1])));
        i += 2;
    }
    FUZZ_CHECK(byte == 16);
}

std::string to_text(const TransportId& id)
{
    std::string s = "trtype:" + id.trtype + " adrfam:" + id.adrfam + " traddr:" + id.traddr +
                    " trsvcid:" + id.trsvcid;
    if (!id.subnqn.empty()) s += " subnqn:" + id.subnqn;
    if (!id.hostnqn.empty()) s += " hostnqn:" + id.hostnqn;
    if (!id.hostid.empty()) s += " hostid:" + id.hostid;
    return s;
}

bool same(const TransportId& a, const TransportId& b)
{
    return a.trtype == b.trtype && a.adrfam == b.adrfam && a.traddr == b.traddr &&
           a.trsvcid == b.trsvcid && a.subnqn == b.subnqn && a.hostnqn == b.hostnqn &&
           a.hostid == b.hostid;
}

void check_valid(const TransportId& id)
{
    FUZZ_CHECK(id.trtype == "tcp");
    FUZZ_CHECK(id.adrfam == "ipv4" || id.adrfam == "ipv6");
    FUZZ_CHECK(!id.traddr.empty());
    FUZZ_CHECK(is_port(id.trsvcid));
    FUZZ_CHECK(id.subnqn.size() <= max_nqn_length && id.hostnqn.size() <= max_nqn_length);
    FUZZ_CHECK(id.hostid.empty() || parse_host_id(id.hostid).has_value());
    FUZZ_CHECK(id.is_discovery() == (id.subnqn.empty() || id.subnqn == discovery_nqn));
    FUZZ_CHECK(id.describe().find(id.traddr) != std::string::npos);
}

void check_transport_id(std::string_view text)
{
    const auto id = parse_transport_id(text);
    if (!id) {
        FUZZ_CHECK(!id.error().empty());
        return;
    }
    check_valid(*id);
    for (const auto* field : {&id->traddr, &id->subnqn, &id->hostnqn, &id->hostid, &id->trsvcid})
        FUZZ_CHECK(!has_space(*field));
    const auto again = parse_transport_id(to_text(*id));
    FUZZ_CHECK(again.has_value() && same(*id, *again));
}

/// `field` as the entry holds it: up to the first NUL, trailing spaces off.
std::string_view trimmed(const char* field, std::size_t size)
{
    std::string_view s(field, strnlen(field, size));
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    return s;
}

void check_discovery_log(std::span<const std::byte> page)
{
    constexpr std::size_t record = 1024;
    const auto entries = discovery_log_entries(page);
    nvme::DiscoveryLogHeader header{};
    bool acceptable = page.size() >= sizeof header;
    if (acceptable) {
        std::memcpy(&header, page.data(), sizeof header);
        const std::size_t room = page.size() / record - 1;
        acceptable = header.recfmt == nvme::discovery_record_format && header.numrec <= room;
    }
    FUZZ_CHECK(entries.has_value() == acceptable);
    if (!entries) {
        FUZZ_CHECK(!entries.error().empty());
        return;
    }
    FUZZ_CHECK(entries->size() == header.numrec);
    for (std::size_t i = 0; i < entries->size(); ++i) {
        const auto& entry = (*entries)[i];
        FUZZ_CHECK(std::memcmp(&entry, page.data() + record * (i + 1), record) == 0);
        const auto id = transport_id_of(entry);
        if (!id) {
            FUZZ_CHECK(!id.error().empty());
            continue;
        }
        check_valid(*id);
        FUZZ_CHECK(entry.trtype == static_cast<std::uint8_t>(nvme::TransportType::tcp));
        FUZZ_CHECK(id->adrfam ==
                   (entry.adrfam == static_cast<std::uint8_t>(nvme::AddressFamily::ipv6) ? "ipv6"
                                                                                          : "ipv4"));
        FUZZ_CHECK(entry.adrfam == static_cast<std::uint8_t>(nvme::AddressFamily::ipv4) ||
                   entry.adrfam == static_cast<std::uint8_t>(nvme::AddressFamily::ipv6));
        FUZZ_CHECK(id->traddr == trimmed(entry.traddr.data(), entry.traddr.size()));
        FUZZ_CHECK(id->trsvcid == trimmed(entry.trsvcid.data(), entry.trsvcid.size()));
        FUZZ_CHECK(!id->subnqn.empty());
        FUZZ_CHECK(id->subnqn == trimmed(entry.subnqn.data(), entry.subnqn.size()));
        FUZZ_CHECK(id->hostnqn.empty() && id->hostid.empty());
        // What a discovery controller names must also be nameable by hand.
        if (!has_space(to_text(*id).substr(7 + id->trtype.size()))) {
            const auto again = parse_transport_id(to_text(*id));
            if (again) FUZZ_CHECK(same(*id, *again));
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0]) {
    case 0:
        check_transport_id(text);
        break;
    case 1:
        check_host_id(text);
        check_transport_id(text);
        break;
    default:
        check_discovery_log({reinterpret_cast<const std::byte*>(data) + 1, size - 1});
        break;
    }
    return 0;
}
