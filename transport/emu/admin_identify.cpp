// Identify (NVMe Base 2.0, 5.17; NVM Command Set 2.0, 4.1.5): every CNS
// that nvme-cli 2.3 and smartctl 7.3 send.
//
// NSID rules (Base 2.0, 3.2.1.5): an invalid NSID (0, or > NN and not
// FFFFFFFFh) is Invalid Namespace or Format; an inactive but valid NSID gets
// a zero-filled structure for the "Identify Namespace" family (Figure 273)
// and Invalid Field in Command where the CNS needs an active namespace.
#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

using nvme::Cns;
using nvme::GenericStatus;

/// SQE byte offsets named in Parameter Error Location.
constexpr std::uint16_t sqe_byte_nsid = 4;
constexpr std::uint16_t sqe_byte_cns = 40; // CDW10 bits 7:0
constexpr std::uint16_t sqe_byte_csi = 47; // CDW11 bits 31:24

constexpr std::uint32_t nvme_version_2_0 = 0x00020000;
constexpr std::uint8_t recommended_arbitration_burst = 6; // 64 commands
constexpr std::uint8_t abort_command_limit = 3;           // 4 Aborts (0's based)
constexpr std::uint16_t keep_alive_granularity = 10;      // 100 ms units: 1 s
constexpr std::uint16_t firmware_activation_time = 10;    // 100 ms units: 1 s
constexpr std::uint8_t firmware_update_granularity = 1;   // 4 KiB units
/// DMRL: 0 = no limit beyond the command format itself (256 ranges; a u8 cannot say 256).
constexpr std::uint8_t dsm_range_limit = 0;

/// Operational power states of "a plausible SSD": 25 W, 18 W, 12 W
/// (Figure 276; mp in 0.01 W units with MXPS = 0).
struct PowerState {
    std::uint16_t centiwatts;
    std::uint32_t entry_latency_us;
    std::uint32_t exit_latency_us;
};
constexpr std::array<PowerState, 3> power_states{{
    {2500, 0, 0},
    {1800, 50, 100},
    {1200, 200, 500},
}};

/// Relative performance reported for a format: 4 KiB blocks are what the
/// "media" likes best, metadata costs a step (NVM Command Set 2.0 Figure 98).
constexpr std::uint8_t relative_performance(const nvme::LbaFormat& f)
{
    const bool large = f.lbads >= 12;
    const bool has_metadata = f.ms != 0;
    const auto rp =
        large ? (has_metadata ? nvme::RelativePerformance::better : nvme::RelativePerformance::best)
              : (has_metadata ? nvme::RelativePerformance::degraded
                              : nvme::RelativePerformance::good);
    return static_cast<std::uint8_t>(rp);
}

/// The fields every namespace of this controller shares: the format table
/// and the capabilities around it.
nvme::IdentifyNamespace common_namespace_fields()
{
    nvme::IdentifyNamespace id{};
    id.nlbaf = static_cast<std::uint8_t>(EmulatedController::lba_formats.size() - 1);
    id.mc = 0x03; // metadata as part of an extended LBA (bit 0) or in a separate buffer (bit 1)
    id.dpc = 0;   // no end-to-end protection
    id.dlfeat =
        static_cast<std::uint8_t>(nvme::dlfeat::write_zeroes_deallocate |
                                  nvme::dlfeat::ReadBehavior::make(1)); // deallocated reads 0
    for (std::size_t i = 0; i < EmulatedController::lba_formats.size(); ++i) {
        id.lbaf[i] = EmulatedController::lba_formats[i];
        id.lbaf[i].rp = relative_performance(id.lbaf[i]);
    }
    return id;
}

nvme::IdentifyNamespace namespace_data(const EmulatedNamespace& ns)
{
    nvme::IdentifyNamespace id = common_namespace_fields();
    // Fully provisioned: every block is backed by allocated capacity.
    id.nsze = ns.nsze;
    id.ncap = ns.nsze;
    id.nuse = ns.nsze;
    id.nsfeat = 0;
    id.flbas = nvme::flbas::make(ns.lbaf_index, ns.extended_metadata);
    id.nmic = 0; // private namespace
    id.nvmcap = nvme::Uint128::from(ns.capacity_bytes);
    id.nguid = ns.nguid;
    id.eui64 = ns.eui64;
    return id;
}

