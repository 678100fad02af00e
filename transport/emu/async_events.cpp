// Asynchronous events, Abort and Keep Alive (NVMe Base 2.0, 5.1, 5.2, 5.25).
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_async_event_request(const CommandContext&)
{
    return nvme::Status(nvme::CommandSpecificStatus::async_event_request_limit_exceeded);
}

Outcome EmulatedController::admin_abort(const CommandContext&)
{
    return Outcome::success(1);
}

Outcome EmulatedController::admin_keep_alive(const CommandContext&)
{
    last_keep_alive_ = now();
    return Outcome::success();
}

void EmulatedController::raise_event(nvme::AsyncEventType, std::uint8_t, nvme::LogPageId) {}

void EmulatedController::clear_event(nvme::LogPageId) {}

void EmulatedController::namespace_changed(std::uint32_t) {}

} // namespace nvmecuse::emu
