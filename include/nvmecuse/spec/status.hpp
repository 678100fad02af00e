// NVMe completion status: Status Code Type, Status Codes and the 15-bit
// status field (NVMe Base 2.0, 4.6.1 "Completion Queue Entry", Figures
// 100-105).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "bits.hpp"

namespace nvme {

/// Status Code Type (SCT), NVMe Base 2.0 Figure 101.
enum class StatusCodeType : uint8_t {
    generic = 0,
    command_specific = 1,
    media_data_integrity = 2,
    path = 3,
    vendor = 7,
};

/// Generic Command Status values (SCT 0), NVMe Base 2.0 Figure 102; 0x80..
/// are NVM Command Set specific (NVM Command Set 2.0 Figure 34).
enum class GenericStatus : uint8_t {
    success = 0x00,
    invalid_opcode = 0x01,
    invalid_field = 0x02,
    command_id_conflict = 0x03,
    data_transfer_error = 0x04,
    aborted_power_loss = 0x05,
    internal_error = 0x06,
    aborted_by_request = 0x07,
    aborted_sq_deletion = 0x08,
    aborted_failed_fused = 0x09,
    aborted_missing_fused = 0x0a,
    invalid_namespace_or_format = 0x0b,
    command_sequence_error = 0x0c,
    invalid_sgl_segment_descriptor = 0x0d,
    invalid_number_of_sgl_descriptors = 0x0e,
    data_sgl_length_invalid = 0x0f,
    metadata_sgl_length_invalid = 0x10,
    sgl_descriptor_type_invalid = 0x11,
    invalid_use_of_cmb = 0x12,
    prp_offset_invalid = 0x13,
    atomic_write_unit_exceeded = 0x14,
    operation_denied = 0x15,
    sgl_offset_invalid = 0x16,
    host_identifier_inconsistent_format = 0x18,
    keep_alive_timer_expired = 0x19,
    keep_alive_timeout_invalid = 0x1a,
    aborted_preempt_and_abort = 0x1b,
    sanitize_failed = 0x1c,
    sanitize_in_progress = 0x1d,
    sgl_data_block_granularity_invalid = 0x1e,
    command_not_supported_for_queue_in_cmb = 0x1f,
    namespace_is_write_protected = 0x20,
    command_interrupted = 0x21,
    transient_transport_error = 0x22,
    command_prohibited_by_lockdown = 0x23,
    admin_command_media_not_ready = 0x24,
    // NVM Command Set specific
    lba_out_of_range = 0x80,
    capacity_exceeded = 0x81,
    namespace_not_ready = 0x82,
    reservation_conflict = 0x83,
    format_in_progress = 0x84,
};

/// Command Specific Status values (SCT 1), NVMe Base 2.0 Figure 103; 0x80..
/// are I/O command set specific (NVM Command Set 2.0 Figure 35, Zoned
/// Namespace 1.1). Fabrics commands reuse 0x80.. with other meanings (see
/// FabricsStatus).
enum class CommandSpecificStatus : uint8_t {
    completion_queue_invalid = 0x00,
    invalid_queue_identifier = 0x01,
    invalid_queue_size = 0x02,
    abort_command_limit_exceeded = 0x03,
    async_event_request_limit_exceeded = 0x05,
    invalid_firmware_slot = 0x06,
    invalid_firmware_image = 0x07,
    invalid_interrupt_vector = 0x08,
    invalid_log_page = 0x09,
    invalid_format = 0x0a,
    firmware_activation_requires_conventional_reset = 0x0b,
    invalid_queue_deletion = 0x0c,
    feature_identifier_not_saveable = 0x0d,
    feature_not_changeable = 0x0e,
    feature_not_namespace_specific = 0x0f,
    firmware_activation_requires_nvm_subsystem_reset = 0x10,
    firmware_activation_requires_controller_level_reset = 0x11,
    firmware_activation_requires_maximum_time_violation = 0x12,
    firmware_activation_prohibited = 0x13,
    overlapping_range = 0x14,
    namespace_insufficient_capacity = 0x15,
    namespace_identifier_unavailable = 0x16,
    namespace_already_attached = 0x18,
    namespace_is_private = 0x19,
    namespace_not_attached = 0x1a,
    thin_provisioning_not_supported = 0x1b,
    controller_list_invalid = 0x1c,
    device_self_test_in_progress = 0x1d,
    boot_partition_write_prohibited = 0x1e,
    invalid_controller_identifier = 0x1f,
    invalid_secondary_controller_state = 0x20,
    invalid_number_of_controller_resources = 0x21,
    invalid_resource_identifier = 0x22,
    sanitize_prohibited_pmr_enabled = 0x23,
    ana_group_identifier_invalid = 0x24,
    ana_attach_failed = 0x25,
    insufficient_capacity = 0x26,
    namespace_attachment_limit_exceeded = 0x27,
    prohibition_of_command_execution_not_supported = 0x28,
    io_command_set_not_supported = 0x29,
    io_command_set_not_enabled = 0x2a,
    io_command_set_combination_rejected = 0x2b,
    invalid_io_command_set = 0x2c,
    identifier_unavailable = 0x2d,
    // NVM Command Set specific
    conflicting_attributes = 0x80,
    invalid_protection_information = 0x81,
    attempted_write_to_read_only_range = 0x82,
    command_size_limit_exceeded = 0x83,
    // Zoned Namespace Command Set specific
    zone_boundary_error = 0xb8,
    zone_is_full = 0xb9,
    zone_is_read_only = 0xba,
    zone_is_offline = 0xbb,
    zone_invalid_write = 0xbc,
    too_many_active_zones = 0xbd,
    too_many_open_zones = 0xbe,
    invalid_zone_state_transition = 0xbf,
};

/// Command specific status of Fabrics commands (Connect etc.), NVMe Base 2.0
/// Figure 103 "Fabrics command specific". Not in the name table because the
/// same codes mean NVM command set errors on I/O queues.
enum class FabricsStatus : uint8_t {
    incompatible_format = 0x80,
    controller_busy = 0x81,
    connect_invalid_parameters = 0x82,
    connect_restart_discovery = 0x83,
    connect_invalid_host = 0x84,
    invalid_queue_type = 0x85,
    discover_restart = 0x90,
    authentication_required = 0x91,
};

/// Media and Data Integrity Errors (SCT 2), NVMe Base 2.0 Figure 104 and
/// NVM Command Set 2.0 Figure 36.
enum class MediaStatus : uint8_t {
    write_fault = 0x80,
    unrecovered_read_error = 0x81,
    end_to_end_guard_check_error = 0x82,
    end_to_end_application_tag_check_error = 0x83,
    end_to_end_reference_tag_check_error = 0x84,
    compare_failure = 0x85,
    access_denied = 0x86,
    deallocated_or_unwritten_logical_block = 0x87,
    end_to_end_storage_tag_check_error = 0x88,
};

/// Path Related Status (SCT 3), NVMe Base 2.0 Figure 105.
enum class PathStatus : uint8_t {
    internal_path_error = 0x00,
    asymmetric_access_persistent_loss = 0x01,
    asymmetric_access_inaccessible = 0x02,
    asymmetric_access_transition = 0x03,
    controller_pathing_error = 0x60,
    host_pathing_error = 0x70,
    command_aborted_by_host = 0x71,
};

/// Layout of the 15-bit status field as Linux passthrough ioctls return it
/// (`le16_to_cpu(cqe.status) >> 1`, i.e. CQE DW3 bits 31:17 shifted down).
namespace status_field {
using Sc = Field<0, 8, uint16_t>;
using Sct = Field<8, 3, uint16_t>;
using Crd = Field<11, 2, uint16_t>;
using More = Bit<13, uint16_t>;
using Dnr = Bit<14, uint16_t>;
} // namespace status_field

/// An NVMe completion status. Handlers return this, never an errno; the
/// conversion to the Linux ioctl convention happens at the CUSE boundary.
/// Implicitly constructible from each status enum so a handler may write
/// `return GenericStatus::invalid_field;`.
struct Status {
    StatusCodeType sct = StatusCodeType::generic;
    uint8_t sc = 0;
    uint8_t crd = 0; ///< Command Retry Delay, 2 bits (index into crdt1..3)
    bool more = false;
    bool dnr = false;

