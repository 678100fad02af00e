// Namespace Management, Namespace Attachment, Format NVM: placeholder
// definitions so the library links.
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_namespace_management(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
Outcome EmulatedController::admin_namespace_attachment(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
Outcome EmulatedController::admin_format_nvm(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }

} // namespace nvmecuse::emu
