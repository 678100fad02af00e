// Discovery Log Page entries to transport IDs.
#include "nvmecuse/transport/discovery_records.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace nvmecuse::transport {

namespace {

constexpr std::size_t header_size = sizeof(nvme::DiscoveryLogHeader);
constexpr std::size_t entry_size = sizeof(nvme::DiscoveryLogEntry);

bool is_port(std::string_view s)
{
    unsigned port = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    return ec == std::errc{} && ptr == s.data() + s.size() && port >= 1 && port <= 65535;
}

} // namespace

std::expected<std::vector<nvme::DiscoveryLogEntry>, std::string>
discovery_log_entries(std::span<const std::byte> page)
{
    if (page.size() < header_size)
        return std::unexpected(fmt::format("discovery log page: {} bytes, shorter than its "
                                           "{}-byte header",
                                           page.size(), header_size));
    nvme::DiscoveryLogHeader header;
    std::memcpy(&header, page.data(), header_size);
    if (header.recfmt != nvme::discovery_record_format)
        return std::unexpected(
            fmt::format("discovery log page: record format {} is not 0", header.recfmt));
    const std::size_t available = (page.size() - header_size) / entry_size;
    if (header.numrec > available)
        return std::unexpected(fmt::format("discovery log page: {} records announced, {} bytes "
                                           "hold only {}",
                                           header.numrec, page.size(), available));
    std::vector<nvme::DiscoveryLogEntry> entries(static_cast<std::size_t>(header.numrec));
    if (!entries.empty())
        std::memcpy(entries.data(), page.data() + header_size, entries.size() * entry_size);
    return entries;
}

std::expected<TransportId, std::string> transport_id_of(const nvme::DiscoveryLogEntry& entry)
{
    TransportId id;
    id.traddr = nvme::trimmed(entry.traddr);
    id.trsvcid = nvme::trimmed(entry.trsvcid);
    id.subnqn = nvme::trimmed(entry.subnqn);
    auto error = [&id](std::string_view what) {
        return std::unexpected(fmt::format("discovery log entry {}:{} {}: {}", id.traddr,
                                           id.trsvcid, id.subnqn, what));
    };
    if (entry.trtype != static_cast<uint8_t>(nvme::TransportType::tcp))
        return error(fmt::format("transport type {} is not TCP (3)", entry.trtype));
    id.trtype = "tcp";
    switch (static_cast<nvme::AddressFamily>(entry.adrfam)) {
    case nvme::AddressFamily::ipv4:
        id.adrfam = "ipv4";
        break;
    case nvme::AddressFamily::ipv6:
        id.adrfam = "ipv6";
        break;
    default:
        return error(fmt::format("address family {} is not IPv4 or IPv6", entry.adrfam));
    }
    if (id.traddr.empty()) return error("empty TRADDR");
    if (!is_port(id.trsvcid)) return error("TRSVCID is not a port number");
    if (id.subnqn.empty()) return error("empty SUBNQN");
    if (id.subnqn.size() > max_nqn_length) return error("SUBNQN longer than 223 bytes");
    return id;
}

} // namespace nvmecuse::transport