    constexpr Status() noexcept = default;
    constexpr Status(StatusCodeType t, uint8_t c, bool do_not_retry = false) noexcept
        : sct(t), sc(c), dnr(do_not_retry)
    {
    }
    constexpr Status(GenericStatus s) noexcept
        : Status(StatusCodeType::generic, static_cast<uint8_t>(s))
    {
    }
    constexpr Status(CommandSpecificStatus s) noexcept
        : Status(StatusCodeType::command_specific, static_cast<uint8_t>(s))
    {
    }
    constexpr Status(FabricsStatus s) noexcept
        : Status(StatusCodeType::command_specific, static_cast<uint8_t>(s))
    {
    }
    constexpr Status(MediaStatus s) noexcept
        : Status(StatusCodeType::media_data_integrity, static_cast<uint8_t>(s))
    {
    }
    constexpr Status(PathStatus s) noexcept : Status(StatusCodeType::path, static_cast<uint8_t>(s))
    {
    }

    [[nodiscard]] static constexpr Status success() noexcept { return {}; }

    [[nodiscard]] constexpr bool is_success() const noexcept
    {
        return sct == StatusCodeType::generic && sc == 0;
    }
    [[nodiscard]] explicit constexpr operator bool() const = delete; // say is_success()

    /// Copy with Do Not Retry set.
    [[nodiscard]] constexpr Status with_dnr(bool on = true) const noexcept
    {
        Status s = *this;
        s.dnr = on;
        return s;
    }
    /// Copy with the More bit set (more information in the Error Information log).
    [[nodiscard]] constexpr Status with_more(bool on = true) const noexcept
    {
        Status s = *this;
        s.more = on;
        return s;
    }
    [[nodiscard]] constexpr Status with_crd(uint8_t c) const noexcept
    {
        Status s = *this;
        s.crd = static_cast<uint8_t>(c & 3);
        return s;
    }

