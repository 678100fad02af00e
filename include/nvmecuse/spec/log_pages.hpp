// Log page identifiers and data structures (NVMe Base 2.0, 5.16.1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "bits.hpp"

namespace nvme {

/// Log Page Identifiers, NVMe Base 2.0 Figure 202.
enum class LogPageId : uint8_t {
    supported_log_pages = 0x00,
    error_information = 0x01,
    smart_health = 0x02,
    firmware_slot = 0x03,
    changed_namespace_list = 0x04,
    commands_supported_effects = 0x05,
    device_self_test = 0x06,
    telemetry_host = 0x07,
    telemetry_controller = 0x08,
    endurance_group = 0x09,
    predictable_latency_set = 0x0a,
    predictable_latency_aggregate = 0x0b,
    ana = 0x0c,
    persistent_event = 0x0d,
    lba_status = 0x0e,
    endurance_group_aggregate = 0x0f,
    media_unit_status = 0x10,
    supported_capacity_config = 0x11,
    feature_identifiers_supported_effects = 0x12,
    nvme_mi_commands_supported_effects = 0x13,
    command_and_feature_lockdown = 0x14,
    boot_partition = 0x15,
    rotational_media = 0x16,
    discovery = 0x70,
    reservation_notification = 0x80,
    sanitize_status = 0x81,
};

namespace detail {
inline constexpr auto log_page_names = std::to_array<NameEntry<LogPageId>>({
    {LogPageId::supported_log_pages, "Supported Log Pages"},
    {LogPageId::error_information, "Error Information"},
    {LogPageId::smart_health, "SMART / Health Information"},
    {LogPageId::firmware_slot, "Firmware Slot Information"},
    {LogPageId::changed_namespace_list, "Changed Namespace List"},
    {LogPageId::commands_supported_effects, "Commands Supported and Effects"},
    {LogPageId::device_self_test, "Device Self-test"},
    {LogPageId::telemetry_host, "Telemetry Host-Initiated"},
    {LogPageId::telemetry_controller, "Telemetry Controller-Initiated"},
    {LogPageId::endurance_group, "Endurance Group Information"},
    {LogPageId::predictable_latency_set, "Predictable Latency Per NVM Set"},
    {LogPageId::predictable_latency_aggregate, "Predictable Latency Event Aggregate"},
    {LogPageId::ana, "Asymmetric Namespace Access"},
    {LogPageId::persistent_event, "Persistent Event Log"},
    {LogPageId::lba_status, "LBA Status Information"},
    {LogPageId::endurance_group_aggregate, "Endurance Group Event Aggregate"},
    {LogPageId::media_unit_status, "Media Unit Status"},
    {LogPageId::supported_capacity_config, "Supported Capacity Configuration List"},
    {LogPageId::feature_identifiers_supported_effects, "Feature Identifiers Supported and Effects"},
    {LogPageId::nvme_mi_commands_supported_effects, "NVMe-MI Commands Supported and Effects"},
    {LogPageId::command_and_feature_lockdown, "Command and Feature Lockdown"},
    {LogPageId::boot_partition, "Boot Partition"},
    {LogPageId::rotational_media, "Rotational Media Information"},
    {LogPageId::discovery, "Discovery"},
    {LogPageId::reservation_notification, "Reservation Notification"},
    {LogPageId::sanitize_status, "Sanitize Status"},
});
} // namespace detail

/// Spec name of a log page ("SMART / Health Information"); "Unknown" otherwise.
[[nodiscard]] constexpr std::string_view name(LogPageId id) noexcept
{
    return lookup_name(detail::log_page_names, id);
}

// ---------------------------------------------------------------------------
// 00h Supported Log Pages
// ---------------------------------------------------------------------------

/// Supported Log Pages (LID 00h), NVMe Base 2.0 Figure 205: one dword per LID.
struct SupportedLogPagesLog {
    std::array<uint32_t, 256> lids;
};
static_assert(sizeof(SupportedLogPagesLog) == 1024);

namespace supported_log_page {
inline constexpr uint32_t lsupp = 1u << 0; ///< LID supported
inline constexpr uint32_t ios = 1u << 1;   ///< index offset supported
using Lidsp = Field<16, 16>;               ///< LID specific parameter
} // namespace supported_log_page

// ---------------------------------------------------------------------------
// 01h Error Information
// ---------------------------------------------------------------------------

/// Error Information Log Entry (LID 01h), NVMe Base 2.0 Figure 206.
struct ErrorInformationEntry {
    uint64_t error_count;
    uint16_t sqid;
    uint16_t cmdid;
    uint16_t status_field;        ///< Status::to_cqe_status(phase): phase tag in bit 0
    uint16_t parm_error_location; ///< byte 7:0, bit 10:8 of the offending field
    uint64_t lba;
    uint32_t nsid;
    uint8_t vs; ///< vendor specific log page with more detail, 0 if none
    uint8_t trtype;
    std::array<uint8_t, 2> rsvd30;
    uint64_t cs; ///< command specific information
    uint16_t trtype_spec_info;
    std::array<uint8_t, 22> rsvd42;
};
static_assert(sizeof(ErrorInformationEntry) == 64);
static_assert(std::is_trivially_copyable_v<ErrorInformationEntry> &&
              std::is_standard_layout_v<ErrorInformationEntry>);
static_assert(offsetof(ErrorInformationEntry, status_field) == 12 &&
              offsetof(ErrorInformationEntry, lba) == 16 &&
              offsetof(ErrorInformationEntry, nsid) == 24 &&
              offsetof(ErrorInformationEntry, trtype) == 29 &&
              offsetof(ErrorInformationEntry, cs) == 32 &&
              offsetof(ErrorInformationEntry, trtype_spec_info) == 40);

namespace parm_error_location {
using Byte = Field<0, 8, uint16_t>;
using BitPos = Field<8, 3, uint16_t>;
/// Location value for byte `byte` (0..63 of the SQE), bit `bit` (0..7).
[[nodiscard]] constexpr uint16_t make(uint16_t byte, uint16_t bit) noexcept
{
    return static_cast<uint16_t>(Byte::make(byte) | BitPos::make(bit));
}
/// "Not specific to a particular command" / unknown location.
inline constexpr uint16_t none = 0xffff;
} // namespace parm_error_location

// ---------------------------------------------------------------------------
// 02h SMART / Health Information
// ---------------------------------------------------------------------------

/// SMART / Health Information (LID 02h), NVMe Base 2.0 Figure 207. The
/// Composite Temperature sits at byte 1, so it is stored Unaligned; all
/// other fields are naturally aligned.
struct SmartHealthLog {
    uint8_t critical_warning;
    Unaligned<uint16_t> composite_temperature; ///< Kelvin
    uint8_t avail_spare;                       ///< percent
    uint8_t avail_spare_thresh;                ///< percent
    uint8_t percent_used;
    uint8_t endurance_group_critical_warning_summary;
    std::array<uint8_t, 25> rsvd7;
    Uint128 data_units_read; ///< thousands of 512-byte units, rounded up
    Uint128 data_units_written;
    Uint128 host_read_commands;
    Uint128 host_write_commands;
    Uint128 controller_busy_time; ///< minutes
    Uint128 power_cycles;
    Uint128 power_on_hours;
    Uint128 unsafe_shutdowns;
    Uint128 media_errors;
    Uint128 num_err_log_entries;
    uint32_t warning_temp_time;          ///< minutes
    uint32_t critical_comp_time;         ///< minutes
    std::array<uint16_t, 8> temp_sensor; ///< Kelvin, 0 = not implemented
    uint32_t thm_temp1_trans_count;
    uint32_t thm_temp2_trans_count;
    uint32_t thm_temp1_total_time;
    uint32_t thm_temp2_total_time;
    std::array<uint8_t, 280> rsvd232;
};
static_assert(sizeof(SmartHealthLog) == 512);
static_assert(std::is_trivially_copyable_v<SmartHealthLog> &&
              std::is_standard_layout_v<SmartHealthLog>);
static_assert(offsetof(SmartHealthLog, composite_temperature) == 1);
static_assert(offsetof(SmartHealthLog, avail_spare) == 3);
static_assert(offsetof(SmartHealthLog, endurance_group_critical_warning_summary) == 6);
static_assert(offsetof(SmartHealthLog, data_units_read) == 32);
static_assert(offsetof(SmartHealthLog, power_on_hours) == 128);
static_assert(offsetof(SmartHealthLog, num_err_log_entries) == 176);
static_assert(offsetof(SmartHealthLog, warning_temp_time) == 192);
static_assert(offsetof(SmartHealthLog, temp_sensor) == 200);
static_assert(offsetof(SmartHealthLog, thm_temp1_trans_count) == 216);
static_assert(offsetof(SmartHealthLog, thm_temp2_total_time) == 228);

/// critical_warning bits.
namespace critical_warning {
inline constexpr uint8_t available_spare = 1u << 0;
inline constexpr uint8_t temperature = 1u << 1;
inline constexpr uint8_t nvm_subsystem_reliability = 1u << 2;
inline constexpr uint8_t read_only = 1u << 3;
inline constexpr uint8_t volatile_memory_backup = 1u << 4;
inline constexpr uint8_t pmr_read_only = 1u << 5;
} // namespace critical_warning

/// 0 degrees Celsius in Kelvin as the spec rounds it (NVMe Base 2.0, 4.3.2).
inline constexpr uint16_t kelvin_offset = 273;

// ---------------------------------------------------------------------------
// 03h Firmware Slot Information
// ---------------------------------------------------------------------------

/// Firmware Slot Information (LID 03h), NVMe Base 2.0 Figure 208.
struct FirmwareSlotLog {
    uint8_t afi; ///< active slot 2:0, slot activated at next reset 6:4
    std::array<uint8_t, 7> rsvd1;
    std::array<std::array<char, 8>, 7> frs; ///< revision of slots 1..7 (frs[0] = slot 1)
    std::array<uint8_t, 448> rsvd64;
};
static_assert(sizeof(FirmwareSlotLog) == 512 && offsetof(FirmwareSlotLog, frs) == 8 &&
              offsetof(FirmwareSlotLog, rsvd64) == 64);

namespace afi {
using ActiveSlot = Field<0, 3, uint8_t>;
using NextResetSlot = Field<4, 3, uint8_t>;
} // namespace afi

// ---------------------------------------------------------------------------
// 04h Changed Namespace List
// ---------------------------------------------------------------------------

/// Changed Namespace List (LID 04h), NVMe Base 2.0 Figure 209. Zero
/// terminated; nsid[0] == 0xffffffff means more than 1024 changed.
struct ChangedNamespaceList {
    std::array<uint32_t, 1024> nsid;
};
static_assert(sizeof(ChangedNamespaceList) == 4096);

// ---------------------------------------------------------------------------
// 05h Commands Supported and Effects
// ---------------------------------------------------------------------------

/// Commands Supported and Effects (LID 05h), NVMe Base 2.0 Figure 210:
/// one Commands Supported and Effects Data Structure per opcode.
struct CommandsSupportedEffectsLog {
    std::array<uint32_t, 256> acs;  ///< admin commands, indexed by opcode
    std::array<uint32_t, 256> iocs; ///< I/O commands, indexed by opcode
    std::array<uint8_t, 2048> rsvd2048;
};
static_assert(sizeof(CommandsSupportedEffectsLog) == 4096 &&
              offsetof(CommandsSupportedEffectsLog, iocs) == 1024);

/// Bits of one Commands Supported and Effects Data Structure (Figure 211).
namespace command_effects {
inline constexpr uint32_t csupp = 1u << 0; ///< command supported
inline constexpr uint32_t lbcc = 1u << 1;  ///< logical block content change
inline constexpr uint32_t ncc = 1u << 2;   ///< namespace capability change
inline constexpr uint32_t nic = 1u << 3;   ///< namespace inventory change
inline constexpr uint32_t ccc = 1u << 4;   ///< controller capability change
using Cser = Field<14, 2>; ///< command submission and execution relaxations (NVMe 2.1)
using Cse = Field<16, 3>;  ///< command submission and execution
inline constexpr uint32_t uss = 1u << 19; ///< UUID selection supported
/// Values of Cse.
inline constexpr uint32_t cse_no_restriction = 0;
inline constexpr uint32_t cse_single_per_namespace = 1;
inline constexpr uint32_t cse_single_per_controller = 2;
} // namespace command_effects

// ---------------------------------------------------------------------------
// 06h Device Self-test
// ---------------------------------------------------------------------------

/// Self-test Result Data Structure, NVMe Base 2.0 Figure 213. Results start
/// at byte 4 of the log and are 28 bytes each, so the 8-byte POH and Failing
/// LBA are never 8-aligned: they are stored Unaligned and the struct has
/// 4-byte alignment.
struct SelfTestResult {
    uint8_t device_self_test_status; ///< result 3:0, self-test code 7:4
    uint8_t segment_number;
    uint8_t valid_diagnostic_info; ///< see self_test_valid
    uint8_t rsvd3;
    Unaligned<uint64_t> power_on_hours;
    uint32_t nsid;
    Unaligned<uint64_t> failing_lba;
    uint8_t status_code_type;
    uint8_t status_code;
    std::array<uint8_t, 2> vendor_specific;
};
static_assert(sizeof(SelfTestResult) == 28 && alignof(SelfTestResult) == 4);
static_assert(offsetof(SelfTestResult, power_on_hours) == 4 &&
              offsetof(SelfTestResult, nsid) == 12 && offsetof(SelfTestResult, failing_lba) == 16 &&
              offsetof(SelfTestResult, status_code_type) == 24);

/// Device Self-test log (LID 06h), NVMe Base 2.0 Figure 212; result[0] is
/// the most recent.
struct DeviceSelfTestLog {
    uint8_t current_operation;  ///< self-test code in progress 3:0, 0 = none
    uint8_t current_completion; ///< percent complete 6:0
    std::array<uint8_t, 2> rsvd2;
    std::array<SelfTestResult, 20> result;
};
static_assert(sizeof(DeviceSelfTestLog) == 564 && offsetof(DeviceSelfTestLog, result) == 4);

namespace self_test_status {
using Result = Field<0, 4, uint8_t>;
using Code = Field<4, 4, uint8_t>;
} // namespace self_test_status

/// Self-test result values (device_self_test_status bits 3:0).
enum class SelfTestResultCode : uint8_t {
    completed_without_error = 0x0,
    aborted_by_self_test_command = 0x1,
    aborted_by_controller_reset = 0x2,
    aborted_by_namespace_removal = 0x3,
    aborted_by_format_nvm = 0x4,
    fatal_or_unknown_error = 0x5,
    unknown_segment_failed = 0x6,
    segments_failed = 0x7,
    aborted_unknown_reason = 0x8,
    aborted_by_sanitize = 0x9,
    entry_not_used = 0xf,
};

/// valid_diagnostic_info bits.
namespace self_test_valid {
inline constexpr uint8_t nsid = 1u << 0;
inline constexpr uint8_t failing_lba = 1u << 1;
inline constexpr uint8_t status_code_type = 1u << 2;
inline constexpr uint8_t status_code = 1u << 3;
} // namespace self_test_valid

// ---------------------------------------------------------------------------
// 81h Sanitize Status
// ---------------------------------------------------------------------------

/// Sanitize Status (LID 81h), NVMe Base 2.0 Figure 259.
struct SanitizeStatusLog {
    uint16_t sprog; ///< progress, numerator of n/65536
    uint16_t sstat;
    uint32_t scdw10;
    uint32_t eto;   ///< estimated time for overwrite, seconds
    uint32_t etbe;  ///< block erase
    uint32_t etce;  ///< crypto erase
    uint32_t etond; ///< overwrite, no-deallocate
    uint32_t etbend;
    uint32_t etcend;
    std::array<uint8_t, 480> rsvd32;
};
static_assert(sizeof(SanitizeStatusLog) == 512 && offsetof(SanitizeStatusLog, etcend) == 28);

} // namespace nvme
