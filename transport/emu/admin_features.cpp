// Get Features / Set Features (NVMe Base 2.0, 5.15 / 5.27, 5.27.1 "Feature
// Values"). One table lists the supported Feature Identifiers with their
// capabilities; most features are a plain cdw11 value kept in `features_`
// (current and saved, per nsid for namespace specific ones), a few have a
// kind of their own (Number of Queues, Temperature Threshold, Interrupt
// Vector Configuration, Timestamp, Host Identifier).
#include <algorithm>
#include <cstring>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

using nvme::FeatureId;
namespace caps = nvme::feature_capabilities;
namespace fcmd = nvme::cmd::features;

// SQE byte offsets for Parameter Error Location.
constexpr std::uint16_t cdw10_byte = 40;
constexpr std::uint16_t cdw11_byte = 44;
constexpr std::uint16_t nsid_byte = 4;

/// Power states the controller describes in Identify (NPSS = 2, 0's based).
constexpr std::uint32_t power_state_count = 3;
/// Keep Alive granularity: Identify KAS = 10 (100 ms units).
constexpr std::uint32_t keep_alive_granularity_ms = 1000;

enum class Kind : std::uint8_t {
    value,                  ///< cdw11 & mask, per nsid when namespace specific
    number_of_queues,       ///< granted_io_queues_
    temperature_threshold,  ///< one value per TMPSEL/THSEL
    interrupt_vector,       ///< one value per interrupt vector
    timestamp,              ///< 8-byte data structure
    host_identifier,        ///< 8- or 16-byte data structure
};

struct FeatureRow {
    FeatureId fid;
    Kind kind;
    std::uint32_t capabilities;  ///< nvme::feature_capabilities bits
    std::uint32_t mask;          ///< cdw11 bits kept (Kind::value)
    std::uint32_t default_value;
    /// Bit of cdw11 that makes a value invalid (-1 when valid), Kind::value only.
    int (*invalid_bit)(std::uint32_t cdw11);
};

constexpr int no_invalid_bit(std::uint32_t) { return -1; }

constexpr int power_management_invalid_bit(std::uint32_t v)
{
    using nvme::feat::power_management::Ps;
    return Ps::get(v) >= power_state_count ? static_cast<int>(Ps::lo) : -1;
}

constexpr int error_recovery_invalid_bit(std::uint32_t v)
{
    // DULBE needs Deallocated or Unwritten Logical Block error support
    // (Identify Namespace NSFEAT bit 2), which this controller lacks.
    return nvme::feat::error_recovery::Dulbe::get(v) ? 16 : -1;
}

constexpr std::uint32_t saveable_changeable = caps::saveable | caps::changeable;

/// Supported features. Write Atomicity Normal is fixed (AWUN/NAWUN always
/// apply): it reports "not changeable". APST (0Ch) is absent: Identify
/// reports APSTA = 0.
constexpr auto feature_table = std::to_array<FeatureRow>({
    {FeatureId::arbitration, Kind::value, saveable_changeable, 0xffffff07u,
     nvme::feat::arbitration::Ab::make(7), no_invalid_bit},
    {FeatureId::power_management, Kind::value, saveable_changeable, 0xffu, 0,
     power_management_invalid_bit},
    {FeatureId::temperature_threshold, Kind::temperature_threshold, saveable_changeable, 0, 0,
     no_invalid_bit},
    {FeatureId::error_recovery, Kind::value,
     saveable_changeable | caps::namespace_specific, 0x1ffffu, 0, error_recovery_invalid_bit},
    {FeatureId::volatile_write_cache, Kind::value, saveable_changeable, 0x1u,
     nvme::feat::volatile_write_cache::Wce::mask, no_invalid_bit},
    {FeatureId::number_of_queues, Kind::number_of_queues, caps::changeable, 0, 0, no_invalid_bit},
    {FeatureId::interrupt_coalescing, Kind::value, saveable_changeable, 0xffffu, 0,
     no_invalid_bit},
    {FeatureId::interrupt_vector_configuration, Kind::interrupt_vector, saveable_changeable,
     0x1ffffu, 0, no_invalid_bit},
    {FeatureId::write_atomicity_normal, Kind::value, caps::saveable, 0x1u, 0, no_invalid_bit},
    // SMART critical warnings 7:0, namespace attribute (8) and firmware
    // activation (9) notices: the events this controller can raise.
    {FeatureId::async_event_configuration, Kind::value, saveable_changeable, 0x3ffu, 0,
     no_invalid_bit},
    {FeatureId::timestamp, Kind::timestamp, caps::changeable, 0, 0, no_invalid_bit},
    {FeatureId::keep_alive_timer, Kind::value, caps::changeable, 0xffffffffu, 0, no_invalid_bit},
    {FeatureId::software_progress_marker, Kind::value, caps::changeable, 0xffu, 0,
     no_invalid_bit},
    {FeatureId::host_identifier, Kind::host_identifier, caps::changeable, 0, 0, no_invalid_bit},
});

