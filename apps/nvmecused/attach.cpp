// --attach: controllers through the transport factory (transport::connect()), and
// discovery controllers expanded through ctrlr::read_discovery_log().
#include "attach.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nvmecuse/ctrlr/discovery.hpp"
#include "nvmecuse/transport/connect.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "discovery_targets.hpp"

namespace nvmecused {

using namespace nvmecuse;
using transport::TransportId;

namespace {

/// The options of one controller: the daemon-wide ones, with the transport
/// ID's own hostnqn/hostid (validated by parse_transport_id) winning.
transport::tcp::TcpOptions options_for(const TransportId& id, transport::tcp::TcpOptions options)
{
    if (!id.hostnqn.empty()) options.hostnqn = id.hostnqn;
    if (!id.hostid.empty()) {
        if (auto hostid = transport::parse_host_id(id.hostid)) options.hostid = *hostid;
    }
    return options;
}

std::expected<ServedController, std::string> serve_one(const TransportId& id, const Arguments& args)
{
    const auto options = options_for(id, args.tcp);
    const TransportMaker make_transport =
        [&]() -> std::expected<std::unique_ptr<transport::Transport>, std::string> {
        auto transport = transport::connect(id, transport::ConnectOptions{.tcp = options});
        if (!transport)
            return std::unexpected(
                fmt::format("{}: connecting: {}", id.describe(), transport.error().message));
        return std::move(*transport);
    };
    ctrlr::Controller::Options controller_options;
    controller_options.io_queues = options.io_queues;
    controller_options.io_queue_depth = options.queue_size;
    // Recovery after a lost connection is the core's (negative: off / forever).
    controller_options.reconnect_delay = options.reconnect_delay;
    controller_options.ctrl_loss_tmo = options.ctrl_loss_tmo;
    controller_options.fast_io_fail_tmo = options.fast_io_fail_tmo;
    auto served = serve(make_transport, controller_options, args);
    if (served) spdlog::info("{}: attached {}", served->name(), id.describe());
    return served;
}

/// The NVM subsystems the discovery controller `id` lists, each with the
/// host identity of `id`, duplicates dropped, at most
/// max_discovered_controllers of them (the rest dropped with a warning).
std::expected<std::vector<TransportId>, std::string> discover(const TransportId& id,
                                                              const Arguments& args)
{
    // A short-lived association driven by the core like any controller:
    // no Keep Alive, no I/O queues.
    TransportId discovery = id;
    if (discovery.subnqn.empty()) discovery.subnqn = std::string(transport::discovery_nqn);
    auto options = options_for(id, args.tcp);
    options.kato = std::chrono::milliseconds(0);
    options.io_queues = 0;
    auto transport = transport::connect(discovery, transport::ConnectOptions{.tcp = options});
    if (!transport)
        return std::unexpected(
            fmt::format("{}: discovery: {}", id.describe(), transport.error().message));
    ctrlr::Controller::Options controller_options;
    controller_options.name = "discovery";
    controller_options.io_queues = 0;
    controller_options.ctrl_loss_tmo = std::chrono::milliseconds(0);
    auto ctrl = ctrlr::Controller::start(std::move(*transport), controller_options);
    if (!ctrl)
        return std::unexpected(
            fmt::format("{}: discovery: {}", id.describe(), ctrl.error().message()));
    auto records = ctrlr::read_discovery_log(**ctrl);
    if (!records)
        return std::unexpected(
            fmt::format("{}: discovery: {}", id.describe(), records.error().message()));
    auto found = discovery_targets(id, *records);
    spdlog::info("{}: {} NVM subsystem port(s) listed", id.describe(),
                 found.targets.size() + found.dropped);
    if (found.dropped != 0)
        spdlog::warn("{}: attaching the first {} NVM subsystem ports only, {} dropped (at most "
                     "{} per discovery log; --attach the others one by one)",
                     id.describe(), found.targets.size(), found.dropped,
                     max_discovered_controllers);
    return std::move(found.targets);
}

} // namespace

std::expected<void, std::string> serve_attached(const Arguments& args,
                                                std::vector<ServedController>& served)
{
    for (const TransportId& id : args.attach) {
        if (!id.is_discovery()) {
            auto controller = serve_one(id, args);
            if (!controller) return std::unexpected(controller.error());
            served.push_back(std::move(*controller));
            continue;
        }
        auto targets = discover(id, args);
        if (!targets) return std::unexpected(targets.error());
        std::size_t attached = 0;
        std::string last_error = "it lists no NVM subsystem";
        for (const TransportId& target : *targets) {
            auto controller = serve_one(target, args);
            if (!controller) {
                spdlog::warn("{}", controller.error());
                last_error = controller.error();
                continue;
            }
            served.push_back(std::move(*controller));
            ++attached;
        }
        if (attached == 0)
            return std::unexpected(
                fmt::format("{}: no controller attached: {}", id.describe(), last_error));
    }
    return {};
}

} // namespace nvmecused
