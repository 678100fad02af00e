// --emulate: the built-in emulated controller.
#pragma once

#include <expected>
#include <string>

#include "arguments.hpp"
#include "served_controller.hpp"

namespace nvmecused {

/// Serves the emulated controller --config describes (defaults without
/// it). Errors are messages naming the controller or its backing files.
[[nodiscard]] std::expected<ServedController, std::string> serve_emulated(const Arguments& args);

} // namespace nvmecused
