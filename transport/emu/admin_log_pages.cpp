// Get Log Page (NVMe Base 2.0, 5.16).
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_get_log_page(const CommandContext&)
{
    return nvme::Status(nvme::CommandSpecificStatus::invalid_log_page);
}

} // namespace nvmecuse::emu
