// --emulate and --attach at start (startup.hpp).
#include "startup.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "nvmecuse/rpc/methods.hpp"
#include "nvmecuse/transport/emu/config_json.hpp"

namespace nvmecused {

using namespace nvmecuse;
using transport::TransportId;

namespace {

std::expected<void, std::string> attach_emulated(const Arguments& args,
                                                 service::ControllerManager& manager)
{
    emu::ControllerConfig config;
    if (!args.config_path.empty()) {
        auto loaded = emu::load_controller_config(args.config_path);
        if (!loaded) return std::unexpected(loaded.error());
        config = std::move(*loaded);
    }
    auto attached = manager.attach_emulated(config);
    if (!attached) return std::unexpected(attached.error().message);
    return {};
}

} // namespace

std::expected<void, std::string> attach_from_command_line(const Arguments& args,
                                                          service::ControllerManager& manager,
                                                          service::AttachRetry& retry)
{
    if (args.emulate) {
        if (auto emulated = attach_emulated(args, manager); !emulated) return emulated;
    }
    const auto attempts =
        service::reconnect_attempts(args.tcp.reconnect_delay, args.tcp.ctrl_loss_tmo);
    for (const TransportId& id : args.attach) {
        auto attached = manager.attach(id, args.tcp);
        if (attached) continue;
        // Only an NVMe/TCP target that did not answer is worth waiting for:
        // a PCIe function or a refused configuration will not change by itself.
        if (!attached.error().unreachable || id.trtype != "tcp" || attempts == 0u)
            return std::unexpected(attached.error().message);
        spdlog::warn("{}; retrying every {} s, {}", attached.error().message,
                     args.tcp.reconnect_delay.count(),
                     attempts ? fmt::format("at most {} times (--ctrl-loss-tmo {} s)", *attempts,
                                            args.tcp.ctrl_loss_tmo.count())
                              : std::string("until it answers (--ctrl-loss-tmo < 0)"));
        retry.add(
            id.describe(),
            [id, &args, &manager] {
                auto again = manager.attach(id, args.tcp);
                if (again || !again.error().unreachable) {
                    if (!again) spdlog::error("{}", again.error().message);
                    return true;
                }
                spdlog::warn("{}", again.error().message);
                return false;
            },
            args.tcp.reconnect_delay, attempts);
    }
    return {};
}

std::expected<void, std::string> take_node_settings(Arguments& args)
{
    if (args.json_config.empty()) return {};
    auto doc = rpc::read_config(args.json_config);
    if (!doc) return std::unexpected(doc.error());
    auto settings = rpc::node_settings(*doc);
    if (!settings) return std::unexpected(fmt::format("{}: {}", args.json_config, settings.error()));
    const auto& given = args.node_options_given;
    if (settings->directory && !given.directory) args.directory = *settings->directory;
    if (settings->mode && !given.mode) args.mode = *settings->mode;
    if (settings->uid && !given.uid) args.uid = *settings->uid;
    if (settings->gid && !given.gid) args.gid = *settings->gid;
    return {};
}

} // namespace nvmecused
