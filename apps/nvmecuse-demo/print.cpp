#include "print.hpp"

#include <fmt/format.h>

#include <string_view>

namespace nvmecuse::demo {
namespace {

std::string_view text(std::string_view s)
{
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
    return s;
}
template <std::size_t N> std::string_view text(const std::array<char, N>& a)
{
    return text(std::string_view(a.data(), N));
}

std::string human_bytes(long double bytes)
{
    static constexpr std::array units{"B", "KB", "MB", "GB", "TB", "PB"};
    std::size_t u = 0;
    while (bytes >= 1000 && u + 1 < units.size()) {
        bytes /= 1000;
        ++u;
    }
    return fmt::format("{:.2f} {}", static_cast<double>(bytes), units[u]);
}

std::string version(std::uint32_t ver)
{
    return fmt::format("{}.{}.{}", ver >> 16, (ver >> 8) & 0xff, ver & 0xff);
}

} // namespace

std::string format_namespace_table(const std::string& name, const ctrlr::ControllerInfo& info)
{
    std::string out = fmt::format("{:<16} {:<20} {:<40} {:<9} {:<26} {:<16} {:<8}\n", "Node",
                                  "SN", "Model", "Namespace", "Usage", "Format", "FW Rev");
    out += fmt::format("{:-<16} {:-<20} {:-<40} {:-<9} {:-<26} {:-<16} {:-<8}\n", "", "", "", "",
                       "", "", "");
    for (const auto& [nsid, ns] : info.namespaces) {
        const auto used = static_cast<long double>(ns.id.nuse) * ns.lba_data_size;
        const auto total = static_cast<long double>(ns.size_bytes());
        out += fmt::format("{:<16} {:<20} {:<40} {:<9} {:<26} {:<16} {:<8}\n",
                           fmt::format("{}n{}", name, nsid), text(info.id.sn), text(info.id.mn),
                           nsid, human_bytes(used) + " / " + human_bytes(total),
                           fmt::format("{:>4} B + {} B", ns.lba_data_size, ns.metadata_size),
                           text(info.id.fr));
    }
    return out;
}

std::string format_id_ctrl(const nvme::IdentifyController& id)
{
    std::string out = "NVME Identify Controller:\n";
    const auto line = [&out](std::string_view key, const std::string& value) {
        out += fmt::format("{:<10}: {}\n", key, value);
    };
    line("vid", fmt::format("{:#x}", id.vid));
    line("ssvid", fmt::format("{:#x}", id.ssvid));
    line("sn", std::string(text(id.sn)));
    line("mn", std::string(text(id.mn)));
    line("fr", std::string(text(id.fr)));
    line("rab", std::to_string(id.rab));
    line("ieee", fmt::format("{:02x}{:02x}{:02x}", id.ieee[2], id.ieee[1], id.ieee[0]));
    line("cmic", std::to_string(id.cmic));
    line("mdts", std::to_string(id.mdts));
    line("cntlid", fmt::format("{:#x}", id.cntlid));
    line("ver", fmt::format("{:#x} ({})", id.ver, version(id.ver)));
    line("oaes", fmt::format("{:#x}", id.oaes));
    line("cntrltype", std::to_string(id.cntrltype));
    line("oacs", fmt::format("{:#x}", id.oacs));
    line("acl", std::to_string(id.acl));
    line("aerl", std::to_string(id.aerl));
    line("frmw", fmt::format("{:#x}", id.frmw));
    line("lpa", fmt::format("{:#x}", id.lpa));
    line("elpe", std::to_string(id.elpe));
    line("npss", std::to_string(id.npss));
    line("wctemp", std::to_string(id.wctemp));
    line("cctemp", std::to_string(id.cctemp));
    line("tnvmcap", id.tnvmcap.to_string());
    line("unvmcap", id.unvmcap.to_string());
    line("edstt", std::to_string(id.edstt));
    line("dsto", std::to_string(id.dsto));
    line("kas", std::to_string(id.kas));
    line("sqes", fmt::format("{:#x}", id.sqes));
    line("cqes", fmt::format("{:#x}", id.cqes));
    line("nn", std::to_string(id.nn));
    line("oncs", fmt::format("{:#x}", id.oncs));
    line("fna", fmt::format("{:#x}", id.fna));
    line("vwc", fmt::format("{:#x}", id.vwc));
    line("subnqn", std::string(text(std::string_view(id.subnqn.data(), id.subnqn.size()))));
    for (unsigned i = 0; i <= id.npss && i < id.psd.size(); ++i) {
        const auto& ps = id.psd[i];
        const bool centiwatts = (ps.flags & nvme::psd_flags::mxps) == 0;
        out += fmt::format("ps {:>4} : mp:{:.2f}W {}operational enlat:{} exlat:{}\n", i,
                           ps.mp / (centiwatts ? 100.0 : 10000.0),
                           (ps.flags & nvme::psd_flags::nops) != 0 ? "non-" : "", ps.enlat,
                           ps.exlat);
    }
    return out;
}

std::string format_smart_log(const std::string& name, const nvme::SmartHealthLog& log)
{
    std::string out = fmt::format("Smart Log for NVME device:{} namespace-id:ffffffff\n", name);
    const auto line = [&out](std::string_view key, const std::string& value) {
        out += fmt::format("{:<40}: {}\n", key, value);
    };
    const std::uint16_t kelvin = log.composite_temperature.get();
    line("critical_warning", std::to_string(log.critical_warning));
    line("temperature", fmt::format("{} C ({} Kelvin)", kelvin - nvme::kelvin_offset, kelvin));
    line("available_spare", fmt::format("{}%", log.avail_spare));
    line("available_spare_threshold", fmt::format("{}%", log.avail_spare_thresh));
    line("percentage_used", fmt::format("{}%", log.percent_used));
    const auto units = [](const nvme::Uint128& u) {
        return fmt::format("{} ({})", u.to_string(),
                           human_bytes(u.to_long_double() * 512 * 1000));
    };
    line("data_units_read", units(log.data_units_read));
    line("data_units_written", units(log.data_units_written));
    line("host_read_commands", log.host_read_commands.to_string());
    line("host_write_commands", log.host_write_commands.to_string());
    line("controller_busy_time", log.controller_busy_time.to_string());
    line("power_cycles", log.power_cycles.to_string());
    line("power_on_hours", log.power_on_hours.to_string());
    line("unsafe_shutdowns", log.unsafe_shutdowns.to_string());
    line("media_errors", log.media_errors.to_string());
    line("num_err_log_entries", log.num_err_log_entries.to_string());
    line("Warning Temperature Time", std::to_string(log.warning_temp_time));
    line("Critical Composite Temperature Time", std::to_string(log.critical_comp_time));
    return out;
}

} // namespace nvmecuse::demo
