// The built-in emulated controller (transport/emu) behind CUSE.
#pragma once

#include <expected>
#include <string>

#include "nvmecuse/service/serve_options.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include "served_controller.hpp"

namespace nvmecuse::service {

/// Serves an emulated controller as `config` describes it. Errors are
/// messages naming the controller or its backing files. Any thread.
[[nodiscard]] std::expected<ServedController, std::string>
serve_emulated(const emu::ControllerConfig& config, const ServeOptions& serving, bool nodes);

} // namespace nvmecuse::service
