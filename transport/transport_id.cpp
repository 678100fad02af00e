// SPDK-style transport ID strings: parsing, validation and description.
#include "nvmecuse/transport/transport_id.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

namespace nvmecuse::transport {

namespace {

std::string lower(std::string_view s)
{
    std::string out(s);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool is_space(char c)
{
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

/// The whitespace-separated words of `text`.
std::vector<std::string_view> words(std::string_view text)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_space(text[i]))
            ++i;
        const std::size_t start = i;
        while (i < text.size() && !is_space(text[i]))
            ++i;
        if (i > start) out.push_back(text.substr(start, i - start));
    }
    return out;
}

/// The TransportId member a key names, or nullptr for an unknown key.
std::string* member(TransportId& id, std::string_view key)
{
    if (key == "trtype") return &id.trtype;
    if (key == "adrfam") return &id.adrfam;
    if (key == "traddr") return &id.traddr;
    if (key == "trsvcid") return &id.trsvcid;
    if (key == "subnqn") return &id.subnqn;
    if (key == "hostnqn") return &id.hostnqn;
    if (key == "hostid") return &id.hostid;
    return nullptr;
}

std::optional<std::string> check_nqn(std::string_view key, std::string_view nqn)
{
    if (nqn.size() > max_nqn_length)
        return fmt::format("{} is {} bytes long, at most {} are allowed", key, nqn.size(),
                           max_nqn_length);
    return std::nullopt;
}

/// Checks the fields of a parsed id and fills in the defaults.
int hex_digit(char c);

std::optional<std::string> validate(TransportId& id)
{
    if (id.trtype.empty()) return "trtype is missing (trtype:tcp, trtype:pcie)";
    if (id.trtype == "pcie") {
        // A local PCI function: traddr is its address, nothing else applies.
        const auto bdf = normalize_bdf(id.traddr);
        if (bdf.empty())
            return fmt::format("traddr '{}' is not a PCI address (0000:00:04.0)", id.traddr);
        if (!id.adrfam.empty() || !id.trsvcid.empty() || !id.subnqn.empty() ||
            !id.hostnqn.empty() || !id.hostid.empty())
            return "trtype:pcie takes traddr only";
        id.traddr = bdf;
        return std::nullopt;
    }
    if (id.trtype != "tcp")
        return fmt::format("trtype '{}' is not supported (tcp or pcie)", id.trtype);
    if (id.traddr.empty()) return "traddr is missing (traddr:ADDRESS)";
    if (id.adrfam.empty()) id.adrfam = id.traddr.find(':') != std::string::npos ? "ipv6" : "ipv4";
    if (id.adrfam != "ipv4" && id.adrfam != "ipv6")
        return fmt::format("adrfam '{}' is not ipv4 or ipv6", id.adrfam);
    if (id.trsvcid.empty()) {
        id.trsvcid = id.is_discovery() ? default_discovery_trsvcid : default_io_trsvcid;
    } else {
        unsigned port = 0;
        const char* end = id.trsvcid.data() + id.trsvcid.size();
        const auto [ptr, ec] = std::from_chars(id.trsvcid.data(), end, port);
        if (ec != std::errc{} || ptr != end || port == 0 || port > 65535)
            return fmt::format("trsvcid '{}' is not a port number (1..65535)", id.trsvcid);
    }
    if (auto e = check_nqn("subnqn", id.subnqn)) return e;
    if (auto e = check_nqn("hostnqn", id.hostnqn)) return e;
    if (!id.hostid.empty()) {
        if (auto parsed = parse_host_id(id.hostid); !parsed) return parsed.error();
    }
    return std::nullopt;
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::string normalize_bdf(std::string_view text)
{
    std::string t(text);
    if (std::count(t.begin(), t.end(), ':') == 1) t = "0000:" + t;
    // dddd:bb:dd.f, hexadecimal
    if (t.size() != 12 || t[4] != ':' || t[7] != ':' || t[10] != '.') return {};
    for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u})
        if (hex_digit(t[i]) < 0) return {};
    for (auto& c : t)
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    return t;
}

bool TransportId::is_discovery() const
{
    if (trtype == "pcie") return false; // a local function: no discovery service
    return subnqn.empty() || subnqn == discovery_nqn;
}

std::string TransportId::describe() const
{
    if (trtype == "pcie") return "pcie " + traddr;
    const bool bracket = adrfam == "ipv6" || traddr.find(':') != std::string::npos;
    return fmt::format("{} {}{}{}:{} {}", trtype, bracket ? "[" : "", traddr, bracket ? "]" : "",
                       trsvcid, subnqn.empty() ? std::string(discovery_nqn) : subnqn);
}

std::expected<TransportId, std::string> parse_transport_id(std::string_view text)
{
    auto error = [text](std::string_view what) {
        return std::unexpected(fmt::format("transport ID '{}': {}", text, what));
    };
    TransportId id;
    const auto parts = words(text);
    if (parts.empty()) return error("empty (expected e.g. 'trtype:tcp traddr:127.0.0.1')");
    for (const std::string_view part : parts) {
        const std::size_t split = part.find_first_of(":=");
        if (split == std::string_view::npos)
            return error(fmt::format("'{}' is not key:value", part));
        const std::string key = lower(part.substr(0, split));
        const std::string_view value = part.substr(split + 1);
        if (key.empty()) return error(fmt::format("'{}' has no key", part));
        std::string* field = member(id, key);
        if (field == nullptr) return error(fmt::format("unknown key '{}'", key));
        if (value.empty()) return error(fmt::format("{} has an empty value", key));
        if (!field->empty()) return error(fmt::format("{} is given twice", key));
        *field = key == "trtype" || key == "adrfam" ? lower(value) : std::string(value);
    }
    if (auto e = validate(id)) return error(*e);
    return id;
}

std::expected<std::array<std::uint8_t, 16>, std::string> parse_host_id(std::string_view text)
{
    auto error = [text] {
        return std::unexpected(
            fmt::format("hostid '{}' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", text));
    };
    if (text.size() != 36) return error();
    std::array<std::uint8_t, 16> out{};
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return error();
            ++i;
            continue;
        }
        const int hi = hex_digit(text[i]);
        const int lo = hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0) return error();
        out[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return out;
}

} // namespace nvmecuse::transport
