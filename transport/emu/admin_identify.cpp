// Identify (NVMe Base 2.0, 5.17; NVM Command Set 2.0, 4.1.5).
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_identify(const CommandContext&)
{
    return nvme::Status(nvme::GenericStatus::invalid_field);
}

} // namespace nvmecuse::emu
