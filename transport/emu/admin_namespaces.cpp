// Namespace Management (NVMe Base 2.0, 5.20; host data per NVM Command Set
// 2.0, 4.1.5.1), Namespace Attachment (5.22) and Format NVM (5.23).
//
// Namespaces are created detached and RAM-backed (sparse, within the host's
// memory); Format NVM keeps a namespace's capacity in bytes and re-creates
// its storage for the new LBA format, so everything reads back as zeroes
// afterwards.
#include <algorithm>
#include <cstring>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

constexpr std::uint16_t nsid_byte = 4;
constexpr std::uint16_t cdw10_byte = 40;
constexpr std::uint16_t cdw11_byte = 44;

/// Status with no SQE field to blame (the fault is in the data buffer).
Outcome fail(nvme::Status s) { return Outcome(s.with_dnr()); }

Outcome field_fail(nvme::Status s, std::uint16_t byte, std::uint8_t bit = 0)
{
    return Outcome::field_error(s.with_dnr(), byte, bit);
}

} // namespace

// ---------------------------------------------------------------------------
// Namespace Management (0Dh)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_namespace_management(const CommandContext& c)
{
    using nvme::cmd::namespace_management::Sel;
    const auto& sqe = c.sqe;
    const auto sel = nvme::cmd::namespace_management::SelField::get(sqe);
    update_self_test();

    if (sel == static_cast<std::uint32_t>(Sel::create)) {
        // The NSID field is reserved for create (the controller picks one).
        if (sqe.nsid != 0) return field_fail(nvme::GenericStatus::invalid_field, nsid_byte);
        if (nvme::cmd::namespace_management::Csi::get(sqe) != 0)
            return field_fail(nvme::CommandSpecificStatus::io_command_set_not_supported,
                              cdw11_byte + 3);
        nvme::IdentifyNamespace host{};
        if (c.data.size() < sizeof host) return nvme::Status(nvme::GenericStatus::data_transfer_error);
        std::memcpy(&host, c.data.data(), sizeof host);

        const std::uint8_t index = nvme::flbas::index(host.flbas);
        if (index >= lba_formats.size()) return fail(nvme::CommandSpecificStatus::invalid_format);
        if (host.dps != 0) return fail(nvme::GenericStatus::invalid_field);  // no protection information
        if ((host.nmic & ~nvme::nmic::shared) != 0) return fail(nvme::GenericStatus::invalid_field);
        if (host.nsze == 0) return fail(nvme::GenericStatus::invalid_field);
        if (host.ncap < host.nsze) return fail(nvme::CommandSpecificStatus::thin_provisioning_not_supported);
        if (host.ncap > host.nsze) return fail(nvme::GenericStatus::invalid_field);

        const std::uint64_t lbs = lba_formats[index].lba_data_size();
        const std::uint64_t used = allocated_capacity();
        const std::uint64_t unallocated =
            used >= config_.total_capacity_bytes ? 0 : config_.total_capacity_bytes - used;
        if (host.nsze > unallocated / lbs)
            return fail(nvme::CommandSpecificStatus::namespace_insufficient_capacity);
        // Created namespaces live in RAM: they must fit in the host's memory
        // beside the others, or writing them would exhaust it.
        std::uint64_t ram = 0;
        if (__builtin_mul_overflow(host.nsze, lbs + lba_formats[index].ms, &ram) || !ram_fits(ram))
            return fail(nvme::CommandSpecificStatus::namespace_insufficient_capacity);

        std::uint32_t nsid = 1;
        while (nsid <= config_.max_namespaces && namespaces_.contains(nsid)) ++nsid;
        if (nsid > config_.max_namespaces)
            return fail(nvme::CommandSpecificStatus::namespace_identifier_unavailable);

        EmulatedNamespace ns;
        ns.nsid = nsid;
        ns.lbaf_index = index;
        ns.extended_metadata = nvme::flbas::is_extended(host.flbas) && lba_formats[index].ms != 0;
        ns.nsze = host.nsze;
        ns.capacity_bytes = host.nsze * lbs;
        ns.attached = false;  // 5.20: a created namespace is attached to no controller
        assign_identifiers(ns);
        auto storage = make_storage(ns, {});
        if (!storage) return fail(nvme::GenericStatus::internal_error);
        ns.storage = std::move(*storage);
        namespaces_.emplace(nsid, std::move(ns));
        return Outcome::success(nsid);
    }

    if (sel == static_cast<std::uint32_t>(Sel::delete_)) {
        std::vector<std::uint32_t> victims;
        if (sqe.nsid == nvme::nsid_all) {
            for (const auto& [nsid, ns] : namespaces_) victims.push_back(nsid);
        } else if (nsid_in_range(sqe.nsid) && namespaces_.contains(sqe.nsid)) {
            victims.push_back(sqe.nsid);
        } else {
            return field_fail(nvme::GenericStatus::invalid_namespace_or_format, nsid_byte);
        }
        for (std::uint32_t nsid : victims) {
            // A self-test covering the namespace ends with "aborted by
            // namespace removal" (5.9).
            const bool was_attached = namespaces_.at(nsid).attached;
            if (self_test_ && (self_test_->nsid == nsid || (self_test_->nsid == nvme::nsid_all && was_attached)))
                abort_self_test(nvme::SelfTestResultCode::aborted_by_namespace_removal);
            namespaces_.erase(nsid);
            std::erase_if(features_.current, [nsid](const auto& kv) {
                return kv.first.first == static_cast<std::uint8_t>(nvme::FeatureId::error_recovery) &&
                       kv.first.second == nsid;
            });
            std::erase_if(features_.saved, [nsid](const auto& kv) {
                return kv.first.first == static_cast<std::uint8_t>(nvme::FeatureId::error_recovery) &&
                       kv.first.second == nsid;
            });
            if (was_attached) namespace_changed(nsid);
        }
        return Outcome::success();
    }

    return field_fail(nvme::GenericStatus::invalid_field, cdw10_byte);
}

