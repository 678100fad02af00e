// Get Features / Set Features (NVMe Base 2.0, 5.15 / 5.27): placeholder
// definitions so the library links; the table-driven implementation follows.
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

Outcome EmulatedController::admin_get_features(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
Outcome EmulatedController::admin_set_features(const CommandContext&) { return nvme::Status(nvme::GenericStatus::invalid_field); }
std::uint32_t EmulatedController::feature_value(nvme::FeatureId, std::uint32_t, std::uint32_t) const { return 0; }
bool EmulatedController::async_event_enabled(std::uint32_t) const { return false; }
std::uint16_t EmulatedController::over_temperature_threshold() const { return config_.warning_temperature_kelvin; }
std::uint16_t EmulatedController::under_temperature_threshold() const { return 0; }
bool EmulatedController::write_cache_enabled() const { return true; }
void EmulatedController::reset_features() {}
void EmulatedController::on_controller_reset()
{
    reset_features();
    apply_pending_firmware();
    abort_self_test(nvme::SelfTestResultCode::aborted_by_controller_reset);
}

} // namespace nvmecuse::emu
