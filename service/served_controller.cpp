// Bringing one controller up as CUSE nodes: index claim, controller start,
// registry.
#include "served_controller.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "nvmecuse/cuse/caller_memory.hpp"
#include "nvmecuse/service/serving_threads.hpp"

namespace nvmecuse::service {

namespace {

/// Whether a caller that is not root may open the nodes: its memory is then
/// left to the kernel's copy (the retry protocol; cuse/device.cpp). Any
/// group permission counts (group root may have other members).
bool non_root_may_open(const cuse::NodePermissions& p)
{
    return (p.mode & 0077) != 0 || ((p.mode & 0700) != 0 && p.uid != 0);
}

/// Restricted ioctls where the command line allows them and, for auto,
/// where the fast path can never need the retry protocol: process_vm_*
/// reaches every caller, and only root may open the nodes.
bool restricted_ioctls(const ServeOptions& serving)
{
    if (serving.retry_only || serving.ioctl_protocol == IoctlProtocol::unrestricted) return false;
    if (serving.ioctl_protocol == IoctlProtocol::restricted) {
        if (non_root_may_open(serving.permissions))
            spdlog::warn("--ioctl-protocol restricted with nodes that users other than root may "
                         "open: the daemon then copies their buffers itself, and a buffer whose "
                         "page faults such a caller controls can stall the threads that serve "
                         "the node");
        return true;
    }
    if (non_root_may_open(serving.permissions)) {
        static std::once_flag logged;
        std::call_once(logged, [] {
            spdlog::info("ioctl protocol: unrestricted (users other than root may open the nodes: "
                         "the kernel copies their buffers, in their own process)");
        });
        return false;
    }
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
                                                  const ServeOptions& serving, bool nodes)
{
    auto claim = cuse::IndexClaim::claim_lowest(serving.lock_directory);
    if (!claim)
        return std::unexpected(ServeError{fmt::format("claiming a controller index in {}: {}",
                                                      serving.lock_directory,
                                                      claim.error().message()),
                                          {}});
    const std::string name = fmt::format("nvme{}", claim->index());

    auto transport = make_transport();
    if (!transport) return std::unexpected(ServeError{transport.error(), {}});

    auto reactors = serving_threads(serving.threads, std::chrono::microseconds(serving.poll_us));
    if (!reactors) return std::unexpected(ServeError{reactors.error(), {}});
    options.name = name;
    options.spin_before_sleep = std::chrono::microseconds(serving.poll_us);
    options.reactors = *reactors;
    auto controller = ctrlr::Controller::start(std::move(*transport), options);
    if (!controller)
        return std::unexpected(ServeError{
            fmt::format("{}: start: {}", name, controller.error().message()), controller.error()});
    ServedController served{std::move(*claim), std::move(*controller), nullptr};
    if (!nodes) return served;
    auto registry = create_nodes(served, serving);
    if (!registry) return std::unexpected(ServeError{std::move(registry.error()), {}});
    served.registry = std::move(*registry);
    return served;
}

std::expected<std::unique_ptr<cuse::Registry>, std::string>
create_nodes(const ServedController& served, const ServeOptions& serving)
{
    return create_nodes(*served.controller, served.claim, serving);
}

std::expected<std::unique_ptr<cuse::Registry>, std::string>
create_nodes(ctrlr::Controller& controller, const cuse::IndexClaim& claim,
             const ServeOptions& serving)
{
    const std::string name = fmt::format("nvme{}", claim.index());
    cuse::RegistryOptions registry_options;
    registry_options.directory = serving.directory;
    registry_options.controller_index = claim.index();
    registry_options.fast_path = !serving.retry_only;
    registry_options.restricted_ioctls = restricted_ioctls(serving);
    registry_options.serve_on_owner_thread = serving.cuse_threads == 0;
    registry_options.reader_threads = std::max(serving.cuse_threads, 1u);
    // Where the controller has no lanes (NVMe/TCP), its nodes are served on
    // its owner thread: a serving thread would only hand every command over.
    if (controller.lanes() > 0) {
        auto reactors =
            serving_threads(serving.threads, std::chrono::microseconds(serving.poll_us));
        if (!reactors) return std::unexpected(reactors.error());
        registry_options.reactors = *reactors;
    }
    registry_options.permissions = serving.permissions;
    registry_options.kernel_rules = serving.kernel_rules.value_or(cuse::running_kernel_rules());
    registry_options.open_channel = serving.open_channel;
    registry_options.credentials = serving.credentials;
    auto registry = cuse::Registry::create(controller, registry_options);
    if (!registry) {
        const auto& e = registry.error();
        return std::unexpected(
            fmt::format("{}: creating CUSE devices: {}{}", name, e.message(),
                        e == std::errc::no_such_file_or_directory || e == std::errc::no_such_device
                            ? " (is the cuse module loaded? modprobe cuse)"
                            : ""));
    }
    for (const auto& devname : (*registry)->devnames())
        spdlog::info("serving /dev/{} (passthrough permissions of Linux {})", devname,
                     cuse::to_string(registry_options.kernel_rules));
    return std::move(*registry);
}

} // namespace nvmecuse::service
