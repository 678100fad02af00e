// nvmecusectl attach and create-emulated: nvme connect's options, and the
// controller_attach params they make; discover: nvme discover's, and the
// discovery_log params they make.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <expected>
#include <optional>
#include <string>

namespace nvmecusectl {

struct AttachOptions {
    std::string trid;
    std::string transport;
    std::string traddr;
    std::string trsvcid;
    std::string nqn;
    std::string hostnqn;
    std::string hostid;
    std::string name;
    std::string config;
    std::string dhchap_secret;
    std::string dhchap_ctrl_secret;
    std::optional<unsigned> kato;
    std::optional<unsigned> nr_io_queues;
    std::optional<unsigned> queue_size;
    std::optional<int> reconnect_delay;
    std::optional<int> ctrl_loss_tmo;
    bool hdr_digest = false;
    bool data_digest = false;
    bool persistent = false; ///< a discovery controller kept and followed
    bool no_nodes = false;
};

/// Adds attach's arguments to `attach`, with nvme connect's names
/// (-t -a -s -n -q -I -k -i -Q -c -l -S -C -g -G -p); `o` must outlive parsing.
void add_attach_options(CLI::App& attach, AttachOptions& o);

/// Adds discover's arguments to `discover`, with nvme discover's names
/// (-t -a -s -q -I -S -C); `o` must outlive parsing.
void add_discover_options(CLI::App& discover, AttachOptions& o);

/// discovery_log's params from discover's options: -a is needed, -t is
/// tcp unless given, -s defaults (8009) in the daemon. Pure.
[[nodiscard]] std::expected<nlohmann::json, std::string> discover_params(const AttachOptions& o);

/// controller_attach's params from the options; an error is a message.
/// The NVMe/TCP-only options (-S -C -g -G) are refused for an emulated
/// controller here; the daemon refuses them for a PCIe one. Pure, but
/// for reading --config.
[[nodiscard]] std::expected<nlohmann::json, std::string> attach_params(const AttachOptions& o);

} // namespace nvmecusectl
