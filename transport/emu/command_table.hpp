#pragma once

// The opcodes the emulated controller accepts: one table per queue type that
// both dispatch and the Commands Supported and Effects log (LID 05h) are
// built from, so the two can never disagree.

#include <array>
#include <cstdint>
#include <string_view>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

/// One supported command.
struct CommandInfo {
    using Handler = Outcome (EmulatedController::*)(const CommandContext&);

    std::uint8_t opcode = 0;
    Handler handler = nullptr;
    std::string_view name;
    /// Commands Supported and Effects data structure (NVMe Base 2.0
    /// Figure 211): CSUPP, LBCC, NCC, NIC, CCC, CSE.
    std::uint32_t effects = 0;
    /// The command addresses a namespace through SQE NSID.
    bool uses_nsid = false;

    [[nodiscard]] constexpr bool supported() const noexcept { return handler != nullptr; }
};

/// Access point to the tables (a friend of EmulatedController, so that the
/// tables may name its private handlers).
struct CommandTable {
    /// The supported admin / NVM I/O command with `opcode`, or nullptr.
    [[nodiscard]] static const CommandInfo* admin(std::uint8_t opcode) noexcept;
    [[nodiscard]] static const CommandInfo* io(std::uint8_t opcode) noexcept;

    /// The tables, indexed by opcode (command_table.cpp only).
    static consteval std::array<CommandInfo, 256> build_admin();
    static consteval std::array<CommandInfo, 256> build_io();
};

/// Fills the ACS and IOCS arrays of the Commands Supported and Effects log
/// (LID 05h, NVMe Base 2.0 5.16.1.6) from the tables; reserved bytes are
/// zeroed.
void fill_effects_log(nvme::CommandsSupportedEffectsLog& log) noexcept;

} // namespace nvmecuse::emu
