// Device Self-test: placeholder definitions so the library links.
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_device_self_test(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
void EmulatedController::update_self_test() {}
std::pair<std::uint8_t, std::uint8_t> EmulatedController::self_test_progress() const { return {0, 0}; }
void EmulatedController::abort_self_test(nvme::SelfTestResultCode) {}
void EmulatedController::record_self_test_result(std::uint8_t, nvme::SelfTestResultCode, std::uint32_t) {}

} // namespace nvmecuse::emu
