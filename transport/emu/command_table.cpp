// Supported opcodes, their handlers and their Commands Supported and Effects
// (NVMe Base 2.0, 5.16.1.6). Effects follow what real drives (and QEMU's
// nvme_cse_acs_default / nvme_cse_iocs_nvm_default, and the Linux driver's
// nvme_known_admin_effects) report, because the Linux driver acts on them
// after passthrough: NIC/NCC → rescan namespaces, CCC → re-identify the
// controller, LBCC → the content changed.
#include "command_table.hpp"

#include <cstring>

namespace nvmecuse::emu {

namespace {

namespace fx = nvme::command_effects;
constexpr std::uint32_t csupp = fx::csupp;
constexpr std::uint32_t lbcc = fx::lbcc;
constexpr std::uint32_t ncc = fx::ncc;
constexpr std::uint32_t nic = fx::nic;
constexpr std::uint32_t ccc = fx::ccc;
constexpr std::uint32_t cse_namespace = fx::Cse::make(fx::cse_single_per_namespace);

using EC = EmulatedController;
using A = nvme::AdminOpcode;
using N = nvme::NvmOpcode;

/// 256 entries indexed by opcode, unsupported ones left empty.
template <std::size_t M>
consteval std::array<CommandInfo, 256> by_opcode(const std::array<CommandInfo, M>& rows)
{
    std::array<CommandInfo, 256> table{};
    for (const auto& row : rows)
        table[row.opcode] = row;
    return table;
}

template <class Op> consteval std::uint8_t op(Op o)
{
    return static_cast<std::uint8_t>(o);
}

} // namespace

// Create/Delete I/O Submission/Completion Queue are deliberately absent: the
// in-process transport creates its queues itself, and tools never send them
// through passthrough, so they answer Invalid Command Opcode.
consteval std::array<CommandInfo, 256> CommandTable::build_admin()
{
    constexpr std::array<CommandInfo, 13> rows{{
        {op(A::get_log_page), &EC::admin_get_log_page, "Get Log Page", csupp, true},
        {op(A::identify), &EC::admin_identify, "Identify", csupp, true},
        {op(A::abort), &EC::admin_abort, "Abort", csupp, false},
        {op(A::set_features), &EC::admin_set_features, "Set Features", csupp, true},
        {op(A::get_features), &EC::admin_get_features, "Get Features", csupp, true},
        {op(A::async_event_request), &EC::admin_async_event_request, "Asynchronous Event Request",
         csupp, false},
        {op(A::namespace_management), &EC::admin_namespace_management, "Namespace Management",
         csupp | nic, true},
        {op(A::firmware_commit), &EC::admin_firmware_commit, "Firmware Commit", csupp | ccc, false},
        {op(A::firmware_image_download), &EC::admin_firmware_image_download,
         "Firmware Image Download", csupp, false},
        {op(A::device_self_test), &EC::admin_device_self_test, "Device Self-test", csupp, true},
        {op(A::namespace_attachment), &EC::admin_namespace_attachment, "Namespace Attachment",
         csupp | nic, true},
        {op(A::keep_alive), &EC::admin_keep_alive, "Keep Alive", csupp, false},
        {op(A::format_nvm), &EC::admin_format_nvm, "Format NVM", csupp | lbcc | ncc | cse_namespace,
         true},
    }};
    return by_opcode(rows);
}

consteval std::array<CommandInfo, 256> CommandTable::build_io()
{
    constexpr std::array<CommandInfo, 8> rows{{
        {op(N::flush), &EC::io_flush, "Flush", csupp | lbcc, true},
        {op(N::write), &EC::io_write, "Write", csupp | lbcc, true},
        {op(N::read), &EC::io_read, "Read", csupp, true},
        {op(N::write_uncorrectable), &EC::io_write_uncorrectable, "Write Uncorrectable",
         csupp | lbcc, true},
        {op(N::compare), &EC::io_compare, "Compare", csupp, true},
        {op(N::write_zeroes), &EC::io_write_zeroes, "Write Zeroes", csupp | lbcc, true},
        {op(N::dataset_management), &EC::io_dataset_management, "Dataset Management", csupp | lbcc,
         true},
        {op(N::verify), &EC::io_verify, "Verify", csupp, true},
    }};
    return by_opcode(rows);
}

namespace {
constexpr auto admin_commands = CommandTable::build_admin();
constexpr auto io_commands = CommandTable::build_io();
} // namespace

const CommandInfo* CommandTable::admin(std::uint8_t opcode) noexcept
{
    const auto& row = admin_commands[opcode];
    return row.supported() ? &row : nullptr;
}

const CommandInfo* CommandTable::io(std::uint8_t opcode) noexcept
{
    const auto& row = io_commands[opcode];
    return row.supported() ? &row : nullptr;
}

void fill_effects_log(nvme::CommandsSupportedEffectsLog& log) noexcept
{
    std::memset(&log, 0, sizeof log);
    for (std::size_t i = 0; i < 256; ++i) {
        log.acs[i] = admin_commands[i].supported() ? admin_commands[i].effects : 0;
        log.iocs[i] = io_commands[i].supported() ? io_commands[i].effects : 0;
    }
}

} // namespace nvmecuse::emu
