// Firmware Image Download / Firmware Commit: placeholder definitions so the
// library links.
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_firmware_image_download(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
Outcome EmulatedController::admin_firmware_commit(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
void EmulatedController::apply_pending_firmware() {}
std::array<char, 8> EmulatedController::firmware_revision_of(std::span<const std::byte>) { return {}; }

} // namespace nvmecuse::emu