nvme::IdentifyNamespaceCsIndependent independent_namespace_data(const EmulatedNamespace&)
{
    nvme::IdentifyNamespaceCsIndependent id{};
    id.nstat = 0x01; // namespace ready
    return id;
}

/// Namespace Identification Descriptor list (Figure 278/279): only the
/// identifiers that are set, plus the Command Set Identifier.
std::array<std::byte, nvme::identify_data_size> descriptor_list(const EmulatedNamespace& ns)
{
    std::array<std::byte, nvme::identify_data_size> out{};
    std::size_t at = 0;
    const auto append = [&](nvme::NidType type, std::span<const std::uint8_t> id) {
        const nvme::NidDescriptorHeader header{
            static_cast<std::uint8_t>(type), nvme::nid_length(type), {}};
        std::memcpy(out.data() + at, &header, sizeof header);
        std::memcpy(out.data() + at + sizeof header, id.data(), id.size());
        at += sizeof header + id.size();
    };
    const auto nonzero = [](std::span<const std::uint8_t> id) {
        return std::ranges::any_of(id, [](std::uint8_t b) { return b != 0; });
    };
    if (nonzero(ns.eui64)) append(nvme::NidType::ieee_eui64, ns.eui64);
    if (nonzero(ns.nguid)) append(nvme::NidType::nguid, ns.nguid);
    if (nonzero(ns.uuid)) append(nvme::NidType::uuid, ns.uuid);
    const std::array<std::uint8_t, 1> csi{static_cast<std::uint8_t>(nvme::CommandSet::nvm)};
    append(nvme::NidType::csi, csi);
    return out;
}

} // namespace

/// One Identify data structure builder per CNS; nested in the controller so
/// it may read its state.
struct EmulatedController::IdentifyBuilder {
    using Handler = Outcome (*)(EmulatedController&, const CommandContext&);
    struct Entry {
        Cns cns;
        Handler handler;
    };

    static Outcome invalid_nsid()
    {
        return Outcome::field_error(
            nvme::Status(GenericStatus::invalid_namespace_or_format).with_dnr(), sqe_byte_nsid);
    }
    static Outcome invalid_csi()
    {
        return Outcome::field_error(nvme::Status(GenericStatus::invalid_field).with_dnr(),
                                    sqe_byte_csi);
    }
    static nvme::CommandSet csi(const CommandContext& c)
    {
        return static_cast<nvme::CommandSet>(nvme::cmd::identify::Csi::get(c.sqe));
    }
    static Outcome send(const CommandContext& c, std::span<const std::byte> bytes)
    {
        return to_host(c, bytes);
    }
    template <class T> static Outcome send(const CommandContext& c, const T& value)
    {
        return to_host(c, value);
    }
    static Outcome send_zeroes(const CommandContext& c)
    {
        static constexpr std::array<std::byte, nvme::identify_data_size> zeroes{};
        return to_host(c, zeroes);
    }

    static const EmulatedNamespace* allocated(const EmulatedController& self, std::uint32_t nsid)
    {
        const auto it = self.namespaces_.find(nsid);
        return it == self.namespaces_.end() ? nullptr : &it->second;
    }
    static const EmulatedNamespace* active(const EmulatedController& self, std::uint32_t nsid)
    {
        const auto* ns = allocated(self, nsid);
        return ns != nullptr && ns->attached ? ns : nullptr;
    }

    // -- CNS 00h / 11h / 05h / 08h: Identify Namespace family --------------