const FeatureRow* find_feature(std::uint32_t fid)
{
    const auto* it = std::ranges::find_if(
        feature_table, [fid](const FeatureRow& r) { return static_cast<std::uint32_t>(r.fid) == fid; });
    return it == feature_table.end() ? nullptr : it;
}

constexpr std::uint8_t key_of(FeatureId fid) { return static_cast<std::uint8_t>(fid); }

/// TMPSEL/THSEL of a Temperature Threshold cdw11, validated: only the
/// composite temperature (0) and sensor 1 exist; 0xf (all) only on Set.
std::optional<std::uint32_t> temperature_selector(std::uint32_t cdw11, bool set)
{
    using namespace nvme::feat::temperature_threshold;
    const std::uint32_t tmpsel = Tmpsel::get(cdw11);
    const std::uint32_t thsel = Thsel::get(cdw11);
    if (thsel > 1) return std::nullopt;
    if (tmpsel > 1 && !(set && tmpsel == 0xf)) return std::nullopt;
    return (tmpsel << 4) | thsel;
}

/// A command error blamed on an SQE field; Do Not Retry, like the others.
Outcome fail(nvme::Status s, std::uint16_t byte, std::uint8_t bit = 0)
{
    return Outcome::field_error(s.with_dnr(), byte, bit);
}

Outcome invalid_field(std::uint16_t byte, std::uint8_t bit = 0)
{
    return fail(nvme::GenericStatus::invalid_field, byte, bit);
}

std::uint64_t elapsed_ms(std::chrono::steady_clock::time_point from,
                         std::chrono::steady_clock::time_point to)
{
    if (to <= from) return 0;
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
}

} // namespace

// ---------------------------------------------------------------------------
// Stored values
// ---------------------------------------------------------------------------

std::uint32_t EmulatedController::feature_value(nvme::FeatureId fid, std::uint32_t nsid,
                                                std::uint32_t selector) const
{
    const FeatureRow* row = find_feature(static_cast<std::uint32_t>(fid));
    if (row == nullptr) return 0;
    switch (row->kind) {
    case Kind::number_of_queues: {
        const std::uint32_t g = granted_io_queues_ != 0 ? granted_io_queues_ : config_.max_io_queues;
        return nvme::feat::number_of_queues::make(g, g);
    }
    case Kind::temperature_threshold: {
        const auto key = std::pair{key_of(fid), selector & 0x13u};
        if (auto it = features_.current.find(key); it != features_.current.end()) return it->second;
        return (selector & 0x3u) == 0 ? config_.warning_temperature_kelvin : 0u;
    }
    case Kind::timestamp:
    case Kind::host_identifier: return 0;
    case Kind::interrupt_vector:
    case Kind::value: break;
    }
    const std::uint32_t key = (row->capabilities & caps::namespace_specific) != 0 ? nsid : selector;
    if (auto it = features_.current.find({key_of(fid), key}); it != features_.current.end())
        return it->second;
    return row->kind == Kind::interrupt_vector ? key : row->default_value;
}

bool EmulatedController::async_event_enabled(std::uint32_t mask) const
{
    return (feature_value(FeatureId::async_event_configuration) & mask) == mask;
}

