// The emulated controller's core: configuration checks, namespace set-up,
// command dispatch, the Error Information log, SMART accounting and reset.
#include "emulated_controller.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <limits>
#include <set>
#include <string_view>

#include "nvmecuse/transport/emu/config_check.hpp"

#include "command_table.hpp"
#include "log.hpp"

namespace nvmecuse::emu {

namespace {

std::error_code invalid_config()
{
    return std::make_error_code(std::errc::invalid_argument);
}

/// Memory the RAM namespaces of `config` take once written (saturating).
std::uint64_t ram_bytes_total(const ControllerConfig& config)
{
    std::uint64_t total = 0;
    for (const auto& ns : config.namespaces) {
        if (__builtin_add_overflow(total, ram_bytes(ns), &total))
            return std::numeric_limits<std::uint64_t>::max();
    }
    return total;
}

/// FNV-1a, 64 bit: a stable hash for identifiers derived from the serial.
constexpr std::uint64_t fnv1a(std::string_view text, std::uint64_t seed)
{
    std::uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (const char ch : text) {
        h ^= static_cast<std::uint8_t>(ch);
        h *= 0x100000001b3ull;
    }
    return h;
}

void put_be(std::span<std::uint8_t> out, std::uint64_t v)
{
    for (std::size_t i = out.size(); i-- > 0;) {
        out[i] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
}

/// Thousands of 512-byte units, rounded up (NVMe Base 2.0, Figure 207).
nvme::Uint128 data_units(std::uint64_t bytes)
{
    return nvme::Uint128::from((bytes / 512 + 999) / 1000);
}

} // namespace

std::uint32_t EmulatedNamespace::lba_data_size() const
{
    return EmulatedController::lba_formats[lbaf_index].lba_data_size();
}

std::uint16_t EmulatedNamespace::metadata_size() const
{
    return EmulatedController::lba_formats[lbaf_index].ms;
}

std::optional<std::uint8_t> EmulatedController::find_lba_format(std::uint32_t data_size,
                                                                std::uint16_t metadata_size)
{
    for (std::size_t i = 0; i < lba_formats.size(); ++i) {
        if (lba_formats[i].lba_data_size() == data_size && lba_formats[i].ms == metadata_size)
            return static_cast<std::uint8_t>(i);
    }
    return std::nullopt;
}

EmulatedController::EmulatedController(ControllerConfig config, Clock clock)
    : config_(std::move(config)), clock_(std::move(clock))
{
    if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
    created_at_ = clock_();
    last_keep_alive_ = created_at_;
    health_.power_cycles = nvme::Uint128::from(1); // this power-on
    std::fill(firmware_slots_.begin(), firmware_slots_.end(), std::array<char, 8>{});
    nvme::set_padded(firmware_slots_[0], config_.firmware);
    active_slot_ = 1;
}

std::expected<std::unique_ptr<EmulatedController>, std::error_code>
EmulatedController::create(ControllerConfig config, Clock clock)
{
    const std::uint64_t memory = host_memory_bytes();
    if (auto checked = check_controller_config(config, memory); !checked) {
        // The error code cannot say which field: the log does.
        log().error("emulated controller refused: {}", checked.error());
        return std::unexpected(ram_bytes_total(config) > memory
                                   ? std::make_error_code(std::errc::not_enough_memory)
                                   : invalid_config());
    }
    std::unique_ptr<EmulatedController> ctrl(
        new EmulatedController(std::move(config), std::move(clock)));
    ctrl->ram_budget_ = memory;
    for (const auto& nc : ctrl->config_.namespaces) {
        EmulatedNamespace ns;
        ns.nsid = nc.nsid;
        ns.lbaf_index = *find_lba_format(nc.lba_data_size, nc.metadata_size);
        ns.extended_metadata = nc.extended_metadata && nc.metadata_size != 0;
        ns.nsze = nc.size_bytes / nc.lba_data_size;
        ns.capacity_bytes = nc.size_bytes;
        ns.attached = nc.attached;
        ctrl->assign_identifiers(ns);
        auto storage = ctrl->make_storage(ns, nc.backing_file);
        if (!storage) return std::unexpected(storage.error());
        ns.storage = std::move(*storage);
        ctrl->namespaces_.emplace(ns.nsid, std::move(ns));
    }
    return ctrl;
}

void EmulatedController::assign_identifiers(EmulatedNamespace& ns) const
{
    const std::string key = config_.serial + "/ns" + std::to_string(ns.nsid);
    const std::uint64_t a = fnv1a(key, 0);
    const std::uint64_t b = fnv1a(key, 0x9e3779b97f4a7c15ull);
    // EUI-64: the IEEE OUI in the first three bytes, then an extension.
    put_be(std::span(ns.eui64).first(3), config_.ieee_oui);
    put_be(std::span(ns.eui64).subspan(3), a);
    // NGUID: vendor specific extension identifier (8 bytes), then the
    // IEEE OUI and an extension identifier (NVMe Base 2.0, 4.5.3.2).
    put_be(std::span(ns.nguid).first(8), b);
    put_be(std::span(ns.nguid).subspan(8, 3), config_.ieee_oui);
    put_be(std::span(ns.nguid).subspan(11), a);
    // UUID: RFC 4122 version 4 layout (random-looking, but stable).
    put_be(std::span(ns.uuid).first(8), a ^ b);
    put_be(std::span(ns.uuid).subspan(8), b * 0x100000001b3ull);
    ns.uuid[6] = static_cast<std::uint8_t>((ns.uuid[6] & 0x0f) | 0x40);
    ns.uuid[8] = static_cast<std::uint8_t>((ns.uuid[8] & 0x3f) | 0x80);
}

std::expected<std::unique_ptr<NamespaceStorage>, std::error_code>
EmulatedController::make_storage(const EmulatedNamespace& ns, const std::string& backing_file)
{
    const std::uint64_t data = ns.nsze * ns.lba_data_size();
    const std::uint64_t metadata = ns.nsze * ns.metadata_size();
    if (!backing_file.empty()) return NamespaceStorage::open_file(backing_file, data, metadata);
    if (data + metadata < data || !ram_fits(data + metadata, ns.nsid))
        return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
    return NamespaceStorage::create_ram(data, metadata);
}

std::uint64_t EmulatedController::ram_in_use(std::uint32_t except) const
{
    std::uint64_t used = 0;
    for (const auto& [nsid, ns] : namespaces_) {
        if (nsid == except || !ns.storage || ns.storage->file_backed()) continue;
        used += ns.storage->data_bytes() + ns.storage->metadata_bytes();
    }
    return used;
}

namespace {
/// CLOCK_MONOTONIC_COARSE: a few ns to read, 1-4 ms resolution. Summing
/// coarse deltas over many commands estimates busy time without bias (a
/// command straddles a tick with probability duration/tick), at a fraction
/// of the cost of a precise clock read per command.
std::chrono::nanoseconds coarse_now() noexcept
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}
} // namespace

Outcome EmulatedController::execute(const CommandContext& c)
{
    const auto started = coarse_now();
    Outcome o;
    if (nvme::fuse(c.sqe) != nvme::Fuse::normal) {
        // FUSES = 0: no fused operations (NVMe Base 2.0, 3.4.2).
        o = Outcome::field_error(nvme::Status(nvme::GenericStatus::invalid_field).with_dnr(), 1);
    } else {
        o = c.qid == 0 ? execute_admin(c) : execute_io(c);
    }
    if (!o.deferred && !o.status.is_success()) record_error(c, o);
    // Controller Busy Time counts time with I/O commands outstanding.
    if (c.qid != 0) health_.busy += coarse_now() - started;
    health_.controller_busy_time = nvme::Uint128::from(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::minutes>(health_.busy).count()));
    return o;
}