// ---------------------------------------------------------------------------
// Namespace Attachment (15h)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_namespace_attachment(const CommandContext& c)
{
    using nvme::cmd::namespace_attachment::Sel;
    const auto& sqe = c.sqe;
    const auto sel = nvme::cmd::namespace_attachment::SelField::get(sqe);
    if (sel != static_cast<std::uint32_t>(Sel::attach) && sel != static_cast<std::uint32_t>(Sel::detach))
        return field_fail(nvme::GenericStatus::invalid_field, cdw10_byte);
    const auto it = nsid_in_range(sqe.nsid) ? namespaces_.find(sqe.nsid) : namespaces_.end();
    if (it == namespaces_.end())
        return field_fail(nvme::GenericStatus::invalid_namespace_or_format, nsid_byte);

    // Controller List (Figure 137): a count, then that many identifiers.
    std::uint16_t count = 0;
    if (c.data.size() < sizeof count) return nvme::Status(nvme::GenericStatus::data_transfer_error);
    std::memcpy(&count, c.data.data(), sizeof count);
    if (count == 0 || count > 2047) return fail(nvme::CommandSpecificStatus::controller_list_invalid);
    if (c.data.size() < sizeof count + std::size_t{count} * 2)
        return nvme::Status(nvme::GenericStatus::data_transfer_error);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t id = 0;
        std::memcpy(&id, c.data.data() + 2 + i * 2, sizeof id);
        if (id != config_.cntlid) return fail(nvme::CommandSpecificStatus::controller_list_invalid);
    }

    EmulatedNamespace& ns = it->second;
    update_self_test();
    if (sel == static_cast<std::uint32_t>(Sel::attach)) {
        if (ns.attached) return fail(nvme::CommandSpecificStatus::namespace_already_attached);
        ns.attached = true;
    } else {
        if (!ns.attached) return fail(nvme::CommandSpecificStatus::namespace_not_attached);
        if (self_test_ && (self_test_->nsid == ns.nsid || self_test_->nsid == nvme::nsid_all))
            abort_self_test(nvme::SelfTestResultCode::aborted_by_namespace_removal);
        ns.attached = false;
    }
    namespace_changed(ns.nsid);
    return Outcome::success();
}

