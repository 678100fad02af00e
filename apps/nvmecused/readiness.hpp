// Telling the service manager how nvmecused is doing (sd_notify(3)):
// READY=1 once it serves, STATUS= lines saying what, STOPPING=1 on the way
// out. Without NOTIFY_SOCKET (not started by systemd) each is a no-op.
#pragma once

#include <string>

#include "nvmecuse/service/controller_manager.hpp"

namespace nvmecused {

/// "serving 2 controller(s): nvme0 nvme1; control socket /run/..." or
/// "serving no controller; ...". Pure.
[[nodiscard]] std::string serving_status(const nvmecuse::service::ControllerManager& manager,
                                         const std::string& control_socket);

/// READY=1 and STATUS=`status`. Main thread.
void notify_ready(const std::string& status);

/// STATUS=`status`: what is served now, after a change. Any thread.
void notify_status(const std::string& status);

/// STOPPING=1. Main thread.
void notify_stopping();

} // namespace nvmecused
