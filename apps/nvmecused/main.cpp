// nvmecused: the nvmecuse daemon. Serves the built-in emulated controller
// (--emulate) and NVMe/TCP and PCIe controllers (--attach), each under the
// lowest free controller index N, as CUSE character devices
// /dev/<dir>/nvme<N> and /dev/<dir>/nvme<N>n<M> speaking the Linux NVMe
// ioctl ABI, until SIGINT or SIGTERM; the controller manager
// (service/) owns them, and the JSON-RPC control socket (rpc/) attaches and
// detaches more while it runs. SIGHUP reads the --json file again and brings
// the controllers it declares in line with it (rpc::ConfigFollower); logs go
// to stderr, which needs no reopening.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "nvmecuse/rpc/config_follower.hpp"
#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/rpc/server.hpp"
#include "nvmecuse/service/attach_retry.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/emu/config_json.hpp"

#include "arguments.hpp"
#include "logging.hpp"
#include "readiness.hpp"
#include "startup.hpp"

using namespace nvmecused;

namespace {

/// Blocks SIGINT, SIGTERM and SIGHUP in every thread (the ones started
/// later inherit the mask) and returns the set to wait on. SIGHUP must not
/// kill the daemon (its default action): a terminal closing, or a
/// `systemctl reload`, is no reason to take devices away from their users.
sigset_t block_signals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

/// --check-config: the verdict on `path`, as serving it would give it.
int check_config(const std::string& path)
{
    auto config = nvmecuse::emu::load_controller_config(path);
    if (!config) {
        std::fprintf(stderr, "nvmecused: %s\n", config.error().c_str());
        return 1;
    }
    std::printf("%s: OK (%zu namespace(s))\n", path.c_str(), config->namespaces.size());
    return 0;
}

/// --check: the verdict on the --json file, as starting from it would give it.
int check_json(const Arguments& args)
{
    auto doc = nvmecuse::rpc::read_config(args.json_config);
    auto count = doc ? nvmecuse::rpc::check_config(*doc, args.tcp)
                     : std::expected<std::size_t, std::string>(std::unexpect, doc.error());
    if (!count) {
        std::fprintf(stderr, "nvmecused: %s: %s\n", args.json_config.c_str(), count.error().c_str());
        return 1;
    }
    std::printf("%s: OK (%zu controller(s) to attach)\n", args.json_config.c_str(), *count);
    return 0;
}

/// SIGHUP: the --json file again (rpc::ConfigFollower::reload()), each
/// change logged; logs go to stderr, which needs no reopening.
void reload(nvmecuse::rpc::ConfigFollower* config)
{
    if (config == nullptr) {
        spdlog::info("SIGHUP: no --json file to read again (logs go to stderr); going on");
        return;
    }
    auto reloaded = config->reload();
    if (!reloaded) {
        spdlog::error("SIGHUP: {}; nothing changed", reloaded.error());
        return;
    }
    for (const auto& name : reloaded->detached)
        spdlog::info("SIGHUP: {} detached: no longer in the configuration", name);
    for (const auto& name : reloaded->attached)
        spdlog::info("SIGHUP: {} attached", name);
    for (const auto& why : reloaded->failed)
        spdlog::error("SIGHUP: {}", why);
    spdlog::info("SIGHUP: configuration read again: {} attached, {} detached, {} kept, {} failed",
                 reloaded->attached.size(), reloaded->detached.size(), reloaded->kept,
                 reloaded->failed.size());
}

/// The control socket, when there is to be one. A default socket that
/// another daemon serves is a warning (several daemons may run side by
/// side, each with its own --lock-dir claims); a --rpc-socket one is an
/// error.
std::expected<std::unique_ptr<nvmecuse::rpc::Server>, std::string>
serve_control_socket(const Arguments& args, const nvmecuse::rpc::Dispatcher& dispatcher)
{
    if (args.rpc_socket.empty()) return nullptr;
    nvmecuse::rpc::ServerOptions options;
    options.path = args.rpc_socket;
    auto server = nvmecuse::rpc::Server::start(dispatcher, std::move(options));
    if (!server) {
        if (args.rpc_socket_explicit) return std::unexpected(server.error());
        spdlog::warn("no control socket: {}", server.error());
        return nullptr;
    }
    spdlog::info("control socket: {}", args.rpc_socket);
    return std::move(*server);
}

} // namespace

int main(int argc, char** argv)
{
    auto args = parse_arguments(argc, argv);
    if (!args) return args.error();
    if (args->check_config) return check_config(args->config_path);
    if (args->check_json) return check_json(*args);
    configure_logging(args->log_level, args->log_format);
    if (auto taken = take_node_settings(*args); !taken) {
        report_error(taken.error());
        return 1;
    }

    const sigset_t signals = block_signals();
    nvmecuse::service::ControllerManager manager(serve_options(*args));
    nvmecuse::service::AttachRetry retry;
    if (auto attached = attach_from_command_line(*args, manager, retry); !attached) {
        report_error(attached.error());
        return 1; // the manager detaches what came up
    }
    retry.start();
    nvmecuse::rpc::Dispatcher dispatcher;
    nvmecuse::rpc::add_native_methods(dispatcher, manager, args->tcp);
    nvmecuse::rpc::add_spdk_methods(dispatcher, manager, args->tcp);
    // --json: what the file declares, before the control socket opens.
    std::unique_ptr<nvmecuse::rpc::ConfigFollower> config;
    if (!args->json_config.empty()) {
        config = std::make_unique<nvmecuse::rpc::ConfigFollower>(args->json_config, dispatcher,
                                                                 manager, args->tcp);
        auto loaded = config->load();
        if (!loaded) {
            report_error(loaded.error());
            return 1; // the manager detaches what came up
        }
        spdlog::info("{}: {} controller_attach call(s) done", args->json_config, *loaded);
    }
    auto control = serve_control_socket(*args, dispatcher);
    if (!control) {
        report_error(control.error());
        return 1;
    }

    const std::string socket_path = *control ? (*control)->path() : std::string();
    notify_ready(serving_status(manager, socket_path));
    // From now on each attach and detach updates the STATUS= line.
    manager.on_change([&manager, socket_path] { notify_status(serving_status(manager, socket_path)); });

    int signal = 0;
    while (sigwait(&signals, &signal) == 0 && signal == SIGHUP)
        reload(config.get());
    spdlog::info("stopping on {}", signal == SIGINT ? "SIGINT" : "SIGTERM");
    notify_stopping();
    manager.on_change({});
    if (*control) (*control)->stop(); // no request attaches any more
    retry.stop();                     // nor any attempt
    manager.detach_all();
    return 0;
}