    /// Identify Namespace (00h) and Identify Namespace for an allocated NSID
    /// (11h): data for a namespace that exists (and is attached, for 00h),
    /// zeroes for any other valid NSID, the common capabilities for
    /// FFFFFFFFh (00h only, as Namespace Management is supported).
    template <bool AllocatedOnly>
    static Outcome identify_namespace(EmulatedController& self, const CommandContext& c)
    {
        const std::uint32_t nsid = c.sqe.nsid;
        if (nsid == nvme::nsid_all && !AllocatedOnly) return send(c, common_namespace_fields());
        if (!self.nsid_in_range(nsid)) return invalid_nsid();
        const auto* ns = AllocatedOnly ? allocated(self, nsid) : active(self, nsid);
        return ns != nullptr ? send(c, namespace_data(*ns)) : send_zeroes(c);
    }

    /// I/O Command Set specific Identify Namespace (05h): for the NVM
    /// command set the structure holds only storage tag and extended PI
    /// formats, all zero without protection information.
    static Outcome io_namespace(EmulatedController& self, const CommandContext& c)
    {
        if (csi(c) != nvme::CommandSet::nvm) return invalid_csi();
        if (c.sqe.nsid != nvme::nsid_all && !self.nsid_in_range(c.sqe.nsid)) return invalid_nsid();
        return send_zeroes(c);
    }

    /// I/O Command Set Independent Identify Namespace (08h).
    static Outcome independent_namespace(EmulatedController& self, const CommandContext& c)
    {
        if (!self.nsid_in_range(c.sqe.nsid)) return invalid_nsid();
        const auto* ns = active(self, c.sqe.nsid);
        return ns != nullptr ? send(c, independent_namespace_data(*ns)) : send_zeroes(c);
    }

    /// Namespace Identification Descriptor list (03h): only for an active
    /// NSID (inactive: Invalid Field in Command, 3.2.1.5).
    static Outcome descriptors(EmulatedController& self, const CommandContext& c)
    {
        if (!self.nsid_in_range(c.sqe.nsid)) return invalid_nsid();
        const auto* ns = active(self, c.sqe.nsid);
        if (ns == nullptr)
            return Outcome::field_error(nvme::Status(GenericStatus::invalid_field).with_dnr(),
                                        sqe_byte_nsid);
        return send(c, std::span<const std::byte>(descriptor_list(*ns)));
    }

    // -- CNS 01h / 06h: Identify Controller --------------------------------

    static Outcome controller(EmulatedController& self, const CommandContext& c)
    {
        return send(c, controller_data(self));
    }

