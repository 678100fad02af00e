// controller_attach's parameters, parsed and made (attach_params.hpp).
#include "attach_params.hpp"

#include <fmt/format.h>

#include "nvmecuse/transport/emu/config_check.hpp"
#include "nvmecuse/transport/emu/config_json.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "method_support.hpp"

namespace nvmecuse::rpc {

using nlohmann::json;

namespace {

/// params[key] as T, or `fallback` when absent; invalid_params naming the
/// key for a value of another type or range.
template <class T>
std::expected<T, Error> field(const json& params, const char* key, T fallback)
{
    auto it = params.find(key);
    if (it == params.end()) return fallback;
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        return std::unexpected(invalid_params(fmt::format("{}: {} is not a valid value", key, it->dump())));
    }
}

/// `defaults` with what `params` sets (nvme connect's names, in seconds).
std::expected<transport::tcp::TcpOptions, Error> tcp_options(const json& params,
                                                             transport::tcp::TcpOptions tcp)
{
    using std::chrono::seconds;
    const auto kato = field<unsigned>(params, "kato", 0);
    const auto queues = field<std::uint16_t>(params, "nr_io_queues", tcp.io_queues);
    const auto depth = field<std::uint16_t>(params, "queue_size", tcp.queue_size);
    const auto delay = field<int>(params, "reconnect_delay", static_cast<int>(tcp.reconnect_delay.count()));
    const auto loss = field<int>(params, "ctrl_loss_tmo", static_cast<int>(tcp.ctrl_loss_tmo.count()));
    const auto fast = field<int>(params, "fast_io_fail_tmo", static_cast<int>(tcp.fast_io_fail_tmo.count()));
    const auto hdr = field<bool>(params, "hdr_digest", tcp.header_digest);
    const auto data = field<bool>(params, "data_digest", tcp.data_digest);
    const auto persistent = field<bool>(params, "persistent", tcp.persistent);
    if (!kato) return std::unexpected(kato.error());
    if (!queues) return std::unexpected(queues.error());
    if (!depth) return std::unexpected(depth.error());
    if (!delay) return std::unexpected(delay.error());
    if (!loss) return std::unexpected(loss.error());
    if (!fast) return std::unexpected(fast.error());
    if (!hdr) return std::unexpected(hdr.error());
    if (!data) return std::unexpected(data.error());
    if (!persistent) return std::unexpected(persistent.error());
    if (params.contains("kato")) {
        tcp.kato = seconds(*kato);
        tcp.kato_set = true;
    }
    tcp.io_queues = *queues;
    tcp.queue_size = *depth;
    tcp.reconnect_delay = seconds(*delay);
    tcp.ctrl_loss_tmo = seconds(*loss);
    tcp.fast_io_fail_tmo = seconds(*fast);
    tcp.header_digest = *hdr;
    tcp.data_digest = *data;
    tcp.persistent = *persistent;
    for (auto [key, secret] : {std::pair{"dhchap_secret", &tcp.dhchap_secret},
                               std::pair{"dhchap_ctrl_secret", &tcp.dhchap_ctrl_secret}}) {
        auto text = field<std::string>(params, key, *secret);
        if (!text) return std::unexpected(text.error());
        if (!text->empty())
            if (auto ok = transport::tcp::check_dhchap_secret(*text); !ok)
                return std::unexpected(invalid_params(fmt::format("{}: {}", key, ok.error())));
        *secret = std::move(*text);
    }
    if (!tcp.dhchap_ctrl_secret.empty() && tcp.dhchap_secret.empty())
        return std::unexpected(invalid_params("dhchap_ctrl_secret needs dhchap_secret"));
    if (tcp.io_queues == 0) return std::unexpected(invalid_params("nr_io_queues must be 1 or more"));
    if (tcp.queue_size < 16 || tcp.queue_size > 1024)
        return std::unexpected(invalid_params("queue_size must be 16..1024"));
    if (tcp.kato.count() == 0) return std::unexpected(invalid_params("kato must be 1 or more"));
    return tcp;
}

/// invalid_params for an NVMe/TCP-only option that `params` asks for
/// (a digest, a DH-HMAC-CHAP secret) when the controller is `trtype`'s.
std::expected<void, Error> no_tcp_only_options(const json& params, const std::string& trtype)
{
    for (const char* key : {"hdr_digest", "data_digest", "dhchap_secret", "dhchap_ctrl_secret"}) {
        auto it = params.find(key);
        if (it == params.end() || it->is_null() || *it == false || *it == "") continue;
        return std::unexpected(invalid_params(
            fmt::format("{}: an NVMe/TCP option, not for trtype \"{}\"", key, trtype)));
    }
    return {};
}

std::expected<emu::ControllerConfig, Error> emulated_config(const json& params)
{
    auto it = params.find("config");
    if (it == params.end()) return emu::ControllerConfig{};
    auto config = emu::parse_controller_config(it->dump());
    if (!config) return std::unexpected(invalid_params("config: " + config.error()));
    if (auto ok = emu::check_controller_config(*config, emu::host_memory_bytes()); !ok)
        return std::unexpected(invalid_params("config: " + ok.error()));
    if (auto ok = emu::check_backing_directories(*config); !ok)
        return std::unexpected(invalid_params("config: " + ok.error()));
    return std::move(*config);
}

std::expected<transport::TransportId, Error> transport_id(const json& params,
                                                          const std::string& trtype)
{
    if (auto trid = params.find("trid"); trid != params.end()) {
        if (!trtype.empty() || params.contains("traddr"))
            return std::unexpected(invalid_params("give either trid or its fields, not both"));
        if (!trid->is_string()) return std::unexpected(invalid_params("trid must be a string"));
        auto parsed = transport::parse_transport_id(trid->get<std::string>());
        if (!parsed) return std::unexpected(invalid_params("trid: " + parsed.error()));
        return std::move(*parsed);
    }
    std::vector<std::pair<std::string_view, std::string>> fields{{"trtype", trtype}};
    for (const char* key : {"traddr", "adrfam", "trsvcid", "subnqn", "hostnqn", "hostid"}) {
        auto value = field<std::string>(params, key, {});
        if (!value) return std::unexpected(value.error());
        fields.emplace_back(key, std::move(*value));
    }
    return transport_id_from(fields);
}

} // namespace

