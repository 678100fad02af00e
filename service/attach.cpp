// Attaching controllers through the transport factory (transport::connect()),
// and discovery controllers expanded through ctrlr::read_discovery_log().
#include "attach.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nvmecuse/ctrlr/discovery.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/spec/discovery.hpp"
#include "nvmecuse/transport/connect.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "discovery_referrals.hpp"
#include "discovery_targets.hpp"

namespace nvmecuse::service {

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

/// Whether Controller::start() failed because the target did not answer
/// (nothing listens, no route, no answer in time), which may change. A
/// Fabrics Connect the target refused without DNR is connection_refused
/// too, and retried; with DNR (a wrong NQN) it is io_error, and final.
bool is_unreachable(std::error_code e)
{
    if (&e.category() == &transport::tcp::resolver_category()) return true;
    return e == std::errc::connection_refused || e == std::errc::timed_out ||
           e == std::errc::host_unreachable || e == std::errc::network_unreachable ||
           e == std::errc::network_down || e == std::errc::connection_reset ||
           e == std::errc::connection_aborted;
}

std::expected<ServedController, AttachError> serve_one(const TransportId& id,
                                                       const transport::tcp::TcpOptions& tcp,
                                                       const ServeOptions& serving, bool nodes)
{
    const auto options = options_for(id, tcp);
    bool unreachable = false;
    const TransportMaker make_transport =
        [&]() -> std::expected<std::unique_ptr<transport::Transport>, std::string> {
        auto transport = transport::connect(id, transport::ConnectOptions{.tcp = options});
        if (!transport) {
            unreachable = is_unreachable(transport.error().code);
            return std::unexpected(
                fmt::format("{}: connecting: {}", id.describe(), transport.error().message));
        }
        return std::move(*transport);
    };
    ctrlr::Controller::Options controller_options;
    controller_options.io_queues = options.io_queues;
    controller_options.io_queue_depth = options.queue_size;
    // Recovery after a lost connection is the core's (negative: off / forever).
    controller_options.reconnect_delay = options.reconnect_delay;
    controller_options.ctrl_loss_tmo = options.ctrl_loss_tmo;
    controller_options.fast_io_fail_tmo = options.fast_io_fail_tmo;
    auto served = serve(make_transport, controller_options, serving, nodes);
    if (!served)
        return std::unexpected(AttachError{
            served.error().message, unreachable || is_unreachable(served.error().start_error)});
    return std::move(*served);
}

} // namespace

std::expected<std::unique_ptr<ctrlr::Controller>, AttachError>
connect_discovery(const TransportId& id, const transport::tcp::TcpOptions& tcp)
{
    TransportId discovery = id;
    if (discovery.subnqn.empty()) discovery.subnqn = std::string(transport::discovery_nqn);
    auto options = options_for(id, tcp);
    options.io_queues = 0;
    ctrlr::Controller::Options controller_options;
    controller_options.name = "discovery";
    controller_options.io_queues = 0;
    if (tcp.persistent) {
        // Kept like any fabrics controller: Keep Alive every kato/2, and a
        // lost connection reconnected every reconnect_delay until
        // ctrl_loss_tmo.
        controller_options.reconnect_delay = options.reconnect_delay;
        controller_options.ctrl_loss_tmo = options.ctrl_loss_tmo;
        if (!tcp.kato_set) options.kato = persistent_discovery_kato;
    } else {
        // A short-lived association driven by the core like any
        // controller: no Keep Alive, no recovery.
        options.kato = std::chrono::milliseconds(0);
        controller_options.ctrl_loss_tmo = std::chrono::milliseconds(0);
    }
    auto transport = transport::connect(discovery, transport::ConnectOptions{.tcp = options});
    if (!transport)
        return std::unexpected(
            AttachError{fmt::format("{}: discovery: {}", id.describe(), transport.error().message),
                        is_unreachable(transport.error().code)});
    auto ctrl = ctrlr::Controller::start(std::move(*transport), controller_options);
    if (!ctrl)
        return std::unexpected(
            AttachError{fmt::format("{}: discovery: {}", id.describe(), ctrl.error().message()),
                        is_unreachable(ctrl.error())});
    return std::move(*ctrl);
}

