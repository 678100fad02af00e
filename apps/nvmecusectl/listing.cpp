// nvmecusectl list's table and JSON (listing.hpp), in nvme-cli 2.x's
// formats (nvme-print.c: decimal units, "used / size", "LBA + MD").
#include "listing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <map>
#include <vector>

namespace nvmecusectl {

using nlohmann::json;

namespace {

/// nvme-cli's suffix_si_get(): powers of 1000.
std::string si(double value, const char* unit)
{
    static constexpr std::array<const char*, 7> prefixes{"", "k", "M", "G", "T", "P", "E"};
    std::size_t i = 0;
    while (value >= 1000 && i + 1 < prefixes.size()) {
        value /= 1000;
        ++i;
    }
    return fmt::format("{:6.2f} {:>2}{}", value, prefixes[i], unit);
}

std::string text(const json& j, const char* key)
{
    const auto it = j.find(key);
    if (it == j.end()) return "-";
    if (it->is_string()) return it->get<std::string>();
    return it->is_number_integer() ? it->dump() : std::string("-");
}

/// The controller's state, and what the daemon is doing to it, if anything
/// ("live", "connecting", "live,detaching").
std::string state_text(const json& c)
{
    const std::string activity = c.value("activity", "");
    return text(c, "state") + (activity.empty() ? "" : "," + activity);
}

} // namespace

std::string list_table(const json& controllers)
{
    std::string out = fmt::format("{:<21} {:<20} {:<40} {:<9} {:<26} {:<16} {:<8} {:<9} {}\n",
                                  "Node", "SN", "Model", "Namespace", "Usage", "Format", "FW Rev",
                                  "Transport", "State");
    out += fmt::format("{:-<21} {:-<20} {:-<40} {:-<9} {:-<26} {:-<16} {:-<8} {:-<9} {:-<9}\n", "",
                       "", "", "", "", "", "", "", "");
    for (const auto& c : controllers) {
        const auto row = [&](const std::string& node, const std::string& nsid,
                             const std::string& usage, const std::string& format) {
            out += fmt::format("{:<21} {:<20} {:<40} {:<9} {:<26} {:<16} {:<8} {:<9} {}\n", node,
                               text(c, "serial_number"), text(c, "model_number"), nsid, usage,
                               format, text(c, "firmware_revision"), text(c, "transport"),
                               state_text(c));
        };
        bool any = false;
        for (const auto& ns : c.value("namespaces", json::array())) {
            if (!ns["node"].is_string()) continue;
            const double lba = ns.value("lba_data_size", 0);
            const std::string usage =
                si(static_cast<double>(ns.value("nuse", std::uint64_t{0})) * lba, "B") + " / " +
                si(static_cast<double>(ns.value("nsze", std::uint64_t{0})) * lba, "B");
            const std::string format = fmt::format("{:>3.0f} {:>2}B + {:>2} B", lba >= 1024 ? lba / 1024 : lba,
                                                   lba >= 1024 ? "Ki" : "", ns.value("metadata_size", 0));
            row(ns["node"].get<std::string>(), std::to_string(ns.value("nsid", 0)), usage, format);
            any = true;
        }
        if (!any) row(c["node"].is_string() ? c["node"].get<std::string>() : c.value("name", "-"), "-", "-", "-");
    }
    return out;
}

json list_json(const json& controllers)
{
    json devices = json::array();
    for (const auto& c : controllers)
        for (const auto& ns : c.value("namespaces", json::array())) {
            if (!ns["node"].is_string()) continue;
            const std::uint64_t lba = ns.value("lba_data_size", 0u);
            devices.push_back(json{{"NameSpace", ns.value("nsid", 0)},
                                   {"DevicePath", ns["node"]},
                                   {"Firmware", text(c, "firmware_revision")},
                                   {"ModelNumber", text(c, "model_number")},
                                   {"SerialNumber", text(c, "serial_number")},
                                   {"UsedBytes", ns.value("nuse", std::uint64_t{0}) * lba},
                                   {"MaximumLBA", ns.value("nsze", std::uint64_t{0})},
                                   {"PhysicalSize", ns.value("nsze", std::uint64_t{0}) * lba},
                                   {"SectorSize", lba},
                                   {"Controller", c.value("name", "")},
                                   {"Transport", c.value("transport", "")},
                                   {"State", state_text(c)}});
        }
    return json{{"Devices", std::move(devices)}};
}


namespace {

/// The sysfs-style address of a controller_list entry.
std::string address_of(const json& c)
{
    const json& trid = c.contains("trid") ? c["trid"] : json();
    if (!trid.is_object()) return "emulated";
    const std::string traddr = trid.value("traddr", "");
    if (trid.value("trtype", "") != "tcp") return traddr;
    return fmt::format("traddr={},trsvcid={}", traddr, trid.value("trsvcid", ""));
}

struct Subsystem {
    std::string nqn;
    unsigned index = 0;
    std::vector<const json*> controllers;
};

/// The controllers of one Host NQN, by subsystem.
struct Host {
    std::string nqn;
    std::vector<Subsystem> subsystems;
};

/// Controllers grouped by Host NQN, then subsystem NQN, each in order of
/// its first controller. A subsystem's index is its lowest controller
/// index under any host, as the kernel has one nvme-subsys<N> per NQN.
std::vector<Host> hosts_of(const json& controllers)
{
    std::map<std::string, unsigned> lowest;
    for (const auto& c : controllers) {
        const std::string nqn = c.value("subnqn", "");
        auto [it, added] = lowest.emplace(nqn, c.value("index", 0u));
        if (!added) it->second = std::min(it->second, c.value("index", 0u));
    }
    std::vector<Host> out;
    for (const auto& c : controllers) {
        const std::string hostnqn = c.value("hostnqn", "");
        auto host = std::find_if(out.begin(), out.end(), [&](const Host& h) { return h.nqn == hostnqn; });
        if (host == out.end()) host = out.insert(out.end(), Host{hostnqn, {}});
        // A controller not identified yet is a subsystem of its own.
        const std::string nqn = c.value("subnqn", "");
        auto s = std::find_if(host->subsystems.begin(), host->subsystems.end(),
                              [&](const Subsystem& other) { return !nqn.empty() && other.nqn == nqn; });
        if (s == host->subsystems.end())
            s = host->subsystems.insert(host->subsystems.end(),
                                        Subsystem{nqn, nqn.empty() ? c.value("index", 0u) : lowest[nqn], {}});
        s->controllers.push_back(&c);
    }
    return out;
}

std::string or_dash(const std::string& text)
{
    return text.empty() ? std::string("-") : text;
}

} // namespace

std::string subsys_table(const json& controllers)
{
    std::string out;
    for (const auto& host : hosts_of(controllers))
        for (const auto& s : host.subsystems) {
            if (!out.empty()) out += '\n';
            const std::string name = fmt::format("nvme-subsys{}", s.index);
            out += fmt::format("{} - NQN={}\n", name, or_dash(s.nqn));
            out += fmt::format("{:{}}   hostnqn={}\n", "", name.size(), or_dash(host.nqn));
            out += "\\\n";
            for (const json* c : s.controllers)
                out += fmt::format(" +- {} {} {} {}\n", c->value("name", "-"),
                                   c->value("transport", "-"), address_of(*c), state_text(*c));
        }
    return out;
}

json subsys_json(const json& controllers)
{
    json out = json::array();
    for (const auto& host : hosts_of(controllers)) {
        json subsystems = json::array();
        for (const auto& s : host.subsystems) {
            json paths = json::array();
            for (const json* c : s.controllers)
                paths.push_back(json{{"Name", c->value("name", "")},
                                     {"Transport", c->value("transport", "")},
                                     {"Address", address_of(*c)},
                                     {"State", state_text(*c)}});
            subsystems.push_back(json{{"Name", fmt::format("nvme-subsys{}", s.index)},
                                      {"NQN", s.nqn},
                                      {"Paths", std::move(paths)}});
        }
        out.push_back(json{{"HostNQN", host.nqn}, {"Subsystems", std::move(subsystems)}});
    }
    return out;
}

std::string discovery_text(const json& log)
{
    const json records = log.value("records", json::array());
    std::string out = fmt::format("\nDiscovery Log Number of Records {}, Generation counter {}\n",
                                  records.size(), log.value("genctr", std::uint64_t{0}));
    for (std::size_t i = 0; i < records.size(); ++i) {
        const json& r = records[i];
        out += fmt::format("=====Discovery Log Entry {}======\n", i);
        // nvme-cli's labels, padded to one column; sectype for TCP only.
        for (const auto& [label, key] :
             {std::pair{"trtype:  ", "trtype"}, {"adrfam:  ", "adrfam"}, {"subtype: ", "subtype"},
              {"treq:    ", "treq"}, {"portid:  ", "portid"}, {"trsvcid: ", "trsvcid"},
              {"subnqn:  ", "subnqn"}, {"traddr:  ", "traddr"}, {"eflags:  ", "eflags"},
              {"sectype: ", "sectype"}})
            if (r.contains(key)) out += fmt::format("{}{}\n", label, text(r, key));
    }
    return out;
}

} // namespace nvmecusectl