Outcome EmulatedController::execute_admin(const CommandContext& c)
{
    const CommandInfo* info = CommandTable::admin(c.sqe.opc);
    if (info == nullptr)
        return Outcome::field_error(nvme::Status(nvme::GenericStatus::invalid_opcode).with_dnr(),
                                    0);
    return (this->*info->handler)(c);
}

Outcome EmulatedController::execute_io(const CommandContext& c)
{
    const CommandInfo* info = CommandTable::io(c.sqe.opc);
    if (info == nullptr)
        return Outcome::field_error(nvme::Status(nvme::GenericStatus::invalid_opcode).with_dnr(),
                                    0);
    Outcome o = (this->*info->handler)(c);
    if (o.status.is_success()) {
        using N = nvme::NvmOpcode;
        switch (static_cast<N>(c.sqe.opc)) {
        case N::read:
        case N::compare:
        case N::verify:
            health_.host_read_commands += 1;
            break;
        case N::write:
        case N::write_uncorrectable:
        case N::write_zeroes:
            health_.host_write_commands += 1;
            break;
        default:
            break;
        }
        health_.data_units_read = data_units(health_.bytes_read);
        health_.data_units_written = data_units(health_.bytes_written);
    }
    return o;
}

void EmulatedController::record_error(const CommandContext& c, const Outcome& o)
{
    nvme::ErrorInformationEntry e{};
    e.error_count = ++error_count_;
    e.sqid = c.qid;
    e.cmdid = c.sqe.cid;
    e.status_field = o.status.to_cqe_status(false);
    e.parm_error_location = o.error_location;
    e.lba = o.error_lba;
    e.nsid = c.sqe.nsid;
    error_log_.push_front(e);
    if (error_log_.size() > error_log_entries) error_log_.pop_back();
}

void EmulatedController::controller_reset()
{
    reset_async_events();
    granted_io_queues_ = 0;
    io_queues_created_ = false;
    on_controller_reset();
}

void EmulatedController::note_io_queue_created(std::uint16_t)
{
    io_queues_created_ = true;
}

std::expected<EmulatedNamespace*, nvme::Status> EmulatedController::io_namespace(std::uint32_t nsid)
{
    // NVMe Base 2.0, 3.2.1.4 / Figure 92: an I/O command to an invalid NSID,
    // the broadcast value, or an inactive (unallocated or unattached) NSID
    // is aborted with Invalid Namespace or Format.
    const auto invalid = nvme::Status(nvme::GenericStatus::invalid_namespace_or_format).with_dnr();
    if (!nsid_in_range(nsid)) return std::unexpected(invalid);
    const auto it = namespaces_.find(nsid);
    if (it == namespaces_.end() || !it->second.attached) return std::unexpected(invalid);
    return &it->second;
}

nvme::Status EmulatedController::to_host(const CommandContext& c, std::span<const std::byte> bytes,
                                         std::size_t offset)
{
    if (offset > c.data.size() || bytes.size() > c.data.size() - offset)
        return nvme::GenericStatus::data_transfer_error;
    if (!bytes.empty()) std::memcpy(c.data.data() + offset, bytes.data(), bytes.size());
    return nvme::Status::success();
}

std::uint64_t EmulatedController::allocated_capacity() const
{
    std::uint64_t total = 0;
    for (const auto& [nsid, ns] : namespaces_)
        total += ns.capacity_bytes;
    return total;
}

std::uint64_t EmulatedController::power_on_hours() const
{
    // The emulated drive is new: it has been powered on since it was created
    // (Power Cycles = 1), so Power On Hours counts from creation.
    const auto on = now() - created_at_;
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::hours>(on).count()));
}

} // namespace nvmecuse::emu