std::expected<std::vector<TransportId>, std::string>
listed_targets(ctrlr::Controller& discovery, const TransportId& id, std::size_t max,
               std::vector<TransportId>* referrals)
{
    auto log = ctrlr::read_discovery_log(discovery);
    if (!log)
        return std::unexpected(
            fmt::format("{}: discovery: {}", id.describe(), log.error().message()));
    const auto& records = log->records;
    if (referrals != nullptr) {
        referrals->clear();
        for (const auto& record : records)
            if (record.subtype == static_cast<std::uint8_t>(nvme::DiscoverySubsystemType::referral))
                referrals->push_back(record.id);
    }
    auto found = discovery_targets(id, records, max);
    spdlog::info("{}: {} NVM subsystem port(s) listed", id.describe(),
                 found.targets.size() + found.dropped);
    if (found.dropped != 0)
        spdlog::warn("{}: attaching the first {} NVM subsystem ports only, {} dropped (at most "
                     "{} per discovery log; attach the others one by one)",
                     id.describe(), found.targets.size(), found.dropped, max);
    return std::move(found.targets);
}

namespace {

/// `targets` (the log of `id`), then the NVM subsystem ports the
/// discovery controllers it refers to list, as connect-all follows them:
/// each connected once (short-lived) and let go before this returns.
std::vector<TransportId> with_referred(const TransportId& id, const transport::tcp::TcpOptions& tcp,
                                       std::vector<TransportId> targets,
                                       const std::vector<TransportId>& referrals)
{
    auto once = tcp;
    once.persistent = false;
    ReferralTree tree(id,
                      [&once](const TransportId& referral)
                          -> std::expected<std::unique_ptr<ctrlr::Controller>, std::string> {
                          auto connected = connect_discovery(referral, once);
                          if (!connected)
                              return std::unexpected(std::move(connected.error().message));
                          return std::move(*connected);
                      },
                      {});
    auto all = merged_targets(std::move(targets), tree.follow(referrals));
    if (all.dropped != 0)
        spdlog::warn("{}: {} NVM subsystem port(s) its referrals list dropped (at most {} "
                     "through one discovery controller)",
                     id.describe(), all.dropped, max_discovered_controllers);
    return std::move(all.targets);
}

} // namespace

std::expected<void, AttachError> attach_target(const TransportId& id,
                                               const transport::tcp::TcpOptions& tcp,
                                               const ServeOptions& serving, bool nodes,
                                               const ServedSink& sink)
{
    if (!id.is_discovery()) {
        auto controller = serve_one(id, tcp, serving, nodes);
        if (!controller) return std::unexpected(controller.error());
        sink(std::move(*controller), id);
        return {};
    }
    auto discovery = connect_discovery(id, tcp);
    if (!discovery) return std::unexpected(discovery.error());
    std::vector<TransportId> referrals;
    auto targets = listed_targets(**discovery, id, max_discovered_controllers, &referrals);
    discovery->reset(); // the association ends before the subsystems are connected
    if (!targets) return std::unexpected(AttachError{std::move(targets.error()), false});
    if (!referrals.empty()) *targets = with_referred(id, tcp, std::move(*targets), referrals);
    std::size_t attached = 0;
    AttachError last{"it lists no NVM subsystem", false};
    bool all_unreachable = !targets->empty();
    for (const TransportId& target : *targets) {
        auto controller = serve_one(target, tcp, serving, nodes);
        if (!controller) {
            spdlog::warn("{}", controller.error().message);
            last = controller.error();
            all_unreachable = all_unreachable && last.unreachable;
            continue;
        }
        sink(std::move(*controller), target);
        ++attached;
    }
    if (attached == 0)
        return std::unexpected(
            AttachError{fmt::format("{}: no controller attached: {}", id.describe(), last.message),
                        all_unreachable});
    return {};
}

} // namespace nvmecuse::service
