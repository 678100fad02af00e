// nvmecuse's own control methods (methods.hpp, docs/control-plane.md).
#include <fmt/format.h>

#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/service/discovery_log.hpp"
#include "nvmecuse/service/serving_threads.hpp"

#include "attach_params.hpp"
#include "discovery_log_json.hpp"
#include "method_support.hpp"

namespace nvmecuse::rpc {

using nlohmann::json;
using service::ControllerStatus;

namespace {

json stats_json(const cuse::DeviceStats& s)
{
    return json{{"fuse_requests", s.fuse_requests}, {"ioctl_requests", s.ioctl_requests},
                {"ioctls_answered", s.ioctls_answered}, {"fast_path", s.fast_path},
                {"retries", s.retries}, {"interrupts", s.interrupts},
                {"in_flight", s.in_flight}, {"in_flight_bytes", s.in_flight_bytes},
                {"over_budget", s.over_budget}, {"commands", s.commands},
                {"errors", s.errors}, {"bytes_read", s.bytes_read},
                {"bytes_written", s.bytes_written},
                {"latency_ns", json{{"samples", s.latency.samples},
                                    {"p50", s.latency.p50_ns},
                                    {"p90", s.latency.p90_ns},
                                    {"p99", s.latency.p99_ns},
                                    {"p99_9", s.latency.p999_ns},
                                    {"max", s.latency.max_ns},
                                    {"sum", s.latency.sum_ns}}}};
}

/// "/dev/" + the devname of nsid's node (0: the controller's); null without.
json node_of(const ControllerStatus& c, std::uint32_t nsid)
{
    const std::string suffix = nsid == 0 ? "" : fmt::format("n{}", nsid);
    for (const auto& node : c.nodes) {
        const auto slash = node.devname.rfind('/');
        const std::string_view base = std::string_view(node.devname).substr(slash + 1);
        if (base == fmt::format("nvme{}{}", c.index, suffix)) return "/dev/" + node.devname;
    }
    return nullptr;
}

json namespaces_json(const ControllerStatus& c)
{
    json out = json::array();
    if (!c.info) return out;
    for (const auto& [nsid, ns] : c.info->namespaces)
        out.push_back(json{{"nsid", nsid},
                           {"node", node_of(c, nsid)},
                           {"nsze", ns.id.nsze},
                           {"ncap", ns.id.ncap},
                           {"nuse", ns.id.nuse},
                           {"lba_data_size", ns.lba_data_size},
                           {"metadata_size", ns.metadata_size},
                           {"size_bytes", ns.size_bytes()},
                           {"unusable_reason", ns.unusable_reason}});
    return out;
}

json trid_json(const transport::TransportId& id)
{
    if (id.trtype.empty()) return nullptr;
    json t{{"trtype", id.trtype}, {"traddr", id.traddr}};
    if (id.trtype != "pcie") {
        t["adrfam"] = id.adrfam;
        t["trsvcid"] = id.trsvcid;
        t["subnqn"] = id.subnqn;
    }
    return t;
}

/// The Host NQN a controller connected with; `fallback` (the daemon's
/// default) for one that connects with none (PCIe, emulated), as nvme-cli
/// lists those under the system's host.
std::string host_nqn_of(const ControllerStatus& c, const std::string& fallback)
{
    if (c.transport != "tcp") return fallback;
    return transport::tcp::effective_host_nqn(c.transport_id, c.tcp);
}

json controller_json(const ControllerStatus& c, const std::string& default_hostnqn)
{
    json nodes = json::array();
    for (const auto& node : c.nodes)
        nodes.push_back(json{{"devname", node.devname}, {"stats", stats_json(node.stats)}});
    json out{{"name", c.name},           {"index", c.index},          {"state", c.state},
             {"activity", c.activity},
             {"transport", c.transport}, {"trid", trid_json(c.transport_id)},
             {"node", node_of(c, 0)},    {"nodes", std::move(nodes)}, {"namespaces", namespaces_json(c)},
             {"hostnqn", host_nqn_of(c, default_hostnqn)},
             {"discovery", c.discovery},
             {"discovered_by", c.discovered_by.empty() ? json(nullptr) : json(c.discovered_by)}};
    if (c.discovery) {
        out["discovered"] = c.discovered;
        json referrals = json::array();
        for (const auto& referral : c.referrals)
            referrals.push_back(trid_json(referral));
        out["referrals"] = std::move(referrals);
    }
    if (c.info) {
        const auto& id = c.info->id;
        out["serial_number"] = trimmed(std::string_view(id.sn.data(), id.sn.size()));
        out["model_number"] = trimmed(std::string_view(id.mn.data(), id.mn.size()));
        out["firmware_revision"] = trimmed(std::string_view(id.fr.data(), id.fr.size()));
        out["cntlid"] = id.cntlid;
        out["subnqn"] = trimmed(std::string_view(id.subnqn.data(), id.subnqn.size()));
    }
    return out;
}

std::expected<ControllerStatus, Error> find(const service::ControllerManager& manager,
                                            const json& params)
{
    auto name = required_string(params, "name");
    if (!name) return std::unexpected(name.error());
    auto status = manager.find(*name);
    if (!status)
        return std::unexpected(Error{-ENODEV, fmt::format("{}: no such controller", *name)});
    return std::move(*status);
}

std::expected<json, Error> controller_attach(service::ControllerManager& manager,
                                             const transport::tcp::TcpOptions& defaults,
                                             const json& params)
{
    const std::string host = transport::tcp::effective_host_nqn({}, defaults);
    auto call = parse_attach(params, defaults);
    if (!call) return std::unexpected(call.error());
    if (call->emulated) {
        auto attached = manager.attach_emulated(*call->emulated, call->request);
        if (!attached) return std::unexpected(to_rpc_error(attached.error()));
        return json::array({controller_json(*attached, host)});
    }
    auto attached = manager.attach(call->id, call->tcp, call->request);
    if (!attached) return std::unexpected(to_rpc_error(attached.error()));
    json out = json::array();
    for (const auto& status : *attached)
        out.push_back(controller_json(status, host));
    return out;
}

/// discovery_log: a discovery controller's log, each record with nvme
/// discover -o json's names and values, attaching nothing.
std::expected<json, Error> discovery_log(const transport::tcp::TcpOptions& defaults,
                                         const json& params)
{
    if (auto ok = only_known_keys(params, {"trid", "trtype", "traddr", "adrfam", "trsvcid",
                                           "subnqn", "hostnqn", "hostid", "dhchap_secret",
                                           "dhchap_ctrl_secret"});
        !ok)
        return std::unexpected(ok.error());
    auto call = parse_attach(params, defaults);
    if (!call) return std::unexpected(call.error());
    if (call->emulated) return std::unexpected(invalid_params("an emulated controller has no discovery log"));
    auto log = service::read_discovery_log(call->id, call->tcp);
    if (!log) return std::unexpected(to_rpc_error(log.error()));
    return discovery_log_json(*log);
}

} // namespace

void add_native_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                        const transport::tcp::TcpOptions& defaults)
{
    dispatcher.add("controller_attach", [&manager, defaults](const json& params) {
        return controller_attach(manager, defaults, params);
    });
    dispatcher.add("discovery_log", [defaults](const json& params) {
        return discovery_log(defaults, params);
    });
    dispatcher.add("controller_detach", [&manager](const json& params) -> std::expected<json, Error> {
        if (auto ok = only_known_keys(params, {"name", "grace_ms"}); !ok)
            return std::unexpected(ok.error());
        auto name = required_string(params, "name");
        if (!name) return std::unexpected(name.error());
        const auto grace = std::chrono::milliseconds(params.value(
            "grace_ms", service::ControllerManager::default_detach_grace.count()));
        if (grace.count() < 0) return std::unexpected(invalid_params("grace_ms must not be negative"));
        if (auto done = manager.detach(*name, grace); !done)
            return std::unexpected(to_rpc_error(done.error()));
        return true;
    });
    const std::string host = transport::tcp::effective_host_nqn({}, defaults);
    dispatcher.add("controller_list", [&manager, host](const json& params) -> std::expected<json, Error> {
        if (auto ok = only_known_keys(params, {"name"}); !ok) return std::unexpected(ok.error());
        json out = json::array();
        if (params.contains("name")) {
            auto c = find(manager, params);
            if (!c) return std::unexpected(c.error());
            out.push_back(controller_json(*c, host));
            return out;
        }
        for (const auto& c : manager.list())
            out.push_back(controller_json(c, host));
        return out;
    });
    dispatcher.add("namespace_list", [&manager](const json& params) -> std::expected<json, Error> {
        if (auto ok = only_known_keys(params, {"name"}); !ok) return std::unexpected(ok.error());
        auto c = find(manager, params);
        if (!c) return std::unexpected(c.error());
        return namespaces_json(*c);
    });
    const auto step = [&manager](auto member) {
        return [&manager, member](const json& params) -> std::expected<json, Error> {
            auto name = name_only(params);
            if (!name) return std::unexpected(name.error());
            if (auto done = (manager.*member)(*name); !done)
                return std::unexpected(to_rpc_error(done.error()));
            return true;
        };
    };
    dispatcher.add("controller_reset", step(&service::ControllerManager::reset));
    dispatcher.add("rescan", step(&service::ControllerManager::rescan));
    dispatcher.add("emulated_controller_delete", step(&service::ControllerManager::detach_emulated));
    dispatcher.add("emulated_controller_create",
                   [&manager, defaults](const json& params) -> std::expected<json, Error> {
                       if (auto ok = only_known_keys(params, {"name", "config"}); !ok)
                           return std::unexpected(ok.error());
                       json attach = params;
                       attach["trtype"] = "emulated";
                       auto attached = controller_attach(manager, defaults, attach);
                       if (!attached) return std::unexpected(attached.error());
                       return std::move((*attached)[0]);
                   });
    dispatcher.add("save_config", [&manager](const json& params) -> std::expected<json, Error> {
        if (auto ok = only_known_keys(params, {}); !ok) return std::unexpected(ok.error());
        return save_config(manager);
    });
    dispatcher.add("serving_threads", [](const json& params) -> std::expected<json, Error> {
        if (auto ok = only_known_keys(params, {}); !ok) return std::unexpected(ok.error());
        json out = json::array();
        const auto all = service::serving_thread_counters();
        for (std::size_t i = 0; i < all.size(); ++i) {
            const auto& c = all[i];
            out.push_back(json{{"index", i},
                               {"name", fmt::format("serve{}", i)},
                               {"sleeps", c.sleeps},
                               {"idle_wakeups", c.idle_wakeups},
                               {"empty_events", c.empty_events},
                               {"handled", c.handled},
                               {"tasks", c.tasks},
                               {"yields", c.yields}});
        }
        return out;
    });
    dispatcher.add("stats", [&manager](const json& params) -> std::expected<json, Error> {
        if (auto ok = only_known_keys(params, {"name"}); !ok) return std::unexpected(ok.error());
        std::vector<ControllerStatus> controllers;
        if (params.contains("name")) {
            auto c = find(manager, params);
            if (!c) return std::unexpected(c.error());
            controllers.push_back(std::move(*c));
        } else {
            controllers = manager.list();
        }
        json out = json::array();
        for (const auto& c : controllers)
            for (const auto& node : c.nodes)
                out.push_back(json{{"controller", c.name},
                                   {"node", "/dev/" + node.devname},
                                   {"stats", stats_json(node.stats)}});
        return out;
    });
}

} // namespace nvmecuse::rpc
