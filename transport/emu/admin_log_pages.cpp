// Get Log Page (NVMe Base 2.0, 5.16): the log pages a plausible SSD offers
// and nvme-cli / smartctl read.
//
// Each log is built whole into a small buffer, then the window the command
// asks for (LPO, NUMD) is copied to the host; bytes past the end of the log
// are returned as zeroes, like real controllers do. A read with RAE=0
// retires the asynchronous event attached to the log (5.2, 5.16).
#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>
#include <vector>

#include "command_table.hpp"
#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

using nvme::LogPageId;
namespace glp = nvme::cmd::get_log_page;

/// SQE byte offsets named in Parameter Error Location.
constexpr std::uint16_t sqe_byte_nsid = 4;
constexpr std::uint16_t sqe_byte_lid = 40;   // CDW10 bits 7:0
constexpr std::uint16_t sqe_byte_numdl = 42; // CDW10 bits 31:16
constexpr std::uint16_t sqe_byte_lpo = 48;   // CDW12
constexpr std::uint16_t sqe_byte_ot = 58;    // CDW14 bit 23
constexpr std::uint8_t ot_bit = 7;
constexpr std::uint16_t sqe_byte_csi = 59; // CDW14 bits 31:24

constexpr std::size_t min_memory_page_size = 4096;

nvme::Status invalid_field()
{
    return nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
}

template <class T> void put(std::span<std::byte> out, const T& value)
{
    static_assert(std::is_trivially_copyable_v<T>);
    std::memcpy(out.data(), &value, std::min(out.size(), sizeof value));
}

std::uint32_t minutes_between(std::chrono::steady_clock::time_point from,
                              std::chrono::steady_clock::time_point to)
{
    if (to <= from) return 0;
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(to - from).count();
    return static_cast<std::uint32_t>(std::min<std::int64_t>(minutes, UINT32_MAX));
}

} // namespace

/// One builder per supported log page; nested in the controller so it may
/// read its state. A builder fills `log` (zeroed, the log's full size).
struct EmulatedController::LogPageBuilder {
    using Build = Outcome (*)(EmulatedController&, const CommandContext&, std::span<std::byte> log);
    struct Entry {
        LogPageId lid;
        std::size_t size;
        Build build;
    };

    /// 00h: one dword per LID, LSUPP for those in the table (Figure 205).
    static Outcome supported_log_pages(EmulatedController&, const CommandContext&,
                                       std::span<std::byte> log)
    {
        nvme::SupportedLogPagesLog page{};
        for (const Entry& e : table)
            page.lids[static_cast<std::size_t>(e.lid)] = nvme::supported_log_page::lsupp;
        put(log, page);
        return Outcome::success();
    }

    /// 01h: ELPE+1 entries, most recent first; unused entries are zero. The
    /// NSID field is not used by this log.
    static Outcome error_information(EmulatedController& self, const CommandContext&,
                                     std::span<std::byte> log)
    {
        std::size_t at = 0;
        for (const auto& entry : self.error_log_) {
            if (at + sizeof entry > log.size()) break;
            put(log.subspan(at), entry);
            at += sizeof entry;
        }
        return Outcome::success();
    }

    /// 02h: controller-wide health. LPA bit 0 is clear (no per-namespace
    /// data), so only NSID 0 and FFFFFFFFh are accepted (5.16.1.3).
    static Outcome smart_health(EmulatedController& self, const CommandContext& c,
                                std::span<std::byte> log)
    {
        if (c.sqe.nsid != 0 && c.sqe.nsid != nvme::nsid_all)
            return Outcome::field_error(invalid_field(), sqe_byte_nsid);
        const ControllerConfig& cfg = self.config_;
        const HealthCounters& h = self.health_;
        nvme::SmartHealthLog page{};
        const std::uint16_t temperature = cfg.temperature_kelvin;
        // Temperature Threshold feature (FID 04h), composite sensor.
        if (temperature >= self.over_temperature_threshold() ||
            temperature < self.under_temperature_threshold())
            page.critical_warning |= nvme::critical_warning::temperature;
        page.composite_temperature.set(temperature);
        page.avail_spare = 100;
        page.avail_spare_thresh = 10;
        page.percent_used = 0;
        page.data_units_read = h.data_units_read;
        page.data_units_written = h.data_units_written;
        page.host_read_commands = h.host_read_commands;
        page.host_write_commands = h.host_write_commands;
        page.controller_busy_time = h.controller_busy_time;
        page.power_cycles = h.power_cycles;
        page.power_on_hours = nvme::Uint128::from(self.power_on_hours());
        page.unsafe_shutdowns = h.unsafe_shutdowns;
        page.media_errors = h.media_errors;
        page.num_err_log_entries = nvme::Uint128::from(self.error_count_);
        // The composite temperature is constant: it has been above a
        // threshold for as long as the controller has existed, or never.
        const std::uint32_t alive = minutes_between(self.created_at_, self.now());
        if (temperature >= cfg.warning_temperature_kelvin &&
            temperature < cfg.critical_temperature_kelvin)
            page.warning_temp_time = alive;
        if (temperature >= cfg.critical_temperature_kelvin) page.critical_comp_time = alive;
        page.temp_sensor[0] = temperature;
        put(log, page);
        return Outcome::success();
    }

