// The methods of nvmecused's control socket, over the controller manager.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nvmecuse/rpc/dispatcher.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

namespace nvmecuse::rpc {

/// nvmecuse's own methods: controller_attach,
/// controller_detach, controller_list, namespace_list, controller_reset,
/// rescan, stats, save_config, emulated_controller_create and _delete,
/// serving_threads, and discovery_log (a discovery controller's log,
/// attaching nothing: nvmecusectl discover). `defaults` are the connection options an attach starts
/// from (the daemon's --hostnqn, --kato, ...). `manager` must outlive
/// the dispatcher's use.
void add_native_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                        const transport::tcp::TcpOptions& defaults);

/// save_config's answer for what `manager` holds now: the nodes' settings
/// and the calls that attach the same controllers again, in SPDK's shape:
/// {"subsystems": [{"subsystem": "nvmecuse", "config": [{"method":
/// "node_set_options", "params": {"directory", "mode": "0600", "uid",
/// "gid"}}, {"method": "controller_attach", "params": {...}}, ...]}]}.
/// It holds the DH-HMAC-CHAP secrets controllers were attached with. A
/// persistent discovery controller is saved with "persistent": true, and
/// the controllers it attached are left out (it attaches them again).
/// Any thread.
[[nodiscard]] nlohmann::json save_config(const service::ControllerManager& manager);

/// What a configuration's node_set_options call declares (at most one;
/// each key optional): the nodes' directory under /dev, their mode (an
/// octal string), their owner and group (a number or a name). The daemon
/// takes them before it makes the controller manager; its command line's
/// --dir, --mode, --uid, --gid win.
struct NodeSettings {
    std::optional<std::string> directory;
    std::optional<mode_t> mode;
    std::optional<unsigned> uid;
    std::optional<unsigned> gid;
    bool operator==(const NodeSettings&) const = default;
};

/// The node settings of `doc`, checked; all empty without node_set_options.
/// Errors name the JSON path ("$.subsystems[0].config[0].params.mode: ...").
[[nodiscard]] std::expected<NodeSettings, std::string> node_settings(const nlohmann::json& doc);

/// A configuration file's JSON. Errors: "<path>: cannot read it", or not JSON.
[[nodiscard]] std::expected<nlohmann::json, std::string> read_config(const std::string& path);

/// Checks a configuration (save_config's shape) without attaching anything:
/// the shape, the node settings, each call's method and parameters (as
/// controller_attach checks them, with `defaults`), names given twice.
/// Returns how many controller_attach calls it holds; an error names the JSON path of what is wrong
/// ("$.subsystems[0].config[2].params: traddr: ...").
[[nodiscard]] std::expected<std::size_t, std::string>
check_config(const nlohmann::json& doc, const transport::tcp::TcpOptions& defaults);

/// The controller_attach calls of a checked configuration, each with its
/// JSON path, in order.
[[nodiscard]] std::vector<std::pair<std::string, nlohmann::json>>
config_attaches(const nlohmann::json& doc);

/// check_config(), then each controller_attach through `dispatcher` in
/// order (the node settings are node_settings()' to apply, before);
/// stops at the first that fails, naming it. Returns how many calls ran.
[[nodiscard]] std::expected<std::size_t, std::string>
replay_config(const nlohmann::json& doc, const Dispatcher& dispatcher,
              const transport::tcp::TcpOptions& defaults);

/// SPDK's methods with SPDK's parameter names and answers, so that
/// `rpc.py -s SOCKET` works unchanged: bdev_nvme_attach_controller
/// (attaches without nodes), bdev_nvme_cuse_register,
/// bdev_nvme_cuse_unregister, bdev_nvme_detach_controller,
/// bdev_nvme_get_controllers, and the discovery service over persistent
/// discovery controllers: bdev_nvme_start_discovery,
/// bdev_nvme_stop_discovery, bdev_nvme_get_discovery_info.
void add_spdk_methods(Dispatcher& dispatcher, service::ControllerManager& manager,
                      const transport::tcp::TcpOptions& defaults);

} // namespace nvmecuse::rpc