    /// 15-bit status field: SC 7:0, SCT 10:8, CRD 12:11, More 13, DNR 14.
    [[nodiscard]] constexpr uint16_t to_field() const noexcept
    {
        using namespace status_field;
        uint16_t v = Sc::make(sc);
        v = Sct::set(v, static_cast<uint16_t>(sct));
        v = Crd::set(v, crd);
        v = More::set(v, more);
        return Dnr::set(v, dnr);
    }
    [[nodiscard]] static constexpr Status from_field(uint16_t v) noexcept
    {
        using namespace status_field;
        Status s(static_cast<StatusCodeType>(Sct::get(v)), static_cast<uint8_t>(Sc::get(v)),
                 Dnr::get(v));
        s.crd = static_cast<uint8_t>(Crd::get(v));
        s.more = More::get(v);
        return s;
    }
    /// CQE DW3 bits 31:16 (status field shifted left, phase tag in bit 0).
    [[nodiscard]] constexpr uint16_t to_cqe_status(bool phase) const noexcept
    {
        return static_cast<uint16_t>((to_field() << 1) | (phase ? 1u : 0u));
    }
    [[nodiscard]] static constexpr Status from_cqe_status(uint16_t v) noexcept
    {
        return from_field(static_cast<uint16_t>(v >> 1));
    }

    /// Same code (SCT and SC), ignoring CRD/More/DNR.
    [[nodiscard]] constexpr bool same_code(Status o) const noexcept
    {
        return sct == o.sct && sc == o.sc;
    }

