// SPDK's bdev_nvme methods (SPDK doc/jsonrpc.md) on the controller manager,
// with SPDK's parameter names, defaults and answers.
#include <fmt/format.h>

#include <algorithm>

#include "nvmecuse/rpc/methods.hpp"

#include "method_support.hpp"
#include "spdk_support.hpp"

namespace nvmecuse::rpc {

using nlohmann::json;

std::string lower(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::expected<transport::TransportId, Error> spdk_transport_id(const json& params)
{
    auto trtype = required_string(params, "trtype");
    if (!trtype) return std::unexpected(trtype.error());
    auto traddr = required_string(params, "traddr");
    if (!traddr) return std::unexpected(traddr.error());
    const std::string type = lower(*trtype);
    if (type != "tcp" && type != "pcie")
        return std::unexpected(Error{
            -EINVAL, fmt::format("trtype {}: nvmecuse serves TCP and PCIe controllers", *trtype)});
    const std::string adrfam = lower(params.value("adrfam", std::string()));
    if (!adrfam.empty() && adrfam != "ipv4" && adrfam != "ipv6")
        return std::unexpected(
            Error{-EINVAL, fmt::format("adrfam {}: nvmecuse speaks IPv4 and IPv6", adrfam)});
    if (type == "pcie") return transport_id_from({{"trtype", type}, {"traddr", *traddr}});
    return transport_id_from({{"trtype", type},
                              {"traddr", *traddr},
                              {"adrfam", adrfam},
                              {"trsvcid", params.value("trsvcid", std::string())},
                              {"subnqn", params.value("subnqn", std::string())},
                              {"hostnqn", params.value("hostnqn", std::string())}});
}

std::expected<void, Error> reconnect_options(const json& params, transport::tcp::TcpOptions& tcp)
{
    const auto seconds = [&](const char* key, std::chrono::seconds& out) {
        if (auto it = params.find(key); it != params.end())
            out = std::chrono::seconds(it->get<std::int64_t>());
    };
    seconds("ctrlr_loss_timeout_sec", tcp.ctrl_loss_tmo);
    seconds("reconnect_delay_sec", tcp.reconnect_delay);
    seconds("fast_io_fail_timeout_sec", tcp.fast_io_fail_tmo);
    // SPDK: fast_io_fail_timeout_sec 0 means off; nvmecuse's off is negative.
    if (tcp.fast_io_fail_tmo.count() == 0) tcp.fast_io_fail_tmo = std::chrono::seconds(-1);
    const auto loss = tcp.ctrl_loss_tmo.count();
    const auto delay = tcp.reconnect_delay.count();
    if (loss == 0 && params.contains("reconnect_delay_sec") && delay != 0)
        return std::unexpected(
            Error{-EINVAL, "reconnect_delay_sec must be 0 when ctrlr_loss_timeout_sec is 0"});
    if (loss != 0 && delay <= 0)
        return std::unexpected(
            Error{-EINVAL, "reconnect_delay_sec must be positive unless ctrlr_loss_timeout_sec is 0"});
    if (loss > 0 && delay > loss)
        return std::unexpected(
            Error{-EINVAL, "reconnect_delay_sec must not exceed ctrlr_loss_timeout_sec"});
    return {};
}

namespace {

/// bdev_nvme_attach_controller's parameters whose value nvmecuse may not
/// honour: SPDK's defaults pass, anything else is refused by name.
std::expected<void, Error> honourable(const json& params)
{
    for (auto check : {only_default(params, "prchk_reftag", false,
                                    "protection information passes through to the caller"),
                       only_default(params, "prchk_guard", false,
                                    "protection information passes through to the caller"),
                       only_default(params, "priority", 0, "no socket priority"),
                       only_default(params, "hostaddr", std::string(), "no source address"),
                       only_default(params, "hostsvcid", std::string(), "no source port"),
                       only_default(params, "psk", std::string(), "no TLS"),
                       only_default(params, "dhchap_key", std::string(),
                                    "no SPDK keyring: give controller_attach the secret "
                                    "itself, as dhchap_secret"),
                       only_default(params, "dhchap_ctrlr_key", std::string(),
                                    "no SPDK keyring: give controller_attach the secret "
                                    "itself, as dhchap_ctrl_secret")})
        if (!check) return check;
    // Either value is honoured: a namespace of any command set gets a node,
    // and every node is passthrough.
    if (auto it = params.find("allow_unrecognized_csi");
        it != params.end() && !it->is_null() && !it->is_boolean())
        return std::unexpected(invalid_params("allow_unrecognized_csi must be true or false"));
    const std::string multipath = params.value("multipath", std::string("failover"));
    if (multipath != "disable" && multipath != "failover")
        return std::unexpected(Error{
            -EINVAL, fmt::format("multipath {}: nvmecuse serves one path per controller", multipath)});
    // rpc.py groups --policy, --selector and --min-io here (empty without
    // them); with one path per controller there is nothing to choose.
    if (auto it = params.find("multipath_opts"); it != params.end() && !it->is_null()) {
        if (!it->is_object())
            return std::unexpected(invalid_params("multipath_opts must be an object"));
        if (auto ok = only_known_keys(*it, {"policy", "selector", "min_io"}); !ok)
            return ok;
    }
    return {};
}

std::expected<json, Error> attach_controller(service::ControllerManager& manager,
                                             const transport::tcp::TcpOptions& defaults,
                                             const json& params)
{
    if (auto ok = only_known_keys(
            params, {"name", "trtype", "traddr", "adrfam", "trsvcid", "priority", "subnqn",
                     "hostnqn", "hostaddr", "hostsvcid", "prchk_reftag", "prchk_guard", "hdgst",
                     "ddgst", "fabrics_connect_timeout_us", "multipath", "num_io_queues",
                     "ctrlr_loss_timeout_sec", "reconnect_delay_sec", "fast_io_fail_timeout_sec",
                     "psk", "max_bdevs", "dhchap_key", "dhchap_ctrlr_key",
                     "allow_unrecognized_csi", "multipath_opts"});
        !ok)
        return std::unexpected(ok.error());
    auto name = required_string(params, "name");
    if (!name) return std::unexpected(name.error());
    if (auto ok = honourable(params); !ok) return std::unexpected(ok.error());
    // SPDK answers with at most max_bdevs names (default 128), -ERANGE
    // past them, the controller attached all the same.
    const auto max_bdevs = params.value("max_bdevs", std::uint64_t{128});
    if (max_bdevs == 0) return std::unexpected(Error{-EINVAL, "max_bdevs must not be 0"});
    auto id = spdk_transport_id(params);
    if (!id) return std::unexpected(id.error());
    auto tcp = defaults;
    tcp.header_digest = params.value("hdgst", false);
    tcp.data_digest = params.value("ddgst", false);
    if (auto it = params.find("num_io_queues"); it != params.end() && it->get<unsigned>() != 0)
        tcp.io_queues = static_cast<std::uint16_t>(std::min(it->get<unsigned>(), 65535u));
    if (auto it = params.find("fabrics_connect_timeout_us"); it != params.end() &&
                                                            it->get<std::uint64_t>() != 0)
        tcp.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::microseconds(it->get<std::uint64_t>()));
    if (auto ok = reconnect_options(params, tcp); !ok) return std::unexpected(ok.error());

    const service::AttachRequest request{.name = *name, .nodes = false, .emulated_config = {},
                                         .discovered_by = {}};
    auto attached = manager.attach(*id, tcp, request);
    if (!attached) return std::unexpected(to_rpc_error(attached.error()));
    // SPDK answers with the bdev names: the controller's name + "n" + nsid.
    json bdevs = json::array();
    for (const auto& status : *attached)
        if (status.info)
            for (const auto& [nsid, ns] : status.info->namespaces)
                bdevs.push_back(fmt::format("{}n{}", status.name, nsid));
    if (bdevs.size() > max_bdevs)
        return std::unexpected(Error{
            -ERANGE, fmt::format("{}: {} namespaces, more names than max_bdevs ({}); the "
                                 "controller is attached",
                                 *name, bdevs.size(), max_bdevs)});
    return bdevs;
}

} // namespace

json spdk_trid(const transport::TransportId& id)
{
    if (id.trtype.empty()) return json{{"trtype", "emulated"}};
    if (id.trtype == "pcie") return json{{"trtype", "PCIe"}, {"traddr", id.traddr}};
    return json{{"trtype", "TCP"},
                {"adrfam", id.adrfam == "ipv6" ? "IPv6" : "IPv4"},
                {"traddr", id.traddr},
                {"trsvcid", id.trsvcid},
                {"subnqn", id.subnqn}};
}

namespace {

/// SPDK's state names (nvme_ctrlr_get_state_str(): "enabled", "resetting",
/// "deleting", "failed"); a reconnect is a reset there.
std::string spdk_state(const service::ControllerStatus& c)
{
    if (c.activity == "detaching" || c.state == "deleting") return "deleting";
    if (c.state == "resetting" || c.state == "connecting") return "resetting";
    if (c.state == "failed") return "failed";
    return "enabled";
}

json controller_json(const service::ControllerStatus& c, const transport::tcp::TcpOptions& defaults)
{
    json ctrlr{{"state", spdk_state(c)},
               {"trid", spdk_trid(c.transport_id)},
               {"host",
                json{{"nqn", c.transport_id.hostnqn.empty() ? defaults.hostnqn
                                                            : c.transport_id.hostnqn},
                     {"addr", ""},
                     {"svcid", ""}}}};
    if (!c.nodes.empty()) ctrlr["cuse_device"] = c.nodes.front().devname;
    if (c.info) ctrlr["cntlid"] = c.info->id.cntlid;
    return json{{"name", c.name}, {"ctrlrs", json::array({std::move(ctrlr)})}};
}

std::expected<json, Error> detach_controller(service::ControllerManager& manager, const json& params)
{
    if (auto ok = only_known_keys(params, {"name", "trtype", "traddr", "adrfam", "trsvcid",
                                           "subnqn", "hostaddr", "hostsvcid"});
        !ok)
        return std::unexpected(ok.error());
    auto name = required_string(params, "name");
    if (!name) return std::unexpected(name.error());
    auto status = manager.find(*name);
    // A discovery service is stopped with bdev_nvme_stop_discovery, as in SPDK.
    if (!status || status->discovery)
        return std::unexpected(Error{-ENODEV, fmt::format("{}: no such controller", *name)});
    // A path named by its fields must be the controller's one path.
    const auto& id = status->transport_id;
    const auto differs = [&](const char* key, const std::string& ours) {
        const auto it = params.find(key);
        return it != params.end() && lower(it->get<std::string>()) != lower(ours);
    };
    if (differs("traddr", id.traddr) || differs("trsvcid", id.trsvcid) ||
        differs("subnqn", id.subnqn) || differs("trtype", id.trtype) ||
        differs("adrfam", id.adrfam))
        return std::unexpected(
            Error{-ENODEV, fmt::format("{}: it has no such path", *name)});
    if (auto done = manager.detach(*name); !done) return std::unexpected(to_rpc_error(done.error()));
    return true;
}

} // namespace

void add_spdk_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                      const transport::tcp::TcpOptions& defaults)
{
    dispatcher.add("bdev_nvme_attach_controller", [&manager, defaults](const json& params) {
        return attach_controller(manager, defaults, params);
    });
    dispatcher.add("bdev_nvme_detach_controller",
                   [&manager](const json& params) { return detach_controller(manager, params); });
    dispatcher.add("bdev_nvme_cuse_register", [&manager](const json& params) -> std::expected<json, Error> {
        auto name = name_only(params);
        if (!name) return std::unexpected(name.error());
        if (auto nodes = manager.register_nodes(*name); !nodes)
            return std::unexpected(to_rpc_error(nodes.error()));
        return true;
    });
    dispatcher.add("bdev_nvme_cuse_unregister", [&manager](const json& params) -> std::expected<json, Error> {
        auto name = name_only(params);
        if (!name) return std::unexpected(name.error());
        if (auto done = manager.unregister_nodes(*name); !done)
            return std::unexpected(to_rpc_error(done.error()));
        return true;
    });
    dispatcher.add("bdev_nvme_get_controllers",
                   [&manager, defaults](const json& params) -> std::expected<json, Error> {
                       if (auto ok = only_known_keys(params, {"name"}); !ok)
                           return std::unexpected(ok.error());
                       json out = json::array();
                       if (auto it = params.find("name"); it != params.end()) {
                           auto status = manager.find(it->get<std::string>());
                           if (!status || status->discovery)
                               return std::unexpected(Error{
                                   -ENODEV, fmt::format("{}: no such controller", it->dump())});
                           out.push_back(controller_json(*status, defaults));
                           return out;
                       }
                       for (const auto& c : manager.list())
                           if (!c.discovery) out.push_back(controller_json(c, defaults));
                       return out;
                   });
    add_spdk_discovery_methods(dispatcher, manager, defaults);
}

} // namespace nvmecuse::rpc