    /// 03h: active slot, slot activated at the next reset, each slot's revision.
    static Outcome firmware_slot(EmulatedController& self, const CommandContext&,
                                 std::span<std::byte> log)
    {
        nvme::FirmwareSlotLog page{};
        page.afi = static_cast<std::uint8_t>(nvme::afi::ActiveSlot::make(self.active_slot_) |
                                             nvme::afi::NextResetSlot::make(self.next_reset_slot_));
        const std::size_t slots =
            std::min<std::size_t>(self.config_.firmware_slots, page.frs.size());
        for (std::size_t i = 0; i < slots; ++i)
            page.frs[i] = self.firmware_slots_[i];
        put(log, page);
        return Outcome::success();
    }

    /// 04h: NSIDs whose attributes changed; FFFFFFFFh first on overflow.
    /// Reading it with RAE=0 clears it (after the copy, in admin_get_log_page).
    static Outcome changed_namespace_list(EmulatedController& self, const CommandContext&,
                                          std::span<std::byte> log)
    {
        nvme::ChangedNamespaceList page{};
        const std::size_t n = std::min(self.changed_namespaces_.size(), page.nsid.size());
        std::copy_n(self.changed_namespaces_.begin(), n, page.nsid.begin());
        put(log, page);
        return Outcome::success();
    }

    /// 05h: from the same opcode tables the dispatcher uses (NVM command set).
    static Outcome commands_supported_effects(EmulatedController&, const CommandContext& c,
                                              std::span<std::byte> log)
    {
        if (static_cast<nvme::CommandSet>(glp::Csi::get(c.sqe)) != nvme::CommandSet::nvm)
            return Outcome::field_error(invalid_field(), sqe_byte_csi);
        nvme::CommandsSupportedEffectsLog page{};
        fill_effects_log(page);
        put(log, page);
        return Outcome::success();
    }

    /// 06h: the operation in progress and the last 20 results, newest first;
    /// unused result slots say "entry not used" (Figure 213).
    static Outcome device_self_test(EmulatedController& self, const CommandContext&,
                                    std::span<std::byte> log)
    {
        self.update_self_test();
        nvme::DeviceSelfTestLog page{};
        std::tie(page.current_operation, page.current_completion) = self.self_test_progress();
        for (std::size_t i = 0; i < page.result.size(); ++i) {
            if (i < self.self_test_results_.size()) {
                page.result[i] = self.self_test_results_[i];
            } else {
                page.result[i].device_self_test_status =
                    static_cast<std::uint8_t>(nvme::SelfTestResultCode::entry_not_used);
            }
        }
        put(log, page);
        return Outcome::success();
    }

    static constexpr std::array<Entry, 7> table{{
        {LogPageId::supported_log_pages, sizeof(nvme::SupportedLogPagesLog), &supported_log_pages},
        {LogPageId::error_information, error_log_entries * sizeof(nvme::ErrorInformationEntry),
         &error_information},
        {LogPageId::smart_health, sizeof(nvme::SmartHealthLog), &smart_health},
        {LogPageId::firmware_slot, sizeof(nvme::FirmwareSlotLog), &firmware_slot},
        {LogPageId::changed_namespace_list, sizeof(nvme::ChangedNamespaceList),
         &changed_namespace_list},
        {LogPageId::commands_supported_effects, sizeof(nvme::CommandsSupportedEffectsLog),
         &commands_supported_effects},
        {LogPageId::device_self_test, sizeof(nvme::DeviceSelfTestLog), &device_self_test},
    }};
};

Outcome EmulatedController::admin_get_log_page(const CommandContext& c)
{
    const auto& sqe = c.sqe;
    const auto lid = static_cast<LogPageId>(glp::Lid::get(sqe));
    const auto& table = LogPageBuilder::table;
    const auto* entry = std::ranges::find(table, lid, &LogPageBuilder::Entry::lid);
    if (entry == table.end())
        return Outcome::field_error(
            nvme::Status(nvme::CommandSpecificStatus::invalid_log_page).with_dnr(), sqe_byte_lid);
    // LPO as an index (OT=1) is not supported by any of these logs (LPA/LID
    // support data report IOS = 0).
    if (glp::Ot::get(sqe) != 0) return Outcome::field_error(invalid_field(), sqe_byte_ot, ot_bit);

    const std::uint64_t offset = glp::lpo(sqe);
    if (offset % 4 != 0 || offset > entry->size)
        return Outcome::field_error(invalid_field(), sqe_byte_lpo);

    const std::uint64_t requested = glp::num_bytes(sqe);
    if (config_.mdts != 0 && requested > (std::uint64_t{min_memory_page_size} << config_.mdts))
        return Outcome::field_error(invalid_field(), sqe_byte_numdl);
    if (c.data.size() < requested) return nvme::Status(nvme::GenericStatus::data_transfer_error);

    std::vector<std::byte> log(entry->size);
    if (Outcome built = entry->build(*this, c, log); !built.status.is_success()) return built;

    const std::size_t window = std::min<std::size_t>(requested, entry->size - offset);
    const auto out = c.data.first(requested);
    std::memcpy(out.data(), log.data() + offset, window);
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(window), out.end(), std::byte{0});

    if (glp::Rae::get(sqe) == 0) {
        if (lid == LogPageId::changed_namespace_list) changed_namespaces_.clear();
        clear_event(lid);
    }
    return Outcome::success();
}

} // namespace nvmecuse::emu
