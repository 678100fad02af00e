// discovery_log_json(): names as libnvme 1.3 spells them (nvmf_subtype_str,
// nvmf_treq_str, nvmf_eflags_str, nvmf_sectype_str), indexed by the raw
// field value as libnvme indexes its tables.
#include "discovery_log_json.hpp"

#include <array>
#include <cstdint>
#include <string_view>

namespace nvmecuse::rpc {

namespace {

/// libnvme's arg_str(): the name at `value`, "unrecognized" past the table
/// or in a gap.
template <std::size_t N>
std::string_view lookup(const std::array<std::string_view, N>& names, unsigned value)
{
    if (value < N && !names[value].empty()) return names[value];
    return "unrecognized";
}

constexpr std::array<std::string_view, 4> subtype_names{
    "", "discovery subsystem referral", "nvme subsystem", "current discovery subsystem"};

/// TREQ: bits 1:0 the secure channel, bit 2 SQ flow control disable; libnvme
/// 1.3 names only the combinations below.
constexpr std::array<std::string_view, 5> treq_names{
    "not specified", "required", "not required", "",
    "not specified, sq flow control disable supported"};

/// EFLAGS: bit 0 DUPRETINFO, bit 1 EPCSD, bit 2 NCC, every combination.
constexpr std::array<std::string_view, 8> eflags_names{
    "none",
    "duplicate discovery information",
    "explicit discovery connections",
    "explicit discovery connections, duplicate discovery information",
    "no cdc connectivity",
    "duplicate discovery information, no cdc connectivity",
    "explicit discovery connections, no cdc connectivity",
    "explicit discovery connections, duplicate discovery information, no cdc connectivity"};

constexpr std::array<std::string_view, 3> sectype_names{"none", "tls", "tls13"};

} // namespace

nlohmann::json discovery_log_json(const ctrlr::DiscoveryLog& log)
{
    auto records = nlohmann::json::array();
    for (const auto& r : log.records) {
        nlohmann::json entry{{"trtype", r.id.trtype},
                             {"adrfam", r.id.adrfam},
                             {"subtype", lookup(subtype_names, r.subtype)},
                             {"treq", lookup(treq_names, r.treq)},
                             {"portid", r.portid},
                             {"trsvcid", r.id.trsvcid},
                             {"subnqn", r.id.subnqn},
                             {"traddr", r.id.traddr},
                             {"eflags", lookup(eflags_names, r.eflags)}};
        if (r.id.trtype == "tcp") entry["sectype"] = lookup(sectype_names, r.sectype);
        records.push_back(std::move(entry));
    }
    return nlohmann::json{{"genctr", log.genctr}, {"records", std::move(records)}};
}

} // namespace nvmecuse::rpc