std::expected<AttachCall, Error> parse_attach(const json& params,
                                              const transport::tcp::TcpOptions& defaults)
{
    if (auto ok = only_known_keys(params, {"name", "nodes", "trid", "trtype", "traddr", "trsvcid",
                                           "subnqn", "adrfam", "hostnqn", "hostid", "config",
                                           "kato", "nr_io_queues", "queue_size",
                                           "reconnect_delay", "ctrl_loss_tmo", "fast_io_fail_tmo",
                                           "hdr_digest", "data_digest", "dhchap_secret",
                                           "dhchap_ctrl_secret", "persistent"});
        !ok)
        return std::unexpected(ok.error());
    AttachCall call;
    auto name = field<std::string>(params, "name", {});
    if (!name) return std::unexpected(name.error());
    auto nodes = field<bool>(params, "nodes", true);
    if (!nodes) return std::unexpected(nodes.error());
    auto trtype = field<std::string>(params, "trtype", {});
    if (!trtype) return std::unexpected(trtype.error());
    call.request.name = std::move(*name);
    call.request.nodes = *nodes;
    if (*trtype == "emulated") {
        if (auto ok = no_tcp_only_options(params, *trtype); !ok) return std::unexpected(ok.error());
        auto config = emulated_config(params);
        if (!config) return std::unexpected(config.error());
        call.emulated = std::move(*config);
        if (auto it = params.find("config"); it != params.end())
            call.request.emulated_config = it->dump();
        return call;
    }
    if (params.contains("config"))
        return std::unexpected(invalid_params("config is for trtype \"emulated\" only"));
    auto id = transport_id(params, *trtype);
    if (!id) return std::unexpected(id.error());
    call.id = std::move(*id);
    if (call.id.trtype != "tcp")
        if (auto ok = no_tcp_only_options(params, call.id.trtype); !ok)
            return std::unexpected(ok.error());
    auto tcp = tcp_options(params, defaults);
    if (!tcp) return std::unexpected(tcp.error());
    call.tcp = std::move(*tcp);
    return call;
}

json attach_params(const service::ControllerStatus& c)
{
    json p = json::object();
    if (c.named) p["name"] = c.name;
    if (c.discovery ? !c.discovered_nodes : c.nodes.empty()) p["nodes"] = false;
    if (c.transport == "emulated") {
        p["trtype"] = "emulated";
        if (!c.emulated_config.empty()) p["config"] = json::parse(c.emulated_config);
        return p;
    }
    const auto& id = c.transport_id;
    p["trtype"] = id.trtype;
    p["traddr"] = id.traddr;
    for (const auto& [key, value] : {std::pair{"adrfam", id.adrfam}, {"trsvcid", id.trsvcid},
                                     {"subnqn", id.subnqn}, {"hostnqn", id.hostnqn},
                                     {"hostid", id.hostid}})
        if (!value.empty()) p[key] = value;
    if (id.trtype != "tcp") return p;
    const auto& tcp = c.tcp;
    p["kato"] = std::chrono::duration_cast<std::chrono::seconds>(tcp.kato).count();
    p["nr_io_queues"] = tcp.io_queues;
    p["queue_size"] = tcp.queue_size;
    p["reconnect_delay"] = tcp.reconnect_delay.count();
    p["ctrl_loss_tmo"] = tcp.ctrl_loss_tmo.count();
    p["fast_io_fail_tmo"] = tcp.fast_io_fail_tmo.count();
    p["hdr_digest"] = tcp.header_digest;
    p["data_digest"] = tcp.data_digest;
    if (c.discovery) p["persistent"] = true;
    // A restart must authenticate again: the saved file carries the secrets.
    if (!tcp.dhchap_secret.empty()) p["dhchap_secret"] = tcp.dhchap_secret;
    if (!tcp.dhchap_ctrl_secret.empty()) p["dhchap_ctrl_secret"] = tcp.dhchap_ctrl_secret;
    return p;
}

} // namespace nvmecuse::rpc
