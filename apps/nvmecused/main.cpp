// nvmecused: the nvmecuse daemon. Owns a controller (for now the built-in
// emulated one), claims the lowest free controller index N, and exposes it
// as CUSE character devices /dev/<dir>/nvme<N> and /dev/<dir>/nvme<N>n<M>
// speaking the Linux NVMe ioctl ABI, until SIGINT or SIGTERM.

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/claim.hpp"
#include "nvmecuse/cuse/registry.hpp"
#include "nvmecuse/transport/emu/config_json.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

using namespace nvmecuse;

namespace {

struct Arguments {
    bool emulate = false;
    std::string config_path;
    std::string directory = "nvmecuse";
    std::string lock_directory = "/run/nvmecuse";
    std::string mode = "0600";
    unsigned uid = 0;
    unsigned gid = 0;
    bool retry_only = false;
    unsigned cuse_threads = 0;
    std::string log_level = "info";
};

[[noreturn]] void die(const std::string& message)
{
    std::fprintf(stderr, "nvmecused: %s\n", message.c_str());
    std::exit(1);
}

/// Blocks SIGINT/SIGTERM in every thread (the ones started later inherit
/// the mask) and returns the set to wait on.
sigset_t block_stop_signals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

} // namespace

int main(int argc, char** argv)
{
    Arguments args;
    CLI::App app{"nvmecused: NVMe controllers as CUSE devices speaking the Linux NVMe ioctl ABI"};
    app.add_flag("--emulate", args.emulate, "serve the built-in emulated NVMe controller")
        ->required();
    app.add_option("--config", args.config_path,
                   "JSON configuration of the emulated controller (model, namespaces, ...)")
        ->check(CLI::ExistingFile);
    app.add_option("--dir", args.directory, "device directory under /dev ('spdk' for SPDK paths)")
        ->capture_default_str();
    app.add_option("--lock-dir", args.lock_directory, "root-only directory of the index claims")
        ->capture_default_str();
    app.add_option("--mode", args.mode, "permissions of the device nodes (octal)")
        ->capture_default_str();
    app.add_option("--uid", args.uid, "owner of the device nodes")->capture_default_str();
    app.add_option("--gid", args.gid, "group of the device nodes")->capture_default_str();
    app.add_flag("--retry-only", args.retry_only,
                 "never use process_vm_readv/writev: the CUSE retry protocol only (for "
                 "measurements against the reference design)");
    app.add_option("--cuse-threads", args.cuse_threads,
                   "reader threads per device node; 0 serves every node on the controller's "
                   "owner thread (no hand-off between threads per ioctl)")
        ->capture_default_str();
    app.add_option("--log-level", args.log_level, "trace, debug, info, warn, error")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::from_str(args.log_level));

    mode_t mode = 0;
    try {
        mode = static_cast<mode_t>(std::stoul(args.mode, nullptr, 8));
    } catch (const std::exception&) {
        die(fmt::format("--mode {}: not an octal number", args.mode));
    }

    emu::ControllerConfig config;
    if (!args.config_path.empty()) {
        auto loaded = emu::load_controller_config(args.config_path);
        if (!loaded) die(loaded.error());
        config = std::move(*loaded);
    }

    const sigset_t stop_signals = block_stop_signals();

    auto claim = cuse::IndexClaim::claim_lowest(args.lock_directory);
    if (!claim) die(fmt::format("claiming a controller index in {}: {}", args.lock_directory,
                                claim.error().message()));
    const std::string name = fmt::format("nvme{}", claim->index());

    auto transport = emu::make_transport(config);
    if (!transport) {
        // The error code cannot carry a path: name the files it may be about.
        std::string files;
        for (const auto& ns : config.namespaces)
            if (!ns.backing_file.empty()) files += (files.empty() ? "" : ", ") + ns.backing_file;
        die("emulated controller: " + transport.error().message() +
            (files.empty() ? "" : " (backing files: " + files + ")"));
    }
    ctrlr::Controller::Options options;
    options.name = name;
    auto controller = ctrlr::Controller::start(std::move(*transport), options);
    if (!controller) die(fmt::format("{}: start: {}", name, controller.error().message()));

    cuse::RegistryOptions registry_options;
    registry_options.directory = args.directory;
    registry_options.controller_index = claim->index();
    registry_options.fast_path = !args.retry_only;
    registry_options.serve_on_owner_thread = args.cuse_threads == 0;
    registry_options.reader_threads = std::max(args.cuse_threads, 1u);
    registry_options.permissions.mode = mode;
    registry_options.permissions.uid = args.uid;
    registry_options.permissions.gid = args.gid;
    auto registry = cuse::Registry::create(**controller, registry_options);
    if (!registry) {
        const auto& e = registry.error();
        die(fmt::format("{}: creating CUSE devices: {}{}", name, e.message(),
                        e == std::errc::no_such_file_or_directory || e == std::errc::no_such_device
                            ? " (is the cuse module loaded? modprobe cuse)"
                            : ""));
    }
    for (const auto& devname : (*registry)->devnames())
        spdlog::info("serving /dev/{}", devname);

    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("{}: stopping on signal {}", name, signal);
    (*registry)->stop();
    return 0;
}