// ---------------------------------------------------------------------------
// Format NVM (80h)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_format_nvm(const CommandContext& c)
{
    namespace fmt = nvme::cmd::format_nvm;
    const auto& sqe = c.sqe;

    std::vector<EmulatedNamespace*> targets;
    if (sqe.nsid == nvme::nsid_all) {
        // FNA bit 0 = 0: formats are per namespace; the broadcast value
        // formats every attached namespace.
        for (auto& [nsid, ns] : namespaces_)
            if (ns.attached) targets.push_back(&ns);
    } else {
        auto ns = io_namespace(sqe.nsid);
        if (!ns) return Outcome::field_error(ns.error(), nsid_byte);
        targets.push_back(*ns);
    }

    const std::uint32_t index = fmt::lbaf_index(sqe);
    if (index >= lba_formats.size())
        return field_fail(nvme::CommandSpecificStatus::invalid_format, cdw10_byte);
    // DPC = 0: no end-to-end protection information (PIL is then moot).
    if (fmt::Pi::get(sqe) != 0) return field_fail(nvme::GenericStatus::invalid_field, cdw10_byte, 5);
    // SES 1 (user data erase) is what a format does anyway; FNA bit 2 = 0:
    // no cryptographic erase.
    if (fmt::Ses::get(sqe) > static_cast<std::uint32_t>(fmt::SecureErase::user_data_erase))
        return field_fail(nvme::GenericStatus::invalid_field, cdw10_byte + 1, 1);
    const bool extended = fmt::Mset::get(sqe) != 0 && lba_formats[index].ms != 0;

    update_self_test();
    for (EmulatedNamespace* ns : targets) {
        EmulatedNamespace formatted;
        formatted.nsid = ns->nsid;
        formatted.lbaf_index = static_cast<std::uint8_t>(index);
        formatted.nsze = ns->capacity_bytes / lba_formats[index].lba_data_size();
        std::string backing_file;
        if (ns->storage && ns->storage->file_backed()) {
            const auto nc = std::ranges::find(config_.namespaces, ns->nsid, &NamespaceConfig::nsid);
            if (nc != config_.namespaces.end()) backing_file = nc->backing_file;
        }
        // A file-backed namespace re-opens the same file with the new
        // data/metadata split: release the old descriptor first.
        if (!backing_file.empty()) ns->storage.reset();
        auto storage = make_storage(formatted, backing_file);
        // Erasing a file may write zeroes, which can fail (ENOSPC, EIO).
        if (storage && (*storage)->erase_all()) storage = std::unexpected(std::error_code{});
        if (!storage) {
            // Keep the namespace usable with its old format (a file may be
            // partly erased: the host sees Format NVM fail).
            if (!ns->storage) {
                auto restored = make_storage(*ns, backing_file);
                if (restored) ns->storage = std::move(*restored);
            }
            return fail(nvme::GenericStatus::internal_error);
        }
        if (self_test_ && (self_test_->nsid == ns->nsid || self_test_->nsid == nvme::nsid_all))
            abort_self_test(nvme::SelfTestResultCode::aborted_by_format_nvm);
        ns->storage = std::move(*storage);
        ns->lbaf_index = formatted.lbaf_index;
        ns->extended_metadata = extended;
        ns->nsze = formatted.nsze;
        ns->uncorrectable.clear();
        namespace_changed(ns->nsid);
    }
    return Outcome::success();
}

} // namespace nvmecuse::emu
