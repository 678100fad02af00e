// Feature identifiers and the layouts of their values (NVMe Base 2.0, 5.27.1
// "Set Features", Figure 317 onwards). Values travel in Set Features cdw11
// and Get Features completion dw0 unless a data structure is noted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bits.hpp"

namespace nvme {

/// Feature Identifiers, NVMe Base 2.0 Figure 317.
enum class FeatureId : uint8_t {
    arbitration = 0x01,
    power_management = 0x02,
    lba_range_type = 0x03,
    temperature_threshold = 0x04,
    error_recovery = 0x05,
    volatile_write_cache = 0x06,
    number_of_queues = 0x07,
    interrupt_coalescing = 0x08,
    interrupt_vector_configuration = 0x09,
    write_atomicity_normal = 0x0a,
    async_event_configuration = 0x0b,
    autonomous_power_state_transition = 0x0c,
    host_memory_buffer = 0x0d,
    timestamp = 0x0e,
    keep_alive_timer = 0x0f,
    host_controlled_thermal_management = 0x10,
    non_operational_power_state_config = 0x11,
    read_recovery_level_config = 0x12,
    predictable_latency_mode_config = 0x13,
    predictable_latency_mode_window = 0x14,
    lba_status_information_attributes = 0x15,
    host_behavior_support = 0x16,
    sanitize_config = 0x17,
    endurance_group_event_configuration = 0x18,
    io_command_set_profile = 0x19,
    spinup_control = 0x1a,
    enhanced_controller_metadata = 0x7d,
    controller_metadata = 0x7e,
    namespace_metadata = 0x7f,
    software_progress_marker = 0x80,
    host_identifier = 0x81,
    reservation_notification_mask = 0x82,
    reservation_persistence = 0x83,
    namespace_write_protection_config = 0x84,
};

namespace detail {
inline constexpr auto feature_names = std::to_array<NameEntry<FeatureId>>({
    {FeatureId::arbitration, "Arbitration"},
    {FeatureId::power_management, "Power Management"},
    {FeatureId::lba_range_type, "LBA Range Type"},
    {FeatureId::temperature_threshold, "Temperature Threshold"},
    {FeatureId::error_recovery, "Error Recovery"},
    {FeatureId::volatile_write_cache, "Volatile Write Cache"},
    {FeatureId::number_of_queues, "Number of Queues"},
    {FeatureId::interrupt_coalescing, "Interrupt Coalescing"},
    {FeatureId::interrupt_vector_configuration, "Interrupt Vector Configuration"},
    {FeatureId::write_atomicity_normal, "Write Atomicity Normal"},
    {FeatureId::async_event_configuration, "Asynchronous Event Configuration"},
    {FeatureId::autonomous_power_state_transition, "Autonomous Power State Transition"},
    {FeatureId::host_memory_buffer, "Host Memory Buffer"},
    {FeatureId::timestamp, "Timestamp"},
    {FeatureId::keep_alive_timer, "Keep Alive Timer"},
    {FeatureId::host_controlled_thermal_management, "Host Controlled Thermal Management"},
    {FeatureId::non_operational_power_state_config, "Non-Operational Power State Config"},
    {FeatureId::read_recovery_level_config, "Read Recovery Level Config"},
    {FeatureId::predictable_latency_mode_config, "Predictable Latency Mode Config"},
    {FeatureId::predictable_latency_mode_window, "Predictable Latency Mode Window"},
    {FeatureId::lba_status_information_attributes, "LBA Status Information Attributes"},
    {FeatureId::host_behavior_support, "Host Behavior Support"},
    {FeatureId::sanitize_config, "Sanitize Config"},
    {FeatureId::endurance_group_event_configuration, "Endurance Group Event Configuration"},
    {FeatureId::io_command_set_profile, "I/O Command Set Profile"},
    {FeatureId::spinup_control, "Spinup Control"},
    {FeatureId::enhanced_controller_metadata, "Enhanced Controller Metadata"},
    {FeatureId::controller_metadata, "Controller Metadata"},
    {FeatureId::namespace_metadata, "Namespace Metadata"},
    {FeatureId::software_progress_marker, "Software Progress Marker"},
    {FeatureId::host_identifier, "Host Identifier"},
    {FeatureId::reservation_notification_mask, "Reservation Notification Mask"},
    {FeatureId::reservation_persistence, "Reservation Persistence"},
    {FeatureId::namespace_write_protection_config, "Namespace Write Protection Config"},
});
} // namespace detail

/// Spec name of a feature ("Number of Queues"); "Unknown" otherwise.
[[nodiscard]] constexpr std::string_view name(FeatureId f) noexcept
{
    return lookup_name(detail::feature_names, f);
}

/// Get Features Select (cdw10 bits 10:8), NVMe Base 2.0 Figure 190.
enum class FeatureSelect : uint8_t {
    current = 0,
    default_ = 1,
    saved = 2,
    supported_capabilities = 3
};

/// Completion dw0 of Get Features with FeatureSelect::supported_capabilities.
namespace feature_capabilities {
inline constexpr uint32_t saveable = 1u << 0;
inline constexpr uint32_t namespace_specific = 1u << 1;
inline constexpr uint32_t changeable = 1u << 2;
} // namespace feature_capabilities

/// Value layouts per feature (cdw11 / dw0).
namespace feat {

/// 01h Arbitration.
namespace arbitration {
using Ab = Field<0, 3>; ///< arbitration burst, log2; 7 = no limit
using Lpw = Field<8, 8>;
using Mpw = Field<16, 8>;
using Hpw = Field<24, 8>;
} // namespace arbitration

/// 02h Power Management.
namespace power_management {
using Ps = Field<0, 5>; ///< power state
using Wh = Field<5, 3>; ///< workload hint
} // namespace power_management

/// 03h LBA Range Type: dw0 Num (5:0, 0's based count of entries); data is
/// LbaRangeType[64].
namespace lba_range_type {
using Num = Field<0, 6>;
}

/// 04h Temperature Threshold.
namespace temperature_threshold {
using Tmpth = Field<0, 16>;  ///< threshold in Kelvin
using Tmpsel = Field<16, 4>; ///< 0 composite, 1..8 sensor, 0xf all
using Thsel = Field<20, 2>;  ///< ThresholdType
enum class ThresholdType : uint8_t { over = 0, under = 1 };
} // namespace temperature_threshold

/// 05h Error Recovery.
namespace error_recovery {
using Tler = Field<0, 16>; ///< time limited error recovery, 100 ms units
using Dulbe = Bit<16>;     ///< deallocated or unwritten logical block error enable
} // namespace error_recovery

/// 06h Volatile Write Cache.
namespace volatile_write_cache {
using Wce = Bit<0>;
}

/// 07h Number of Queues: cdw11 requests NSQR/NCQR, dw0 returns NSQA/NCQA;
/// all 0's based.
namespace number_of_queues {
using Nsqr = Field<0, 16>;
using Ncqr = Field<16, 16>;
using Nsqa = Nsqr;
using Ncqa = Ncqr;
/// Value for `sq` submission and `cq` completion queues (1-based counts).
[[nodiscard]] constexpr uint32_t make(uint32_t sq, uint32_t cq) noexcept
{
    return Nsqr::make(sq - 1) | Ncqr::make(cq - 1);
}
} // namespace number_of_queues

/// 08h Interrupt Coalescing.
namespace interrupt_coalescing {
using Thr = Field<0, 8>;  ///< aggregation threshold, 0's based
using Time = Field<8, 8>; ///< aggregation time, 100 us units
} // namespace interrupt_coalescing

/// 09h Interrupt Vector Configuration.
namespace interrupt_vector_configuration {
using Iv = Field<0, 16>;
using Cd = Bit<16>; ///< coalescing disable
} // namespace interrupt_vector_configuration

/// 0Ah Write Atomicity Normal.
namespace write_atomicity_normal {
using Dn = Bit<0>; ///< disable normal (AWUN/NAWUN do not apply)
}

/// 0Bh Asynchronous Event Configuration.
namespace async_event_configuration {
using SmartCriticalWarnings = Field<0, 8>; ///< one enable per critical_warning bit
using NamespaceAttributeNotices = Bit<8>;
using FirmwareActivationNotices = Bit<9>;
using TelemetryLogNotices = Bit<10>;
using AnaChangeNotices = Bit<11>;
using PredictableLatencyAggregateNotices = Bit<12>;
using LbaStatusInformationNotices = Bit<13>;
using EnduranceGroupAggregateNotices = Bit<14>;
using NormalNvmSubsystemShutdownNotices = Bit<15>;
using ZoneDescriptorChangedNotices = Bit<27>;
using DiscoveryLogPageChangeNotices = Bit<31>;
} // namespace async_event_configuration

/// 0Ch Autonomous Power State Transition: cdw11 APSTE bit 0; data is
/// ApstTable.
namespace autonomous_power_state_transition {
using Apste = Bit<0>;
/// One entry of the table: ITPS 7:3 (idle transition power state),
/// ITPT 31:8 (idle time prior to transition, ms).
using Itps = Field<3, 5, uint64_t>;
using Itpt = Field<8, 24, uint64_t>;
} // namespace autonomous_power_state_transition

/// 0Dh Host Memory Buffer.
namespace host_memory_buffer {
using Ehm = Bit<0>; ///< enable host memory
using Mr = Bit<1>;  ///< memory return
} // namespace host_memory_buffer

/// 0Fh Keep Alive Timer: cdw11 is KATO in milliseconds.
namespace keep_alive_timer {
using Kato = Field<0, 32>;
}

/// 10h Host Controlled Thermal Management.
namespace host_controlled_thermal_management {
using Tmt2 = Field<0, 16>;
using Tmt1 = Field<16, 16>;
} // namespace host_controlled_thermal_management

/// 11h Non-Operational Power State Config.
namespace non_operational_power_state_config {
using Noppme = Bit<0>;
}

/// 80h Software Progress Marker.
namespace software_progress_marker {
using Pbslc = Field<0, 8>; ///< pre-boot software load count
}

/// 81h Host Identifier: cdw11 EXHID bit 0 selects a 128-bit identifier; data
/// is the 8- or 16-byte host identifier.
namespace host_identifier {
using Exhid = Bit<0>;
}

/// 82h Reservation Notification Mask.
namespace reservation_notification_mask {
using Regpre = Bit<1>;
using Resrel = Bit<2>;
using Respre = Bit<3>;
} // namespace reservation_notification_mask

/// 83h Reservation Persistence.
namespace reservation_persistence {
using Ptpl = Bit<0>; ///< persist through power loss
}

/// 84h Namespace Write Protection Config.
namespace namespace_write_protection_config {
using Wps = Field<0, 3>;
enum class State : uint8_t {
    no_write_protect = 0,
    write_protect = 1,
    write_protect_until_power_cycle = 2,
    permanent_write_protect = 3,
};
} // namespace namespace_write_protection_config

} // namespace feat

/// LBA Range Type entry (feature 03h data), NVMe Base 2.0 Figure 327.
struct LbaRangeType {
    uint8_t type;
    uint8_t attributes; ///< bit 0 overwriteable, bit 1 hidden
    std::array<uint8_t, 14> rsvd2;
    uint64_t slba;
    uint64_t nlb; ///< 0's based
    std::array<uint8_t, 16> guid;
    std::array<uint8_t, 16> rsvd48;
};
static_assert(sizeof(LbaRangeType) == 64 && offsetof(LbaRangeType, slba) == 16 &&
              offsetof(LbaRangeType, guid) == 32);

/// Autonomous Power State Transition data (feature 0Ch): one entry per
/// power state, see feat::autonomous_power_state_transition::Itps/Itpt.
struct ApstTable {
    std::array<uint64_t, 32> entry;
};
static_assert(sizeof(ApstTable) == 256);

/// Timestamp data structure (feature 0Eh), NVMe Base 2.0 Figure 342:
/// milliseconds since the Unix epoch in bytes 5:0, attributes in byte 6.
struct TimestampData {
    std::array<uint8_t, 6> timestamp;
    uint8_t attributes; ///< synch bit 0, timestamp origin 3:1
    uint8_t rsvd7;

    [[nodiscard]] constexpr uint64_t milliseconds() const noexcept
    {
        uint64_t v = 0;
        for (std::size_t i = 0; i < timestamp.size(); ++i)
            v |= static_cast<uint64_t>(timestamp[i]) << (8 * i);
        return v;
    }
    constexpr void set_milliseconds(uint64_t ms) noexcept
    {
        for (std::size_t i = 0; i < timestamp.size(); ++i)
            timestamp[i] = static_cast<uint8_t>(ms >> (8 * i));
    }
};
static_assert(sizeof(TimestampData) == 8 && offsetof(TimestampData, attributes) == 6);

namespace timestamp_attributes {
using Synch = Bit<0, uint8_t>; ///< controller may have stopped counting
using Origin = Field<1, 3, uint8_t>;
enum class TimestampOrigin : uint8_t { reset = 0, set_features = 1 };
} // namespace timestamp_attributes

} // namespace nvme
