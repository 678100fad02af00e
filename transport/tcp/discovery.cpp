// discover(): the Discovery Log Page of a discovery controller (NVMe Base
// 2.0, 5.16.1.23 "Discovery Log Page"; NVMe-oF 1.1, 5.3 "Discovery
// Service"): header first for NUMREC, then the whole page, re-read while
// GENCTR moves.
#include "nvmecuse/spec/discovery.hpp"

#include <cstring>
#include <vector>

#include "nvmecuse/transport/discovery_records.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "fabrics_commands.hpp"
#include "log.hpp"
#include "tcp_controller.hpp"

namespace nvmecuse::transport::tcp {

namespace {

/// Attempts when the log keeps changing under us (nvme-cli tries 10 times).
constexpr int max_generation_retries = 10;
/// Entries accepted at most: bounds what a hostile controller makes us read.
constexpr std::uint64_t max_records = 4096;
constexpr std::size_t header_size = sizeof(nvme::DiscoveryLogHeader);
constexpr std::size_t entry_size = sizeof(nvme::DiscoveryLogEntry);

std::expected<void, std::error_code> read_log(TcpController& c, std::uint64_t offset,
                                              std::span<std::byte> out)
{
    auto cqe = c.admin().execute(discovery_log(offset, static_cast<std::uint32_t>(out.size())),
                                 nvme::DataTransfer::controller_to_host, out, c.command_deadline());
    if (!cqe) return std::unexpected(cqe.error());
    if (!nvme::status_of(*cqe).is_success()) {
        log().error("{}: Get Log Page Discovery: {}", c.info().name,
                    nvme::to_string(nvme::status_of(*cqe)));
        return std::unexpected(std::make_error_code(std::errc::io_error));
    }
    return {};
}

nvme::DiscoveryLogHeader header_of(std::span<const std::byte> page)
{
    nvme::DiscoveryLogHeader h;
    std::memcpy(&h, page.data(), sizeof h);
    return h;
}

std::expected<std::vector<std::byte>, std::error_code> read_whole_log(TcpController& c)
{
    std::vector<std::byte> header(header_size);
    for (int attempt = 0; attempt < max_generation_retries; ++attempt) {
        if (auto r = read_log(c, 0, header); !r) return std::unexpected(r.error());
        const auto first = header_of(header);
        if (first.numrec > max_records) {
            log().error("{}: discovery log claims {} records", c.info().name, first.numrec);
            return std::unexpected(std::make_error_code(std::errc::protocol_error));
        }
        std::vector<std::byte> page(header_size + first.numrec * entry_size);
        if (auto r = read_log(c, 0, page); !r) return std::unexpected(r.error());
        // Consistent when the header did not move in between (and after).
        if (auto r = read_log(c, 0, header); !r) return std::unexpected(r.error());
        const auto in_page = header_of(page);
        const auto last = header_of(header);
        if (in_page.genctr == first.genctr && last.genctr == first.genctr &&
            in_page.numrec == first.numrec)
            return page;
        log().debug("{}: discovery log changed while reading (genctr {} -> {}); again",
                    c.info().name, first.genctr, last.genctr);
    }
    return std::unexpected(std::make_error_code(std::errc::resource_unavailable_try_again));
}

} // namespace

std::expected<std::vector<DiscoveredSubsystem>, std::error_code> discover(const TransportId& id,
                                                                          const TcpOptions& options)
{
    TransportId target = id;
    if (target.subnqn.empty()) target.subnqn = std::string(discovery_nqn);
    TcpOptions o = options;
    o.kato = std::chrono::milliseconds(0); // a short-lived association: no Keep Alive
    o.io_queues = 0;
    auto c = TcpController::create(target, o);
    if (!c) return std::unexpected(c.error());
    if (auto r = (*c)->connect_admin(); !r) return std::unexpected(r.error());
    if (auto r = (*c)->enable(); !r) return std::unexpected(r.error());
    auto page = read_whole_log(**c);
    (*c)->shutdown();
    if (!page) return std::unexpected(page.error());
    auto entries = discovery_log_entries(*page);
    if (!entries) {
        log().error("{}: {}", (*c)->info().name, entries.error());
        return std::unexpected(std::make_error_code(std::errc::protocol_error));
    }
    std::vector<DiscoveredSubsystem> out;
    for (const auto& e : *entries) {
        auto tid = transport_id_of(e);
        if (!tid) {
            log().warn("{}: skipped: {}", (*c)->info().name, tid.error());
            continue;
        }
        out.push_back(DiscoveredSubsystem{e.subtype, std::move(*tid)});
    }
    return out;
}

} // namespace nvmecuse::transport::tcp
