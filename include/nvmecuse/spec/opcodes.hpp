// Admin, NVM and Fabrics opcodes with their spec names (NVMe Base 2.0
// Figure 28 "Opcodes for Admin Commands", NVM Command Set 2.0 Figure 17,
// Base 2.0 Figure 541 "Fabrics Command Types").
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "bits.hpp"

namespace nvme {

/// Admin command opcodes (NVMe Base 2.0, Figure 28).
enum class AdminOpcode : uint8_t {
    delete_io_sq = 0x00,
    create_io_sq = 0x01,
    get_log_page = 0x02,
    delete_io_cq = 0x04,
    create_io_cq = 0x05,
    identify = 0x06,
    abort = 0x08,
    set_features = 0x09,
    get_features = 0x0a,
    async_event_request = 0x0c,
    namespace_management = 0x0d,
    firmware_commit = 0x10,
    firmware_image_download = 0x11,
    device_self_test = 0x14,
    namespace_attachment = 0x15,
    keep_alive = 0x18,
    directive_send = 0x19,
    directive_receive = 0x1a,
    virtualization_management = 0x1c,
    nvme_mi_send = 0x1d,
    nvme_mi_receive = 0x1e,
    capacity_management = 0x20,
    lockdown = 0x24,
    doorbell_buffer_config = 0x7c,
    fabrics = 0x7f,
    format_nvm = 0x80,
    security_send = 0x81,
    security_receive = 0x82,
    sanitize = 0x84,
    get_lba_status = 0x86,
};

/// NVM Command Set I/O opcodes (NVM Command Set 2.0, Figure 17).
enum class NvmOpcode : uint8_t {
    flush = 0x00,
    write = 0x01,
    read = 0x02,
    write_uncorrectable = 0x04,
    compare = 0x05,
    write_zeroes = 0x08,
    dataset_management = 0x09,
    verify = 0x0c,
    reservation_register = 0x0d,
    reservation_report = 0x0e,
    reservation_acquire = 0x11,
    reservation_release = 0x15,
    copy = 0x19,
};

/// Fabrics command types, carried in the FCTYPE field (SQE byte 4) of a
/// command with opcode 0x7f (NVMe Base 2.0, Figure 541).
enum class FabricsCommandType : uint8_t {
    property_set = 0x00,
    connect = 0x01,
    property_get = 0x04,
    authentication_send = 0x05,
    authentication_receive = 0x06,
    disconnect = 0x08,
};

/// Direction of the data transfer, opcode bits 1:0 (NVMe Base 2.0, Figure 28).
enum class DataTransfer : uint8_t {
    none = 0,
    host_to_controller = 1,
    controller_to_host = 2,
    bidirectional = 3,
};

/// Data transfer direction encoded in an opcode (admin and I/O alike).
/// Fabrics commands (0x7f) encode it in FCTYPE instead.
[[nodiscard]] constexpr DataTransfer data_transfer(uint8_t opcode) noexcept
{
    return static_cast<DataTransfer>(opcode & 0x3u);
}
[[nodiscard]] constexpr DataTransfer data_transfer(AdminOpcode op) noexcept
{
    return data_transfer(static_cast<uint8_t>(op));
}
[[nodiscard]] constexpr DataTransfer data_transfer(NvmOpcode op) noexcept
{
    return data_transfer(static_cast<uint8_t>(op));
}
[[nodiscard]] constexpr DataTransfer data_transfer(FabricsCommandType t) noexcept
{
    return data_transfer(static_cast<uint8_t>(t));
}

/// Opcodes 0xc0..0xff are vendor specific in both admin and I/O sets.
[[nodiscard]] constexpr bool is_vendor_specific_opcode(uint8_t opcode) noexcept
{
    return opcode >= 0xc0;
}

namespace detail {
inline constexpr auto admin_opcode_names = std::to_array<NameEntry<AdminOpcode>>({
    {AdminOpcode::delete_io_sq, "Delete I/O Submission Queue"},
    {AdminOpcode::create_io_sq, "Create I/O Submission Queue"},
    {AdminOpcode::get_log_page, "Get Log Page"},
    {AdminOpcode::delete_io_cq, "Delete I/O Completion Queue"},
    {AdminOpcode::create_io_cq, "Create I/O Completion Queue"},
    {AdminOpcode::identify, "Identify"},
    {AdminOpcode::abort, "Abort"},
    {AdminOpcode::set_features, "Set Features"},
    {AdminOpcode::get_features, "Get Features"},
    {AdminOpcode::async_event_request, "Asynchronous Event Request"},
    {AdminOpcode::namespace_management, "Namespace Management"},
    {AdminOpcode::firmware_commit, "Firmware Commit"},
    {AdminOpcode::firmware_image_download, "Firmware Image Download"},
    {AdminOpcode::device_self_test, "Device Self-test"},
    {AdminOpcode::namespace_attachment, "Namespace Attachment"},
    {AdminOpcode::keep_alive, "Keep Alive"},
    {AdminOpcode::directive_send, "Directive Send"},
    {AdminOpcode::directive_receive, "Directive Receive"},
    {AdminOpcode::virtualization_management, "Virtualization Management"},
    {AdminOpcode::nvme_mi_send, "NVMe-MI Send"},
    {AdminOpcode::nvme_mi_receive, "NVMe-MI Receive"},
    {AdminOpcode::capacity_management, "Capacity Management"},
    {AdminOpcode::lockdown, "Lockdown"},
    {AdminOpcode::doorbell_buffer_config, "Doorbell Buffer Config"},
    {AdminOpcode::fabrics, "Fabrics Commands"},
    {AdminOpcode::format_nvm, "Format NVM"},
    {AdminOpcode::security_send, "Security Send"},
    {AdminOpcode::security_receive, "Security Receive"},
    {AdminOpcode::sanitize, "Sanitize"},
    {AdminOpcode::get_lba_status, "Get LBA Status"},
});

inline constexpr auto nvm_opcode_names = std::to_array<NameEntry<NvmOpcode>>({
    {NvmOpcode::flush, "Flush"},
    {NvmOpcode::write, "Write"},
    {NvmOpcode::read, "Read"},
    {NvmOpcode::write_uncorrectable, "Write Uncorrectable"},
    {NvmOpcode::compare, "Compare"},
    {NvmOpcode::write_zeroes, "Write Zeroes"},
    {NvmOpcode::dataset_management, "Dataset Management"},
    {NvmOpcode::verify, "Verify"},
    {NvmOpcode::reservation_register, "Reservation Register"},
    {NvmOpcode::reservation_report, "Reservation Report"},
    {NvmOpcode::reservation_acquire, "Reservation Acquire"},
    {NvmOpcode::reservation_release, "Reservation Release"},
    {NvmOpcode::copy, "Copy"},
});

inline constexpr auto fabrics_command_type_names = std::to_array<NameEntry<FabricsCommandType>>({
    {FabricsCommandType::property_set, "Property Set"},
    {FabricsCommandType::connect, "Connect"},
    {FabricsCommandType::property_get, "Property Get"},
    {FabricsCommandType::authentication_send, "Authentication Send"},
    {FabricsCommandType::authentication_receive, "Authentication Receive"},
    {FabricsCommandType::disconnect, "Disconnect"},
});
} // namespace detail

/// Spec name ("Get Log Page"); "Unknown" for reserved/vendor opcodes.
[[nodiscard]] constexpr std::string_view name(AdminOpcode op) noexcept
{
    return lookup_name(detail::admin_opcode_names, op);
}
[[nodiscard]] constexpr std::string_view name(NvmOpcode op) noexcept
{
    return lookup_name(detail::nvm_opcode_names, op);
}
[[nodiscard]] constexpr std::string_view name(FabricsCommandType t) noexcept
{
    return lookup_name(detail::fabrics_command_type_names, t);
}
[[nodiscard]] constexpr std::string_view name(DataTransfer d) noexcept
{
    switch (d) {
    case DataTransfer::none:
        return "No Data Transfer";
    case DataTransfer::host_to_controller:
        return "Host to Controller";
    case DataTransfer::controller_to_host:
        return "Controller to Host";
    case DataTransfer::bidirectional:
        return "Bidirectional";
    }
    return "Unknown";
}

static_assert(data_transfer(NvmOpcode::write) == DataTransfer::host_to_controller);
static_assert(data_transfer(NvmOpcode::read) == DataTransfer::controller_to_host);
static_assert(data_transfer(AdminOpcode::identify) == DataTransfer::controller_to_host);
static_assert(data_transfer(AdminOpcode::set_features) == DataTransfer::host_to_controller);
static_assert(data_transfer(AdminOpcode::abort) == DataTransfer::none);

} // namespace nvme