    static nvme::IdentifyController controller_data(const EmulatedController& self)
    {
        const ControllerConfig& cfg = self.config_;
        nvme::IdentifyController id{};
        id.vid = cfg.vid;
        id.ssvid = cfg.ssvid;
        nvme::set_padded(id.sn, cfg.serial);
        nvme::set_padded(id.mn, cfg.model);
        nvme::set_padded(id.fr, active_firmware_revision(self));
        id.rab = recommended_arbitration_burst;
        // IEEE OUI, least significant byte first (Figure 275: 52-54-00 is
        // reported as 00h 54h 52h).
        id.ieee = {static_cast<std::uint8_t>(cfg.ieee_oui),
                   static_cast<std::uint8_t>(cfg.ieee_oui >> 8),
                   static_cast<std::uint8_t>(cfg.ieee_oui >> 16)};
        id.cmic = 0;
        id.mdts = cfg.mdts;
        id.cntlid = cfg.cntlid;
        id.ver = nvme_version_2_0;
        id.rtd3r = 200'000;   // µs
        id.rtd3e = 2'000'000; // µs
        id.oaes = nvme::oaes::namespace_attribute | nvme::oaes::firmware_activation;
        id.ctratt = nvme::ctratt::host_id_128bit; // Set Features Host Identifier with EXHID=1
        id.cntrltype = static_cast<std::uint8_t>(nvme::ControllerType::io);

        id.oacs = nvme::oacs::format_nvm | nvme::oacs::firmware | nvme::oacs::namespace_management |
                  nvme::oacs::device_self_test;
        id.acl = abort_command_limit;
        id.aerl = cfg.aerl;
        id.frmw = static_cast<std::uint8_t>(
            (cfg.slot1_read_only ? nvme::frmw::first_slot_read_only : 0) |
            nvme::frmw::NumSlots::make(cfg.firmware_slots) | nvme::frmw::activation_without_reset);
        id.lpa = nvme::lpa::commands_supported_effects | nvme::lpa::extended_data |
                 nvme::lpa::misc_log_pages;
        id.elpe = static_cast<std::uint8_t>(error_log_entries - 1); // 0's based
        id.npss = static_cast<std::uint8_t>(power_states.size() - 1);
        id.avscc = 0x01; // vendor specific admin commands use the standard format
        id.apsta = 0;
        id.wctemp = cfg.warning_temperature_kelvin;
        id.cctemp = cfg.critical_temperature_kelvin;
        id.mtfa = firmware_activation_time;
        id.hmpre = 0;
        id.tnvmcap = nvme::Uint128::from(cfg.total_capacity_bytes);
        const std::uint64_t allocated_bytes = self.allocated_capacity();
        id.unvmcap = nvme::Uint128::from(cfg.total_capacity_bytes > allocated_bytes
                                             ? cfg.total_capacity_bytes - allocated_bytes
                                             : 0);
        id.edstt = cfg.extended_self_test_minutes;
        id.dsto = 0x01; // one device self-test operation at a time
        id.fwug = firmware_update_granularity;
        id.kas = keep_alive_granularity;

        id.sqes = nvme::queue_entry_size::make(6, 6);
        id.cqes = nvme::queue_entry_size::make(4, 4);
        id.maxcmd = cfg.max_queue_entries;
        id.nn = cfg.max_namespaces;
        id.oncs = nvme::oncs::compare | nvme::oncs::write_uncorrectable |
                  nvme::oncs::dataset_management | nvme::oncs::write_zeroes |
                  nvme::oncs::save_select | nvme::oncs::timestamp | nvme::oncs::verify;
        id.fuses = 0;
        id.fna = 0; // Format NVM and secure erase apply per namespace
        id.vwc = static_cast<std::uint8_t>(
            nvme::vwc::present |
            nvme::vwc::FlushBroadcast::make(nvme::vwc::flush_broadcast_supported));
        id.icsvscc = 0x01;
        id.sgls = cfg.sgls ? nvme::sgls::Support::make(1) : 0; // no alignment
        id.mnan = 0;
        nvme::set_nul_padded(id.subnqn, cfg.subsystem_nqn());
        for (std::size_t i = 0; i < power_states.size(); ++i) {
            auto& psd = id.psd[i];
            psd.mp = power_states[i].centiwatts;
            psd.enlat = power_states[i].entry_latency_us;
            psd.exlat = power_states[i].exit_latency_us;
            const auto level =
                static_cast<std::uint8_t>(i); // relative read/write throughput and latency
            psd.rrt = level;
            psd.rrl = level;
            psd.rwt = level;
            psd.rwl = level;
        }
        return id;
    }

    /// Revision of the running firmware: the active slot's, or the
    /// configured one when that slot was never filled.
    static std::string_view active_firmware_revision(const EmulatedController& self)
    {
        const std::size_t slot = self.active_slot_;
        if (slot >= 1 && slot <= self.firmware_slots_.size()) {
            const std::string_view fr = nvme::trimmed(self.firmware_slots_[slot - 1]);
            if (!fr.empty()) return fr;
        }
        return self.config_.firmware;
    }

    /// I/O Command Set specific Identify Controller (06h), NVM command set
    /// (NVM Command Set 2.0 Figure 100): size limits in units of the
    /// minimum memory page size (4 KiB) as a power of two, like MDTS.
    static Outcome io_controller(EmulatedController& self, const CommandContext& c)
    {
        if (csi(c) != nvme::CommandSet::nvm) return invalid_csi();
        nvme::IdentifyControllerNvm id{};
        id.vsl = self.config_.mdts;
        id.wzsl = self.config_.mdts;
        id.wusl = self.config_.mdts;
        id.dmrl = dsm_range_limit;
        id.dmrsl = 0;
        id.dmsl = 0;
        return send(c, id);
    }

    // -- CNS 02h / 07h / 10h: namespace lists ------------------------------

