// SPDK's discovery methods (SPDK doc/jsonrpc.md: bdev_nvme_start_discovery,
// bdev_nvme_stop_discovery, bdev_nvme_get_discovery_info) over the manager's
// persistent discovery controllers. Where SPDK makes bdevs of what a
// discovery service attaches, nvmecuse makes CUSE nodes.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "method_support.hpp"
#include "spdk_support.hpp"

namespace nvmecuse::rpc {

using nlohmann::json;

namespace {

/// params[key] as T, or `fallback`; invalid_params naming the key otherwise.
template <class T>
std::expected<T, Error> value_of(const json& params, const char* key, T fallback)
{
    const auto it = params.find(key);
    if (it == params.end() || it->is_null()) return fallback;
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        return std::unexpected(
            invalid_params(fmt::format("{}: {} is not a valid value", key, it->dump())));
    }
}

/// The discovery controller of `id` already attached, if any: SPDK allows
/// one discovery service per transport ID.
std::optional<std::string> discovering(const service::ControllerManager& manager,
                                       const transport::TransportId& id)
{
    for (const auto& c : manager.list())
        if (c.discovery && c.transport_id.traddr == id.traddr &&
            c.transport_id.trsvcid == id.trsvcid && c.transport_id.hostnqn == id.hostnqn)
            return c.name;
    return std::nullopt;
}

std::expected<json, Error> start_discovery(service::ControllerManager& manager,
                                           const transport::tcp::TcpOptions& defaults,
                                           const json& params)
{
    if (auto ok = only_known_keys(params, {"name", "trtype", "traddr", "adrfam", "trsvcid",
                                           "hostnqn", "wait_for_attach", "attach_timeout_ms",
                                           "ctrlr_loss_timeout_sec", "reconnect_delay_sec",
                                           "fast_io_fail_timeout_sec", "psk", "dhchap_key",
                                           "dhchap_ctrlr_key"});
        !ok)
        return std::unexpected(ok.error());
    auto name = required_string(params, "name");
    if (!name) return std::unexpected(name.error());
    for (auto check : {only_default(params, "psk", std::string(), "no TLS"),
                       only_default(params, "dhchap_key", std::string(),
                                    "no SPDK keyring: attach with controller_attach's "
                                    "dhchap_secret and persistent"),
                       only_default(params, "dhchap_ctrlr_key", std::string(),
                                    "no SPDK keyring: attach with controller_attach's "
                                    "dhchap_ctrl_secret and persistent")})
        if (!check) return std::unexpected(check.error());
    const auto wait = value_of<bool>(params, "wait_for_attach", false);
    if (!wait) return std::unexpected(wait.error());
    const auto timeout_ms = value_of<std::uint64_t>(params, "attach_timeout_ms", 0);
    if (!timeout_ms) return std::unexpected(timeout_ms.error());
    auto trtype = required_string(params, "trtype");
    if (!trtype) return std::unexpected(trtype.error());
    if (lower(*trtype) != "tcp")
        return std::unexpected(Error{
            -EINVAL, fmt::format("trtype {}: discovery is NVMe over Fabrics (TCP)", *trtype)});
    auto id = spdk_transport_id(params);
    if (!id) return std::unexpected(id.error());
    if (!id->is_discovery())
        return std::unexpected(Error{-EINVAL, fmt::format("{}: not a discovery controller",
                                                          id->describe())});
    if (auto other = discovering(manager, *id))
        return std::unexpected(Error{
            -EEXIST, fmt::format("{}: discovery service {} follows it already", id->describe(),
                                 *other)});
    auto tcp = defaults;
    tcp.persistent = true;
    if (auto ok = reconnect_options(params, tcp); !ok) return std::unexpected(ok.error());
    const std::chrono::milliseconds timeout(*timeout_ms);
    // Each connection step is bounded by the whole attach's bound too.
    if (timeout.count() != 0) tcp.connect_timeout = std::min(tcp.connect_timeout, timeout);

    const service::AttachRequest request{.name = *name, .nodes = true, .emulated_config = {},
                                         .discovered_by = {}};
    const auto started = std::chrono::steady_clock::now();
    auto attached = manager.attach(*id, tcp, request);
    if (!attached) return std::unexpected(to_rpc_error(attached.error()));
    if (timeout.count() != 0 && std::chrono::steady_clock::now() - started > timeout) {
        (void)manager.detach(*name);
        return std::unexpected(Error{
            -ETIMEDOUT, fmt::format("{}: the discovery controller and what it lists took longer "
                                    "than attach_timeout_ms {} to attach: stopped",
                                    *name, timeout.count())});
    }
    return true;
}

std::expected<json, Error> stop_discovery(service::ControllerManager& manager, const json& params)
{
    auto name = name_only(params);
    if (!name) return std::unexpected(name.error());
    const auto status = manager.find(*name);
    if (!status || !status->discovery)
        return std::unexpected(
            Error{-ENOENT, fmt::format("{}: no discovery service of that name", *name)});
    if (auto done = manager.detach(*name); !done) return std::unexpected(to_rpc_error(done.error()));
    return true;
}

json discovery_info(const service::ControllerManager& manager)
{
    json out = json::array();
    for (const auto& c : manager.list()) {
        if (!c.discovery) continue;
        json referrals = json::array();
        for (const auto& referral : c.referrals)
            referrals.push_back(json{{"trid", spdk_trid(referral)}});
        auto trid = spdk_trid(c.transport_id);
        if (c.transport_id.subnqn.empty()) trid["subnqn"] = std::string(transport::discovery_nqn);
        out.push_back(json{{"name", c.name},
                           {"trid", std::move(trid)},
                           {"referrals", std::move(referrals)},
                           {"controllers", c.discovered}});
    }
    return out;
}

} // namespace

void add_spdk_discovery_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                                const transport::tcp::TcpOptions& defaults)
{
    dispatcher.add("bdev_nvme_start_discovery", [&manager, defaults](const json& params) {
        return start_discovery(manager, defaults, params);
    });
    dispatcher.add("bdev_nvme_stop_discovery",
                   [&manager](const json& params) { return stop_discovery(manager, params); });
    dispatcher.add("bdev_nvme_get_discovery_info",
                   [&manager](const json& params) -> std::expected<json, Error> {
                       if (auto ok = only_known_keys(params, {}); !ok)
                           return std::unexpected(ok.error());
                       return discovery_info(manager);
                   });
}

} // namespace nvmecuse::rpc
