// What the command line asks nvmecused to serve at start: --emulate and
// --attach, through the controller manager; the nodes' settings of the
// --json file.
#pragma once

#include <expected>
#include <string>

#include "nvmecuse/service/attach_retry.hpp"
#include "nvmecuse/service/controller_manager.hpp"

#include "arguments.hpp"

namespace nvmecused {

/// Attaches the emulated controller (--emulate, --config) and then every
/// --attach target, in command-line order. An NVMe/TCP target that cannot
/// be connected is handed to `retry` (every --reconnect-delay, until
/// --ctrl-loss-tmo; a warning says so) instead of failing the start; its
/// attempts attach through `manager` from the retry thread. With
/// --ctrl-loss-tmo 0 it is an error as any other. Errors are messages
/// naming the target. Main thread.
[[nodiscard]] std::expected<void, std::string>
attach_from_command_line(const Arguments& args, nvmecuse::service::ControllerManager& manager,
                         nvmecuse::service::AttachRetry& retry);

/// The --json file's node_set_options (directory, mode, owner, group)
/// into `args`, each where the command line did not give it. Errors name
/// the file and the JSON path. Main thread, before the controller manager
/// is made from `args`.
[[nodiscard]] std::expected<void, std::string> take_node_settings(Arguments& args);

} // namespace nvmecused