std::uint16_t EmulatedController::over_temperature_threshold() const
{
    return static_cast<std::uint16_t>(feature_value(FeatureId::temperature_threshold, 0, 0x00));
}

std::uint16_t EmulatedController::under_temperature_threshold() const
{
    return static_cast<std::uint16_t>(feature_value(FeatureId::temperature_threshold, 0, 0x01));
}

bool EmulatedController::write_cache_enabled() const
{
    return nvme::feat::volatile_write_cache::Wce::get(
        feature_value(FeatureId::volatile_write_cache));
}

void EmulatedController::reset_features()
{
    // NVMe Base 2.0, 5.27.1: after a Controller Level Reset the current value
    // of each feature is its saved value (or the default when none is saved).
    features_.current = features_.saved;
    granted_io_queues_ = 0;
    io_queues_created_ = false;
    timestamp_set_by_host_ = false;
    timestamp_ms_at_set_ = 0;
    timestamp_set_at_ = now();
    host_identifier_ = {};
    host_identifier_extended_ = false;
}

void EmulatedController::on_controller_reset()
{
    reset_features();
    apply_pending_firmware();
    abort_self_test(nvme::SelfTestResultCode::aborted_by_controller_reset);
}

// ---------------------------------------------------------------------------
// Get Features (NVMe Base 2.0, 5.15)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_get_features(const CommandContext& c)
{
    const auto& sqe = c.sqe;
    const FeatureRow* row = find_feature(fcmd::Fid::get(sqe));
    if (row == nullptr) return invalid_field(cdw10_byte);
    const auto sel = static_cast<nvme::FeatureSelect>(fcmd::Sel::get(sqe));
    if (fcmd::Sel::get(sqe) > 3) return invalid_field(cdw10_byte + 1);

    const bool ns_specific = (row->capabilities & caps::namespace_specific) != 0;
    if (ns_specific) {
        if (!nsid_in_range(sqe.nsid))
            return fail(nvme::GenericStatus::invalid_namespace_or_format, nsid_byte);
        auto it = namespaces_.find(sqe.nsid);
        if (it == namespaces_.end() || !it->second.attached) return invalid_field(nsid_byte);
    }
    if (sel == nvme::FeatureSelect::supported_capabilities)
        return Outcome::success(row->capabilities);

    // Saved values exist only for saveable features; otherwise "saved" reads
    // the default (5.15.1: SEL 010b).
    const bool use_default = sel == nvme::FeatureSelect::default_ ||
                             (sel == nvme::FeatureSelect::saved &&
                              (row->capabilities & caps::saveable) == 0);
    const auto& store = sel == nvme::FeatureSelect::saved ? features_.saved : features_.current;
    auto lookup = [&](std::uint32_t key, std::uint32_t fallback) {
        if (use_default) return fallback;
        auto it = store.find({key_of(row->fid), key});
        return it == store.end() ? fallback : it->second;
    };

    switch (row->kind) {
    case Kind::value: {
        const std::uint32_t key = ns_specific ? sqe.nsid : 0;
        return Outcome::success(lookup(key, row->default_value));
    }
    case Kind::number_of_queues: {
        const std::uint32_t g = (use_default || granted_io_queues_ == 0) ? config_.max_io_queues
                                                                          : granted_io_queues_;
        return Outcome::success(nvme::feat::number_of_queues::make(g, g));
    }
    case Kind::temperature_threshold: {
        auto selector = temperature_selector(sqe.cdw11, false);
        if (!selector) return invalid_field(cdw11_byte + 2);
        const std::uint32_t fallback = (*selector & 0x3u) == 0 ? config_.warning_temperature_kelvin : 0u;
        const std::uint32_t tmpth = lookup(*selector, fallback);
        return Outcome::success(tmpth | (sqe.cdw11 & 0x003f0000u));
    }
    case Kind::interrupt_vector: {
        using namespace nvme::feat::interrupt_vector_configuration;
        const std::uint32_t iv = Iv::get(sqe.cdw11);
        if (iv > config_.max_io_queues) return invalid_field(cdw11_byte);
        return Outcome::success(lookup(iv, iv));
    }
    case Kind::timestamp: {
        nvme::TimestampData ts{};
        if (sel == nvme::FeatureSelect::current) {
            const auto base_at = timestamp_set_at_ == std::chrono::steady_clock::time_point{}
                                     ? created_at_
                                     : timestamp_set_at_;
            ts.set_milliseconds((timestamp_ms_at_set_ + elapsed_ms(base_at, now())) &
                                0xffffffffffffull);
            using namespace nvme::timestamp_attributes;
            ts.attributes = Origin::make(static_cast<std::uint8_t>(
                timestamp_set_by_host_ ? TimestampOrigin::set_features : TimestampOrigin::reset));
        }
        if (auto s = to_host(c, ts); !s.is_success()) return s;
        return Outcome::success();
    }
    case Kind::host_identifier: {
        const bool extended = nvme::feat::host_identifier::Exhid::get(sqe.cdw11);
        const bool unset = std::ranges::all_of(host_identifier_, [](std::byte b) { return b == std::byte{0}; });
        if (!unset && extended != host_identifier_extended_)
            return fail(nvme::GenericStatus::host_identifier_inconsistent_format,
                                        cdw11_byte);
        std::array<std::byte, 16> id{};
        if (!use_default) id = host_identifier_;
        const std::size_t size = extended ? 16 : 8;
        if (auto s = to_host(c, std::span<const std::byte>(id.data(), size)); !s.is_success()) return s;
        return Outcome::success(sqe.cdw11 & 1u);
    }
    }
    return invalid_field(cdw10_byte);
}

