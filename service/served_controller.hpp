// One controller the manager serves: its index, the controller and its nodes.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/claim.hpp"
#include "nvmecuse/cuse/registry.hpp"
#include "nvmecuse/transport/transport.hpp"

#include "nvmecuse/service/serve_options.hpp"

namespace nvmecuse::service {

/// Members in the order they come up; destruction takes them down in
/// reverse: the nodes first, then the controller, then the index. Without
/// nodes (SPDK's bdev_nvme_attach_controller) `registry` is null.
struct ServedController {
    cuse::IndexClaim claim;
    std::unique_ptr<ctrlr::Controller> controller;
    std::unique_ptr<cuse::Registry> registry;

    [[nodiscard]] std::string name() const { return "nvme" + std::to_string(claim.index()); }
};

/// Makes the transport of a controller after its index is claimed. Errors
/// are messages naming what failed ("tcp 10.0.0.1:4420 nqn...: Connection
/// refused").
using TransportMaker =
    std::function<std::expected<std::unique_ptr<transport::Transport>, std::string>()>;

/// Why serve() failed.
struct ServeError {
    std::string message;         ///< names the controller and the step
    std::error_code start_error; ///< Controller::start()'s error, when that step failed
};

/// Claims the lowest free index, makes the transport, starts the
/// controller and, with `nodes`, creates its CUSE nodes. Any thread.
[[nodiscard]] std::expected<ServedController, ServeError>
serve(const TransportMaker& make_transport, ctrlr::Controller::Options options,
      const ServeOptions& serving, bool nodes = true);

/// Creates the CUSE nodes of a controller served without them. Errors
/// are messages naming the controller (and the cuse module when it is
/// missing). Any thread.
[[nodiscard]] std::expected<std::unique_ptr<cuse::Registry>, std::string>
create_nodes(const ServedController& served, const ServeOptions& serving);

/// create_nodes() for `controller` kept outside a ServedController (a
/// persistent discovery controller's, whose watcher owns it), with the
/// index `claim` holds. The registry must go before the controller.
[[nodiscard]] std::expected<std::unique_ptr<cuse::Registry>, std::string>
create_nodes(ctrlr::Controller& controller, const cuse::IndexClaim& claim,
             const ServeOptions& serving);

} // namespace nvmecuse::service
