// nvmecused's command line.
#pragma once

#include <sys/types.h>

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "nvmecuse/cuse/permission.hpp"
#include "nvmecuse/service/serve_options.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

#include "logging.hpp"

namespace nvmecused {

/// The CPUs this process may run on (sched_getaffinity), at least 1:
/// what --threads auto starts.
[[nodiscard]] unsigned usable_cpus();

/// Everything the command line says, checked.
struct Arguments {
    bool emulate = false;
    std::string config_path; ///< --config of the emulated controller; empty: defaults
    bool check_config = false; ///< --check-config: check --config, print the verdict, exit
    /// --json: the controllers to attach at start, as save_config wrote
    /// them (SPDK's --json); empty: none.
    std::string json_config;
    bool check_json = false; ///< --check: check --json, print the verdict, exit
    /// --attach, parsed; in command-line order.
    std::vector<nvmecuse::transport::TransportId> attach;
    /// --hostnqn, --hostid, --kato, ... for every attached controller.
    nvmecuse::transport::tcp::TcpOptions tcp;
    std::string directory = "nvmecuse";
    std::string lock_directory = "/run/nvmecuse";
    mode_t mode = 0600;
    unsigned uid = 0;
    unsigned gid = 0;
    /// Which of --dir, --mode, --uid and --gid the command line gave: they
    /// win over the --json file's node_set_options.
    struct NodeOptionsGiven {
        bool directory = false;
        bool mode = false;
        bool uid = false;
        bool gid = false;
    } node_options_given;
    /// --kernel-rules: whose permission model the nodes follow; empty: the
    /// running kernel's (cuse::running_kernel_rules()).
    std::optional<nvmecuse::cuse::KernelRules> kernel_rules;
    bool retry_only = false;
    /// --ioctl-protocol: how the kernel hands ioctls to the nodes.
    using IoctlProtocol = nvmecuse::service::IoctlProtocol;
    IoctlProtocol ioctl_protocol = IoctlProtocol::automatic;
    /// --threads: serving threads (ctrlr::Reactor) shared by every node and
    /// controller; 0: nodes are served as --cuse-threads says.
    unsigned threads = 0;
    unsigned cuse_threads = 0;
    /// --poll-us: how long an idle owner thread polls before sleeping. A
    /// synchronous caller's next ioctl comes ~100-200 us after the last answer;
    /// caught by polling it costs no wake-up of the owner (docs/performance.md).
    unsigned poll_us = 300;
    /// --rpc-socket: the JSON-RPC control socket; empty: none (--no-rpc).
    std::string rpc_socket = "/run/nvmecuse/nvmecused.sock";
    /// True when --rpc-socket was given: a socket another daemon serves is
    /// then an error, not a warning.
    bool rpc_socket_explicit = false;
    std::string log_level = "info";
    LogFormat log_format = LogFormat::automatic;
};

/// What the controller manager needs of the arguments.
[[nodiscard]] nvmecuse::service::ServeOptions serve_options(const Arguments& args);

/// Parses argv. On --help, or on an error (already printed to stderr in
/// CLI11's words or as "nvmecused: ..."), returns the exit status instead.
[[nodiscard]] std::expected<Arguments, int> parse_arguments(int argc, char** argv);

} // namespace nvmecused