// ---------------------------------------------------------------------------
// Set Features (NVMe Base 2.0, 5.27)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_set_features(const CommandContext& c)
{
    const auto& sqe = c.sqe;
    const bool save = fcmd::Sv::get(sqe) != 0;
    const FeatureRow* row = find_feature(fcmd::Fid::get(sqe));
    if (row == nullptr) return invalid_field(cdw10_byte);
    if (save && (row->capabilities & caps::saveable) == 0)
        return fail(nvme::CommandSpecificStatus::feature_identifier_not_saveable,
                                    cdw10_byte + 3, 7);

    // Which namespaces a namespace specific value applies to.
    std::vector<std::uint32_t> targets;
    if ((row->capabilities & caps::namespace_specific) != 0) {
        if (sqe.nsid == nvme::nsid_all) {
            for (const auto& [nsid, ns] : namespaces_)
                if (ns.attached) targets.push_back(nsid);
        } else if (!nsid_in_range(sqe.nsid)) {
            return fail(nvme::GenericStatus::invalid_namespace_or_format, nsid_byte);
        } else if (auto it = namespaces_.find(sqe.nsid); it == namespaces_.end() || !it->second.attached) {
            return invalid_field(nsid_byte);
        } else {
            targets.push_back(sqe.nsid);
        }
    } else if (sqe.nsid != 0 && sqe.nsid != nvme::nsid_all) {
        if (!nsid_in_range(sqe.nsid))
            return fail(nvme::GenericStatus::invalid_namespace_or_format, nsid_byte);
        return fail(nvme::CommandSpecificStatus::feature_not_namespace_specific,
                                    nsid_byte);
    }
    if ((row->capabilities & caps::changeable) == 0)
        return fail(nvme::CommandSpecificStatus::feature_not_changeable, cdw10_byte);

    const std::uint8_t fid = key_of(row->fid);
    auto store = [&](std::uint32_t key, std::uint32_t value) {
        features_.current[{fid, key}] = value;
        if (save) features_.saved[{fid, key}] = value;
    };

    switch (row->kind) {
    case Kind::value: {
        if (int bit = row->invalid_bit(sqe.cdw11); bit >= 0)
            return invalid_field(static_cast<std::uint16_t>(cdw11_byte + bit / 8),
                                 static_cast<std::uint8_t>(bit % 8));
        std::uint32_t value = sqe.cdw11 & row->mask;
        if (row->fid == FeatureId::keep_alive_timer && value % keep_alive_granularity_ms != 0) {
            // 5.27.1.12: KATO is rounded up to the granularity Identify KAS reports.
            const std::uint64_t up = (std::uint64_t{value} / keep_alive_granularity_ms + 1) *
                                     keep_alive_granularity_ms;
            value = static_cast<std::uint32_t>(std::min<std::uint64_t>(
                up, 0xffffffffu / keep_alive_granularity_ms * keep_alive_granularity_ms));
        }
        if (targets.empty()) store(0, value);
        for (std::uint32_t nsid : targets) store(nsid, value);
        if (row->fid == FeatureId::keep_alive_timer) last_keep_alive_ = now();
        return Outcome::success();
    }
    case Kind::number_of_queues: {
        using namespace nvme::feat::number_of_queues;
        // 5.27.1.7: only before any I/O queue exists after a reset.
        if (io_queues_created_)
            return fail(nvme::GenericStatus::command_sequence_error, cdw10_byte);
        const std::uint32_t nsqr = Nsqr::get(sqe.cdw11);
        const std::uint32_t ncqr = Ncqr::get(sqe.cdw11);
        if (nsqr == 0xffff) return invalid_field(cdw11_byte);
        if (ncqr == 0xffff) return invalid_field(cdw11_byte + 2);
        // One grant for both kinds: the allocation may exceed a request.
        const std::uint32_t wanted = std::max(nsqr, ncqr) + 1;
        granted_io_queues_ = static_cast<std::uint16_t>(
            std::min<std::uint32_t>(wanted, config_.max_io_queues));
        return Outcome::success(make(granted_io_queues_, granted_io_queues_));
    }
    case Kind::temperature_threshold: {
        using namespace nvme::feat::temperature_threshold;
        auto selector = temperature_selector(sqe.cdw11, true);
        if (!selector) return invalid_field(cdw11_byte + 2);
        const std::uint32_t tmpth = Tmpth::get(sqe.cdw11);
        const std::uint32_t thsel = *selector & 0x3u;
        if ((*selector >> 4) == 0xf) {
            store(0x00 | thsel, tmpth);
            store(0x10 | thsel, tmpth);
        } else {
            store(*selector, tmpth);
        }
        // Crossing a threshold is a SMART temperature event (5.2, Figure 147).
        const auto t = config_.temperature_kelvin;
        if ((t >= over_temperature_threshold() || t < under_temperature_threshold()) &&
            async_event_enabled(nvme::critical_warning::temperature))
            raise_event(nvme::AsyncEventType::smart_health,
                        static_cast<std::uint8_t>(nvme::AsyncEventSmart::temperature_threshold),
                        nvme::LogPageId::smart_health);
        return Outcome::success();
    }
    case Kind::interrupt_vector: {
        using namespace nvme::feat::interrupt_vector_configuration;
        const std::uint32_t iv = Iv::get(sqe.cdw11);
        if (iv > config_.max_io_queues) return invalid_field(cdw11_byte);
        store(iv, sqe.cdw11 & row->mask);
        return Outcome::success();
    }
    case Kind::timestamp: {
        nvme::TimestampData ts{};
        if (c.data.size() < sizeof ts)
            return nvme::Status(nvme::GenericStatus::data_transfer_error);
        std::memcpy(&ts, c.data.data(), sizeof ts);
        timestamp_ms_at_set_ = ts.milliseconds();
        timestamp_set_at_ = now();
        timestamp_set_by_host_ = true;
        return Outcome::success();
    }
    case Kind::host_identifier: {
        const bool extended = nvme::feat::host_identifier::Exhid::get(sqe.cdw11);
        const std::size_t size = extended ? 16 : 8;
        if (c.data.size() < size) return nvme::Status(nvme::GenericStatus::data_transfer_error);
        host_identifier_ = {};
        std::memcpy(host_identifier_.data(), c.data.data(), size);
        host_identifier_extended_ = extended;
        return Outcome::success();
    }
    }
    return invalid_field(cdw10_byte);
}

} // namespace nvmecuse::emu
