// sd_notify(3) for Type=notify (readiness.hpp).
#include "readiness.hpp"

#include <systemd/sd-daemon.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>

namespace nvmecused {

std::string serving_status(const nvmecuse::service::ControllerManager& manager,
                           const std::string& control_socket)
{
    std::string names;
    const auto controllers = manager.list();
    for (const auto& c : controllers)
        names += " " + c.name;
    const std::string socket =
        control_socket.empty() ? "no control socket" : "control socket " + control_socket;
    if (controllers.empty()) return "serving no controller; " + socket;
    return fmt::format("serving {} controller(s):{}; {}", controllers.size(), names, socket);
}

void notify_ready(const std::string& status)
{
    const int r = sd_notify(0, fmt::format("READY=1\nSTATUS={}", status).c_str());
    if (r < 0) spdlog::warn("sd_notify READY=1: {}", std::strerror(-r));
}

void notify_status(const std::string& status)
{
    (void)sd_notify(0, fmt::format("STATUS={}", status).c_str());
}

void notify_stopping() { (void)sd_notify(0, "STOPPING=1"); }

} // namespace nvmecused
