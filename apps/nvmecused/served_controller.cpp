// Bringing one controller up as CUSE nodes: index claim, controller start,
// registry.
#include "served_controller.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "nvmecuse/cuse/caller_memory.hpp"

namespace nvmecused {

using namespace nvmecuse;

namespace {

/// Restricted ioctls where the command line allows them and, for auto,
/// where the fast path can never need the retry protocol. Decided once.
bool restricted_ioctls(const Arguments& args)
{
    using Protocol = Arguments::IoctlProtocol;
    if (args.retry_only || args.ioctl_protocol == Protocol::unrestricted) return false;
    if (args.ioctl_protocol == Protocol::restricted) return true;
    static const bool reachable = [] {
        const bool r = cuse::process_vm_reaches_every_caller();
        spdlog::info("ioctl protocol: {}", r ? "restricted (process_vm_readv reaches every caller)"
                                             : "unrestricted (process_vm_readv may be refused: the "
                                               "retry protocol stays as the fallback)");
        return r;
    }();
    return reachable;
}

} // namespace

std::expected<ServedController, ServeError> serve(const TransportMaker& make_transport,
                                                  ctrlr::Controller::Options options,
                                                  const Arguments& args)
{
    auto claim = cuse::IndexClaim::claim_lowest(args.lock_directory);
    if (!claim)
        return std::unexpected(ServeError{fmt::format("claiming a controller index in {}: {}",
                                                      args.lock_directory, claim.error().message()),
                                          {}});
    const std::string name = fmt::format("nvme{}", claim->index());

    auto transport = make_transport();
    if (!transport) return std::unexpected(ServeError{transport.error(), {}});

    auto reactors = serving_threads(args.threads);
    if (!reactors) return std::unexpected(ServeError{reactors.error(), {}});
    options.name = name;
    options.spin_before_sleep = std::chrono::microseconds(args.poll_us);
    options.reactors = *reactors;
    auto controller = ctrlr::Controller::start(std::move(*transport), options);
    if (!controller)
        return std::unexpected(ServeError{
            fmt::format("{}: start: {}", name, controller.error().message()), controller.error()});

    cuse::RegistryOptions registry_options;
    registry_options.directory = args.directory;
    registry_options.controller_index = claim->index();
    registry_options.fast_path = !args.retry_only;
    registry_options.restricted_ioctls = restricted_ioctls(args);
    registry_options.serve_on_owner_thread = args.cuse_threads == 0;
    registry_options.reader_threads = std::max(args.cuse_threads, 1u);
    // Where the controller has no lanes (NVMe/TCP), its nodes are served on
    // its owner thread: a serving thread would only hand every command over.
    if ((*controller)->lanes() > 0) registry_options.reactors = *reactors;
    registry_options.permissions.mode = args.mode;
    registry_options.permissions.uid = args.uid;
    registry_options.permissions.gid = args.gid;
    registry_options.kernel_rules = args.kernel_rules.value_or(cuse::running_kernel_rules());
    auto registry = cuse::Registry::create(**controller, registry_options);
    if (!registry) {
        const auto& e = registry.error();
        return std::unexpected(ServeError{
            fmt::format("{}: creating CUSE devices: {}{}", name, e.message(),
                        e == std::errc::no_such_file_or_directory || e == std::errc::no_such_device
                            ? " (is the cuse module loaded? modprobe cuse)"
                            : ""),
            {}});
    }
    for (const auto& devname : (*registry)->devnames())
        spdlog::info("serving /dev/{} (passthrough permissions of Linux {})", devname,
                     cuse::to_string(registry_options.kernel_rules));
    return ServedController{std::move(*claim), std::move(*controller), std::move(*registry)};
}

} // namespace nvmecused
