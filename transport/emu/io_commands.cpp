// NVM Command Set I/O commands (NVM Command Set 2.0, 3.2 / 3.3): placeholder.
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {
Outcome not_yet() { return nvme::Status(nvme::GenericStatus::invalid_opcode).with_dnr(); }
} // namespace

Outcome EmulatedController::io_read(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_write(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_compare(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_flush(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_write_zeroes(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_write_uncorrectable(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_dataset_management(const CommandContext&) { return not_yet(); }
Outcome EmulatedController::io_verify(const CommandContext&) { return not_yet(); }

} // namespace nvmecuse::emu
