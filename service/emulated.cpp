// The built-in emulated controller (transport/emu) behind CUSE.
#include "emulated.hpp"

#include "nvmecuse/transport/emu/emulated_transport.hpp"

namespace nvmecuse::service {

std::expected<ServedController, std::string>
serve_emulated(const emu::ControllerConfig& config, const ServeOptions& serving, bool nodes)
{
    const TransportMaker make_transport =
        [&config]() -> std::expected<std::unique_ptr<transport::Transport>, std::string> {
        auto transport = emu::make_transport(config);
        if (transport) return std::move(*transport);
        // The error code cannot carry a path: name the files it may be about.
        std::string files;
        for (const auto& ns : config.namespaces)
            if (!ns.backing_file.empty()) files += (files.empty() ? "" : ", ") + ns.backing_file;
        return std::unexpected("emulated controller: " + transport.error().message() +
                               (files.empty() ? "" : " (backing files: " + files + ")"));
    };
    auto served = serve(make_transport, ctrlr::Controller::Options{}, serving, nodes);
    if (!served) return std::unexpected(std::move(served.error().message));
    return std::move(*served);
}

} // namespace nvmecuse::service