    [[nodiscard]] friend constexpr bool operator==(const Status&, const Status&) = default;
};
static_assert(std::is_trivially_copyable_v<Status> && std::is_standard_layout_v<Status>);
static_assert(Status(GenericStatus::lba_out_of_range).with_dnr().to_field() == 0x4080);
static_assert(Status(MediaStatus::compare_failure).to_field() == 0x285);
static_assert(Status::from_field(0x4002) == Status(GenericStatus::invalid_field).with_dnr());

namespace detail {
using StatusName = NameEntry<uint8_t>;
inline constexpr auto generic_status_names = std::to_array<StatusName>({
    {0x00, "Successful Completion"},
    {0x01, "Invalid Command Opcode"},
    {0x02, "Invalid Field in Command"},
    {0x03, "Command ID Conflict"},
    {0x04, "Data Transfer Error"},
    {0x05, "Commands Aborted due to Power Loss Notification"},
    {0x06, "Internal Error"},
    {0x07, "Command Abort Requested"},
    {0x08, "Command Aborted due to SQ Deletion"},
    {0x09, "Command Aborted due to Failed Fused Command"},
    {0x0a, "Command Aborted due to Missing Fused Command"},
    {0x0b, "Invalid Namespace or Format"},
    {0x0c, "Command Sequence Error"},
    {0x0d, "Invalid SGL Segment Descriptor"},
    {0x0e, "Invalid Number of SGL Descriptors"},
    {0x0f, "Data SGL Length Invalid"},
    {0x10, "Metadata SGL Length Invalid"},
    {0x11, "SGL Descriptor Type Invalid"},
    {0x12, "Invalid Use of Controller Memory Buffer"},
    {0x13, "PRP Offset Invalid"},
    {0x14, "Atomic Write Unit Exceeded"},
    {0x15, "Operation Denied"},
    {0x16, "SGL Offset Invalid"},
    {0x18, "Host Identifier Inconsistent Format"},
    {0x19, "Keep Alive Timer Expired"},
    {0x1a, "Keep Alive Timeout Invalid"},
    {0x1b, "Command Aborted due to Preempt and Abort"},
    {0x1c, "Sanitize Failed"},
    {0x1d, "Sanitize In Progress"},
    {0x1e, "SGL Data Block Granularity Invalid"},
    {0x1f, "Command Not Supported for Queue in CMB"},
    {0x20, "Namespace is Write Protected"},
    {0x21, "Command Interrupted"},
    {0x22, "Transient Transport Error"},
    {0x23, "Command Prohibited by Command and Feature Lockdown"},
    {0x24, "Admin Command Media Not Ready"},
    {0x80, "LBA Out of Range"},
    {0x81, "Capacity Exceeded"},
    {0x82, "Namespace Not Ready"},
    {0x83, "Reservation Conflict"},
    {0x84, "Format In Progress"},
});

inline constexpr auto command_specific_status_names = std::to_array<StatusName>({
    {0x00, "Completion Queue Invalid"},
    {0x01, "Invalid Queue Identifier"},
    {0x02, "Invalid Queue Size"},
    {0x03, "Abort Command Limit Exceeded"},
    {0x05, "Asynchronous Event Request Limit Exceeded"},
    {0x06, "Invalid Firmware Slot"},
    {0x07, "Invalid Firmware Image"},
    {0x08, "Invalid Interrupt Vector"},
    {0x09, "Invalid Log Page"},
    {0x0a, "Invalid Format"},
    {0x0b, "Firmware Activation Requires Conventional Reset"},
    {0x0c, "Invalid Queue Deletion"},
    {0x0d, "Feature Identifier Not Saveable"},
    {0x0e, "Feature Not Changeable"},
    {0x0f, "Feature Not Namespace Specific"},
    {0x10, "Firmware Activation Requires NVM Subsystem Reset"},
    {0x11, "Firmware Activation Requires Controller Level Reset"},
    {0x12, "Firmware Activation Requires Maximum Time Violation"},
    {0x13, "Firmware Activation Prohibited"},
    {0x14, "Overlapping Range"},
    {0x15, "Namespace Insufficient Capacity"},
    {0x16, "Namespace Identifier Unavailable"},
    {0x18, "Namespace Already Attached"},
    {0x19, "Namespace Is Private"},
    {0x1a, "Namespace Not Attached"},
    {0x1b, "Thin Provisioning Not Supported"},
    {0x1c, "Controller List Invalid"},
    {0x1d, "Device Self-test In Progress"},
    {0x1e, "Boot Partition Write Prohibited"},
    {0x1f, "Invalid Controller Identifier"},
    {0x20, "Invalid Secondary Controller State"},
    {0x21, "Invalid Number of Controller Resources"},
    {0x22, "Invalid Resource Identifier"},
    {0x23, "Sanitize Prohibited While Persistent Memory Region is Enabled"},
    {0x24, "ANA Group Identifier Invalid"},
    {0x25, "ANA Attach Failed"},
    {0x26, "Insufficient Capacity"},
    {0x27, "Namespace Attachment Limit Exceeded"},
    {0x28, "Prohibition of Command Execution Not Supported"},
    {0x29, "I/O Command Set Not Supported"},
    {0x2a, "I/O Command Set Not Enabled"},
    {0x2b, "I/O Command Set Combination Rejected"},
    {0x2c, "Invalid I/O Command Set"},
    {0x2d, "Identifier Unavailable"},
    {0x80, "Conflicting Attributes"},
    {0x81, "Invalid Protection Information"},
    {0x82, "Attempted Write to Read Only Range"},
    {0x83, "Command Size Limit Exceeded"},
    {0xb8, "Zone Boundary Error"},
    {0xb9, "Zone Is Full"},
    {0xba, "Zone Is Read Only"},
    {0xbb, "Zone Is Offline"},
    {0xbc, "Zone Invalid Write"},
    {0xbd, "Too Many Active Zones"},
    {0xbe, "Too Many Open Zones"},
    {0xbf, "Invalid Zone State Transition"},
});

inline constexpr auto media_status_names = std::to_array<StatusName>({
    {0x80, "Write Fault"},
    {0x81, "Unrecovered Read Error"},
    {0x82, "End-to-end Guard Check Error"},
    {0x83, "End-to-end Application Tag Check Error"},
    {0x84, "End-to-end Reference Tag Check Error"},
    {0x85, "Compare Failure"},
    {0x86, "Access Denied"},
    {0x87, "Deallocated or Unwritten Logical Block"},
    {0x88, "End-to-end Storage Tag Check Error"},
});

inline constexpr auto path_status_names = std::to_array<StatusName>({
    {0x00, "Internal Path Error"},
    {0x01, "Asymmetric Access Persistent Loss"},
    {0x02, "Asymmetric Access Inaccessible"},
    {0x03, "Asymmetric Access Transition"},
    {0x60, "Controller Pathing Error"},
    {0x70, "Host Pathing Error"},
    {0x71, "Command Aborted By Host"},
});

inline constexpr auto status_code_type_names = std::to_array<NameEntry<StatusCodeType>>({
    {StatusCodeType::generic, "Generic Command Status"},
    {StatusCodeType::command_specific, "Command Specific Status"},
    {StatusCodeType::media_data_integrity, "Media and Data Integrity Errors"},
    {StatusCodeType::path, "Path Related Status"},
    {StatusCodeType::vendor, "Vendor Specific"},
});
} // namespace detail

/// Spec name of a Status Code Type.
[[nodiscard]] constexpr std::string_view name(StatusCodeType t) noexcept
{
    return lookup_name(detail::status_code_type_names, t);
}

/// Spec name of a status ("Invalid Field in Command", "LBA Out of Range");
/// "Unknown" for reserved/vendor codes. Command specific codes 0x80.. are
/// named with their NVM Command Set meaning.
[[nodiscard]] constexpr std::string_view name(Status s) noexcept
{
    switch (s.sct) {
    case StatusCodeType::generic:
        return lookup_name(detail::generic_status_names, s.sc);
    case StatusCodeType::command_specific:
        return lookup_name(detail::command_specific_status_names, s.sc);
    case StatusCodeType::media_data_integrity:
        return lookup_name(detail::media_status_names, s.sc);
    case StatusCodeType::path:
        return lookup_name(detail::path_status_names, s.sc);
    case StatusCodeType::vendor:
        return "Vendor Specific";
    }
    return "Unknown";
}

/// "Invalid Field in Command (sct 0x0, sc 0x02, dnr)" - for logs and errors.
[[nodiscard]] inline std::string to_string(Status s)
{
    constexpr char hex[] = "0123456789abcdef";
    std::string out(name(s));
    out += " (sct 0x";
    out += hex[static_cast<uint8_t>(s.sct) & 0xf];
    out += ", sc 0x";
    out += hex[s.sc >> 4];
    out += hex[s.sc & 0xf];
    if (s.crd != 0) {
        out += ", crd ";
        out += static_cast<char>('0' + s.crd);
    }
    if (s.more) out += ", more";
    if (s.dnr) out += ", dnr";
    out += ')';
    return out;
}

} // namespace nvme