    /// Ascending NSIDs greater than SQE NSID (Figure 273); FFFFFFFEh and
    /// FFFFFFFFh are invalid starting points.
    template <bool AllocatedOnly>
    static Outcome namespace_list(EmulatedController& self, const CommandContext& c)
    {
        return list_namespaces(self, c, AllocatedOnly);
    }

    static Outcome list_namespaces(const EmulatedController& self, const CommandContext& c,
                                   bool allocated_only, bool empty = false)
    {
        const std::uint32_t after = c.sqe.nsid;
        if (after >= nvme::nsid_all - 1) return invalid_nsid();
        nvme::IdentifyNamespaceList list{};
        std::size_t count = 0;
        if (!empty) {
            for (auto it = self.namespaces_.upper_bound(after); it != self.namespaces_.end();
                 ++it) {
                if (count == list.nsid.size()) break;
                if (allocated_only || it->second.attached) list.nsid[count++] = it->first;
            }
        }
        return send(c, list);
    }

    /// Active NSIDs of one I/O command set (07h): all of ours are NVM.
    static Outcome namespace_list_csi(EmulatedController& self, const CommandContext& c)
    {
        return list_namespaces(self, c, false, csi(c) != nvme::CommandSet::nvm);
    }

    // -- CNS 12h / 13h: controller lists -----------------------------------

    /// Controllers attached to NSID (12h) with an identifier >= CNTID.
    static Outcome attached_controllers(EmulatedController& self, const CommandContext& c)
    {
        if (!self.nsid_in_range(c.sqe.nsid)) return invalid_nsid();
        const auto* ns = active(self, c.sqe.nsid);
        return controller_list(self, c, ns != nullptr);
    }

    /// All controllers of the NVM subsystem (13h) with an identifier >= CNTID.
    static Outcome subsystem_controllers(EmulatedController& self, const CommandContext& c)
    {
        return controller_list(self, c, true);
    }

    static Outcome controller_list(const EmulatedController& self, const CommandContext& c,
                                   bool include_us)
    {
        nvme::ControllerList list{};
        if (include_us && self.config_.cntlid >= nvme::cmd::identify::Cntid::get(c.sqe)) {
            list.num = 1;
            list.ids[0] = self.config_.cntlid;
        }
        return send(c, list);
    }

    // -- CNS 1Ch: I/O Command Set data structure ---------------------------

    /// One supported combination: the NVM command set alone (Figure 290).
    static Outcome command_sets(EmulatedController&, const CommandContext& c)
    {
        nvme::IoCommandSetVectorList vectors{};
        vectors.vectors[0] = nvme::iocs_vector::nvm;
        return send(c, vectors);
    }

    static constexpr std::array<Entry, 13> table{{
        {Cns::namespace_, &identify_namespace<false>},
        {Cns::controller, &controller},
        {Cns::active_namespace_list, &namespace_list<false>},
        {Cns::namespace_id_descriptors, &descriptors},
        {Cns::io_namespace_csi, &io_namespace},
        {Cns::io_controller_csi, &io_controller},
        {Cns::active_namespace_list_csi, &namespace_list_csi},
        {Cns::io_command_set_independent_namespace, &independent_namespace},
        {Cns::allocated_namespace_list, &namespace_list<true>},
        {Cns::allocated_namespace, &identify_namespace<true>},
        {Cns::namespace_attached_controller_list, &attached_controllers},
        {Cns::controller_list, &subsystem_controllers},
        {Cns::io_command_set, &command_sets},
    }};
};

Outcome EmulatedController::admin_identify(const CommandContext& c)
{
    const auto cns = static_cast<Cns>(nvme::cmd::identify::Cns::get(c.sqe));
    const auto& table = IdentifyBuilder::table;
    const auto* entry = std::ranges::find(table, cns, &IdentifyBuilder::Entry::cns);
    if (entry == table.end())
        return Outcome::field_error(nvme::Status(GenericStatus::invalid_field).with_dnr(),
                                    sqe_byte_cns);
    return entry->handler(*this, c);
}

} // namespace nvmecuse::emu
