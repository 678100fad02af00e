// read_discovery_log(): the Discovery Log Page of a discovery controller
// (NVMe Base 2.0, 5.16.1.23 "Discovery Log Page"; NVMe-oF 1.1, 5.3
// "Discovery Service"), read through the core like any admin command:
// header first for NUMREC, then the whole page, re-read while GENCTR moves.
#include "nvmecuse/ctrlr/discovery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "nvmecuse/spec/discovery.hpp"
#include "nvmecuse/transport/discovery_records.hpp"

#include "admin_commands.hpp"

namespace nvmecuse::ctrlr {

namespace {

/// Attempts when the log keeps changing under us (nvme-cli tries 10 times).
constexpr int max_generation_retries = 10;
/// Entries accepted at most: bounds what a hostile controller makes us read.
constexpr std::uint64_t max_records = 4096;
constexpr std::size_t header_size = sizeof(nvme::DiscoveryLogHeader);
constexpr std::size_t entry_size = sizeof(nvme::DiscoveryLogEntry);

std::expected<DataBuffer, std::error_code> read_log(Controller& c, std::uint64_t offset,
                                                    std::size_t bytes)
{
    auto sqe = admin::sqe_for(nvme::AdminOpcode::get_log_page);
    namespace glp = nvme::cmd::get_log_page;
    glp::Lid::set(sqe, static_cast<std::uint32_t>(nvme::LogPageId::discovery));
    glp::set_num_dwords(sqe, std::max<std::uint32_t>(static_cast<std::uint32_t>(bytes / 4), 1));
    glp::set_lpo(sqe, offset);
    auto r = c.execute(QueueKind::admin, Command::from_opcode(sqe, DataBuffer::zeroed(bytes)));
    if (r.error) return std::unexpected(r.error);
    if (!r.status.is_success()) {
        spdlog::error("{}: Get Log Page Discovery: {}", c.transport_info().name,
                      nvme::to_string(r.status));
        return std::unexpected(std::make_error_code(std::errc::io_error));
    }
    return std::move(r.data);
}

std::expected<DataBuffer, std::error_code> read_whole_log(Controller& c)
{
    const auto& name = c.transport_info().name;
    for (int attempt = 0; attempt < max_generation_retries; ++attempt) {
        auto header = read_log(c, 0, header_size);
        if (!header) return std::unexpected(header.error());
        const auto first = header->as<nvme::DiscoveryLogHeader>();
        if (first.numrec > max_records) {
            spdlog::error("{}: discovery log claims {} records", name, first.numrec);
            return std::unexpected(std::make_error_code(std::errc::protocol_error));
        }
        auto page = read_log(c, 0, header_size + first.numrec * entry_size);
        if (!page) return std::unexpected(page.error());
        // Consistent when the header did not move in between (and after).
        auto again = read_log(c, 0, header_size);
        if (!again) return std::unexpected(again.error());
        const auto in_page = page->as<nvme::DiscoveryLogHeader>();
        const auto last = again->as<nvme::DiscoveryLogHeader>();
        if (in_page.genctr == first.genctr && last.genctr == first.genctr &&
            in_page.numrec == first.numrec)
            return page;
        spdlog::debug("{}: discovery log changed while reading (genctr {} -> {}); again", name,
                      first.genctr, last.genctr);
    }
    return std::unexpected(std::make_error_code(std::errc::resource_unavailable_try_again));
}

} // namespace

std::expected<DiscoveryLog, std::error_code> read_discovery_log(Controller& ctrl)
{
    auto page = read_whole_log(ctrl);
    if (!page) return std::unexpected(page.error());
    const auto& name = ctrl.transport_info().name;
    auto entries = transport::discovery_log_entries(page->span());
    if (!entries) {
        spdlog::error("{}: {}", name, entries.error());
        return std::unexpected(std::make_error_code(std::errc::protocol_error));
    }
    DiscoveryLog out;
    out.genctr = page->as<nvme::DiscoveryLogHeader>().genctr;
    for (const auto& e : *entries) {
        auto tid = transport::transport_id_of(e);
        if (!tid) {
            spdlog::warn("{}: skipped: {}", name, tid.error());
            continue;
        }
        out.records.push_back(DiscoveredSubsystem{.subtype = e.subtype,
                                                  .id = std::move(*tid),
                                                  .adrfam = e.adrfam,
                                                  .treq = e.treq,
                                                  .portid = e.portid,
                                                  .eflags = e.eflags,
                                                  .sectype = e.tsas[0]});
    }
    return out;
}

} // namespace nvmecuse::ctrlr
