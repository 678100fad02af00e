// One controller nvmecused serves: its index, the controller and its nodes.
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

#include "arguments.hpp"

namespace nvmecused {

/// Members in the order they come up; destruction takes them down in
/// reverse: the nodes first, then the controller, then the index.
struct ServedController {
    nvmecuse::cuse::IndexClaim claim;
    std::unique_ptr<nvmecuse::ctrlr::Controller> controller;
    std::unique_ptr<nvmecuse::cuse::Registry> registry;

    [[nodiscard]] std::string name() const { return "nvme" + std::to_string(claim.index()); }
};

/// Makes the transport of a controller after its index is claimed. Errors
/// are messages naming what failed ("tcp 10.0.0.1:4420 nqn...: Connection
/// refused").
using TransportMaker =
    std::function<std::expected<std::unique_ptr<nvmecuse::transport::Transport>, std::string>()>;

/// Why serve() failed.
struct ServeError {
    std::string message;         ///< names the controller and the step
    std::error_code start_error; ///< Controller::start()'s error, when that step failed
};

/// Claims the lowest free index, makes the transport, starts the
/// controller and creates its CUSE nodes. Any thread.
[[nodiscard]] std::expected<ServedController, ServeError>
serve(const TransportMaker& make_transport, nvmecuse::ctrlr::Controller::Options options,
      const Arguments& args);

} // namespace nvmecused
