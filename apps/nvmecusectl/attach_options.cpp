// nvmecusectl attach's options (attach_options.hpp).
#include "attach_options.hpp"

#include <fstream>

namespace nvmecusectl {

using nlohmann::json;

void add_attach_options(CLI::App& attach, AttachOptions& o)
{
    attach.add_option("trid", o.trid,
                      "transport ID: 'trtype:tcp traddr:ADDR trsvcid:PORT subnqn:NQN', "
                      "'trtype:pcie traddr:BDF', or 'emulated'");
    attach.add_option("-t,--transport", o.transport, "tcp, pcie or emulated");
    attach.add_option("-a,--traddr", o.traddr, "address");
    attach.add_option("-s,--trsvcid", o.trsvcid, "port");
    attach.add_option("-n,--nqn", o.nqn, "subsystem NQN (none: every one discovery lists)");
    attach.add_option("-q,--hostnqn", o.hostnqn, "host NQN");
    attach.add_option("-I,--hostid", o.hostid, "host identifier (UUID)");
    attach.add_option("-k,--keep-alive-tmo", o.kato, "Keep Alive Timeout in seconds");
    attach.add_option("-i,--nr-io-queues", o.nr_io_queues, "I/O queues");
    attach.add_option("-Q,--queue-size", o.queue_size, "entries per I/O queue");
    attach.add_option("-c,--reconnect-delay", o.reconnect_delay, "seconds between reconnects");
    attach.add_option("-l,--ctrl-loss-tmo", o.ctrl_loss_tmo, "seconds before giving up");
    attach.add_option("-S,--dhchap-secret", o.dhchap_secret,
                      "NVMe/TCP: the host's DH-HMAC-CHAP secret (DHHC-1:..., as nvme "
                      "gen-dhchap-key writes it)");
    attach.add_option("-C,--dhchap-ctrl-secret", o.dhchap_ctrl_secret,
                      "NVMe/TCP: the controller's secret, for bidirectional authentication "
                      "(needs -S)");
    attach.add_flag("-g,--hdr-digest", o.hdr_digest, "NVMe/TCP: ask for the header digest (CRC32C)");
    attach.add_flag("-G,--data-digest", o.data_digest, "NVMe/TCP: ask for the data digest (CRC32C)");
    attach.add_flag("-p,--persistent", o.persistent,
                    "a discovery controller stays connected and its log is followed "
                    "(nvme connect-all --persistent)");
    attach.add_option("--name", o.name, "a name of yours (default: nvme<N>)");
    attach.add_option("--config", o.config, "-t emulated: the controller's JSON configuration")
        ->check(CLI::ExistingFile);
    attach.add_flag("--no-nodes", o.no_nodes, "no CUSE nodes (as SPDK's attach)");
}

void add_discover_options(CLI::App& discover, AttachOptions& o)
{
    discover.add_option("-t,--transport", o.transport, "tcp");
    discover.add_option("-a,--traddr", o.traddr, "the discovery controller's address")->required();
    discover.add_option("-s,--trsvcid", o.trsvcid, "its port (default: 8009)");
    discover.add_option("-q,--hostnqn", o.hostnqn, "host NQN");
    discover.add_option("-I,--hostid", o.hostid, "host identifier (UUID)");
    discover.add_option("-S,--dhchap-secret", o.dhchap_secret,
                        "the host's DH-HMAC-CHAP secret, when the discovery controller asks");
    discover.add_option("-C,--dhchap-ctrl-secret", o.dhchap_ctrl_secret,
                        "the controller's secret, for bidirectional authentication (needs -S)");
}

std::expected<json, std::string> discover_params(const AttachOptions& o)
{
    if (o.traddr.empty()) return std::unexpected("-a ADDRESS is needed");
    json params{{"trtype", o.transport.empty() ? "tcp" : o.transport}, {"traddr", o.traddr}};
    for (const auto& [key, value] :
         {std::pair{"trsvcid", &o.trsvcid}, {"hostnqn", &o.hostnqn}, {"hostid", &o.hostid},
          {"dhchap_secret", &o.dhchap_secret}, {"dhchap_ctrl_secret", &o.dhchap_ctrl_secret}})
        if (!value->empty()) params[key] = *value;
    return params;
}

namespace {

/// The first NVMe/TCP-only option `o` sets, for refusing it elsewhere.
const char* tcp_only_option(const AttachOptions& o)
{
    if (!o.dhchap_secret.empty()) return "-S/--dhchap-secret";
    if (!o.dhchap_ctrl_secret.empty()) return "-C/--dhchap-ctrl-secret";
    if (o.hdr_digest) return "-g/--hdr-digest";
    if (o.data_digest) return "-G/--data-digest";
    if (o.persistent) return "-p/--persistent";
    return nullptr;
}

std::expected<json, std::string> emulated_params(const AttachOptions& o, json params)
{
    if (const char* option = tcp_only_option(o))
        return std::unexpected(std::string(option) + " is an NVMe/TCP option, not for an emulated controller");
    params["trtype"] = "emulated";
    if (o.config.empty()) return params;
    std::ifstream in(o.config);
    if (!in) return std::unexpected(o.config + ": cannot be read");
    try {
        params["config"] = json::parse(in);
    } catch (const json::exception& e) {
        return std::unexpected(o.config + ": " + e.what());
    }
    return params;
}

} // namespace

std::expected<json, std::string> attach_params(const AttachOptions& o)
{
    json params = json::object();
    if (!o.name.empty()) params["name"] = o.name;
    if (o.no_nodes) params["nodes"] = false;
    if (o.transport == "emulated" || o.trid == "emulated") return emulated_params(o, std::move(params));
    if (!o.trid.empty()) {
        if (!o.traddr.empty()) return std::unexpected("give a transport ID or -a, not both");
        params["trid"] = o.trid;
    } else {
        if (o.traddr.empty()) return std::unexpected("a transport ID, -t emulated, or -a ADDRESS is needed");
        params["trtype"] = o.transport.empty() ? "tcp" : o.transport;
        params["traddr"] = o.traddr;
        if (!o.trsvcid.empty()) params["trsvcid"] = o.trsvcid;
        if (!o.nqn.empty()) params["subnqn"] = o.nqn;
        if (!o.hostnqn.empty()) params["hostnqn"] = o.hostnqn;
        if (!o.hostid.empty()) params["hostid"] = o.hostid;
    }
    if (o.kato) params["kato"] = *o.kato;
    if (o.nr_io_queues) params["nr_io_queues"] = *o.nr_io_queues;
    if (o.queue_size) params["queue_size"] = *o.queue_size;
    if (o.reconnect_delay) params["reconnect_delay"] = *o.reconnect_delay;
    if (o.ctrl_loss_tmo) params["ctrl_loss_tmo"] = *o.ctrl_loss_tmo;
    if (!o.dhchap_secret.empty()) params["dhchap_secret"] = o.dhchap_secret;
    if (!o.dhchap_ctrl_secret.empty()) params["dhchap_ctrl_secret"] = o.dhchap_ctrl_secret;
    if (o.hdr_digest) params["hdr_digest"] = true;
    if (o.data_digest) params["data_digest"] = true;
    if (o.persistent) params["persistent"] = true;
    return params;
}

} // namespace nvmecusectl
