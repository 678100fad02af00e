// Namespace scan (owner thread): Identify Controller, the Active Namespace
// List (CNS 02h, paged by starting nsid), Identify Namespace (CNS 00h) for
// each; diff against the published snapshot, publish a new one, tell
// listeners. Like Linux nvme_scan_work() / nvme_scan_ns_list().
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "nvmecuse/ctrlr/limits.hpp"

#include "admin_commands.hpp"
#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

namespace {
constexpr std::uint32_t ns_list_entries = nvme::identify_data_size / sizeof(std::uint32_t);
static_assert(max_scanned_namespaces % ns_list_entries == 0);

/// Why a namespace of this format and size has no capacity ("" if it has
/// one): Linux's nvme_update_disk_info() rules, and a size that must fit.
std::string unusable_reason(const nvme::LbaFormat& fmt, std::uint64_t nsze)
{
    if (fmt.lbads >= 32)
        return fmt::format("LBA data size 2^{} B is larger than the {} B page", fmt.lbads,
                           max_lba_data_size);
    const std::uint32_t size = fmt.lba_data_size();
    if (size < min_lba_data_size)
        return fmt::format("LBA data size {} B is smaller than {} B", size, min_lba_data_size);
    if (size > max_lba_data_size)
        return fmt::format("LBA data size {} B is larger than the {} B page", size,
                           max_lba_data_size);
    if (std::uint64_t bytes = 0; __builtin_mul_overflow(nsze, size, &bytes))
        return fmt::format("capacity of {} blocks of {} B overflows 64 bits", nsze, size);
    return {};
}

NamespaceInfo make_namespace_info(std::uint32_t nsid, const nvme::IdentifyNamespace& id)
{
    NamespaceInfo ns;
    ns.nsid = nsid;
    ns.id = id;
    const auto& fmt =
        id.lbaf[std::min<std::size_t>(nvme::flbas::index(id.flbas), id.lbaf.size() - 1)];
    ns.lba_data_size = fmt.lba_data_size();
    ns.metadata_size = fmt.ms;
    ns.extended_metadata = nvme::flbas::is_extended(id.flbas);
    ns.unusable_reason = unusable_reason(fmt, id.nsze);
    return ns;
}

bool same_bytes(const auto& a, const auto& b)
{
    return std::memcmp(&a, &b, sizeof a) == 0;
}
} // namespace

struct Controller::Impl::ScanState {
    std::uint64_t epoch = 0;
    nvme::IdentifyController id{};
    std::vector<std::uint32_t> nsids;
    std::size_t next = 0;
    std::map<std::uint32_t, NamespaceInfo> found;
    /// When set, only these (and newly active) namespaces are identified
    /// again; the others keep their cached data (Changed Namespace List).
    std::optional<std::set<std::uint32_t>> only;
    std::shared_ptr<const ControllerInfo> previous;
};

void Controller::Impl::request_scan(DoneFn done, std::optional<std::vector<std::uint32_t>> only)
{
    if (state_ == State::stopping) {
        if (done) done(std::make_error_code(std::errc::operation_canceled));
        return;
    }
    if (state_ == State::failed) {
        if (done) done(std::make_error_code(std::errc::not_connected));
        return;
    }
    if (done) scan_next_waiters_.push_back(std::move(done));
    if (only) {
        if (!scan_only_) scan_only_.emplace();
        scan_only_->insert(only->begin(), only->end());
    } else {
        scan_full_ = true;
    }
    // While one runs, or while (re)initialising (its own scan covers it), wait.
    if (scan_running_ || state_ != State::live) {
        scan_again_ = true;
        return;
    }
    start_scan(true);
}

void Controller::Impl::start_scan(bool identify_controller)
{
    scan_running_ = true;
    scan_again_ = false;
    scan_waiters_ = std::exchange(scan_next_waiters_, {});
    auto s = std::make_shared<ScanState>();
    s->epoch = epoch_;
    s->previous = info();
    if (!scan_full_ && scan_only_ && identify_controller)
        s->only.emplace(scan_only_->begin(), scan_only_->end());
    scan_full_ = false;
    scan_only_.reset();
    if (identify_controller) {
        scan_identify_controller(std::move(s));
    } else {
        s->id = id_ctrl_;
        scan_active_list(std::move(s), 0);
    }
}

void Controller::Impl::scan_identify_controller(std::shared_ptr<ScanState> s)
{
    issue_internal(
        QueueKind::admin, admin::identify(nvme::Cns::controller), [this, s](Result&& r) mutable {
            if (s->epoch != epoch_)
                return scan_done(std::move(s), std::make_error_code(std::errc::operation_canceled));
            if (!r.ok()) return scan_done(std::move(s), admin::error_of(r));
            std::memcpy(&s->id, r.data.data(), sizeof s->id);
            id_ctrl_ = s->id;
            scan_active_list(std::move(s), 0);
        });
}

void Controller::Impl::scan_active_list(std::shared_ptr<ScanState> s, std::uint32_t start_nsid)
{
    issue_internal(
        QueueKind::admin, admin::identify(nvme::Cns::active_namespace_list, start_nsid),
        [this, s, start_nsid](Result&& r) mutable {
            if (s->epoch != epoch_)
                return scan_done(std::move(s), std::make_error_code(std::errc::operation_canceled));
            if (r.error) return scan_done(std::move(s), r.error);
            if (!r.status.is_success()) {
                // Pre-1.1 controllers: probe 1..NN like Linux nvme_scan_ns_sequential(),
                // but never more than max_scanned_namespaces nsids.
                const std::uint32_t nn = std::min(s->id.nn, max_scanned_namespaces);
                log_->debug("{}: Active Namespace List failed ({}); probing 1..{}", options_.name,
                            nvme::to_string(r.status), nn);
                if (nn < s->id.nn)
                    log_->warn("{}: NN {} capped: probing nsids 1..{} only", options_.name,
                               s->id.nn, nn);
                s->nsids.clear();
                for (std::uint32_t nsid = 1; nsid <= nn; ++nsid)
                    s->nsids.push_back(nsid);
                s->only.reset();
                return scan_next_namespace(std::move(s));
            }
            // Entries increase strictly, within and across pages, each past
            // the page's starting nsid (NVMe Base 2.0, 5.17.2.2): the list
            // ends at the first that does not, so a repeated page cannot
            // loop. Every full page adds ns_list_entries nsids, so the cap
            // also bounds the pages read (max_scanned_namespaces / 1024).
            const auto* list = reinterpret_cast<const std::uint32_t*>(r.data.data());
            std::uint32_t prev = start_nsid;
            for (std::uint32_t n = 0; n < ns_list_entries && list[n] != 0; ++n) {
                if (list[n] <= prev || list[n] == nvme::nsid_all) {
                    log_->warn("{}: Active Namespace List entry {} after nsid {}: not "
                               "increasing; the list ends before it",
                               options_.name, list[n], prev);
                    return scan_next_namespace(std::move(s));
                }
                if (s->nsids.size() == max_scanned_namespaces) {
                    log_->warn("{}: more than {} active namespaces; nsid {} and those after "
                               "it are ignored",
                               options_.name, max_scanned_namespaces, list[n]);
                    return scan_next_namespace(std::move(s));
                }
                s->nsids.push_back(list[n]);
                prev = list[n];
            }
            // A full page may continue past its last nsid (NVMe Base 2.0, 5.17.2.2).
            if (list[ns_list_entries - 1] != 0 && prev < nvme::nsid_all - 1) {
                if (s->nsids.size() < max_scanned_namespaces)
                    return scan_active_list(std::move(s), prev);
                log_->warn("{}: the Active Namespace List may go on past nsid {}: at most {} "
                           "namespaces are scanned",
                           options_.name, prev, max_scanned_namespaces);
            }
            scan_next_namespace(std::move(s));
        });
}

void Controller::Impl::scan_next_namespace(std::shared_ptr<ScanState> s)
{
    // Reuse cached data for namespaces the Changed Namespace List left out.
    while (s->next < s->nsids.size() && s->only) {
        const std::uint32_t nsid = s->nsids[s->next];
        auto old = s->previous->namespaces.find(nsid);
        if (s->only->contains(nsid) || old == s->previous->namespaces.end()) break;
        s->found.emplace(nsid, old->second);
        ++s->next;
    }
    if (s->next == s->nsids.size()) return scan_done(std::move(s), {});
    const std::uint32_t nsid = s->nsids[s->next++];
    issue_internal(QueueKind::admin, admin::identify(nvme::Cns::namespace_, nsid),
                   [this, s, nsid](Result&& r) mutable {
                       if (s->epoch != epoch_)
                           return scan_done(std::move(s),
                                            std::make_error_code(std::errc::operation_canceled));
                       if (r.error) return scan_done(std::move(s), r.error);
                       if (r.status.is_success()) {
                           nvme::IdentifyNamespace id;
                           std::memcpy(&id, r.data.data(), sizeof id);
                           // An inactive nsid reads as zeroes (NVMe Base 2.0, 5.17.2.1).
                           if (id.nsze != 0) {
                               auto ns = make_namespace_info(nsid, id);
                               if (!ns.unusable_reason.empty())
                                   log_->warn("{}: namespace {} has capacity 0: {}", options_.name,
                                              nsid, ns.unusable_reason);
                               s->found.emplace(nsid, std::move(ns));
                           }
                       } else {
                           log_->warn("{}: Identify Namespace {} failed: {}", options_.name, nsid,
                                      nvme::to_string(r.status));
                       }
                       scan_next_namespace(std::move(s));
                   });
}

void Controller::Impl::scan_done(std::shared_ptr<ScanState> s, std::error_code ec)
{
    std::vector<NamespaceEvent> events;
    if (!ec) {
        const auto& old = s->previous->namespaces;
        for (const auto& [nsid, ns] : s->found) {
            auto it = old.find(nsid);
            if (it == old.end()) {
                events.push_back({NamespaceEvent::Kind::added, nsid});
            } else if (!same_bytes(it->second.id, ns.id)) {
                events.push_back({NamespaceEvent::Kind::changed, nsid});
            }
        }
        for (const auto& [nsid, ns] : old)
            if (!s->found.contains(nsid)) events.push_back({NamespaceEvent::Kind::removed, nsid});
        if (!events.empty() || !same_bytes(s->id, s->previous->id) ||
            s->previous->generation == 0 || s->previous->cap != cap_) {
            auto next = std::make_shared<ControllerInfo>();
            next->id = s->id;
            next->cap = cap_;
            next->max_transfer = max_transfer_bytes(s->id, cap_);
            if (const std::uint64_t t = transport_->info().max_transfer; t != 0)
                next->max_transfer = next->max_transfer == 0 ? t : std::min(next->max_transfer, t);
            next->namespaces = std::move(s->found);
            next->effects = effects_;
            next->generation = s->previous->generation + 1;
            publish(std::move(next));
            log_->debug("{}: scan: {} namespace(s), {} change(s)", options_.name,
                        info()->namespaces.size(), events.size());
        }
    } else if (ec != std::errc::operation_canceled) {
        log_->warn("{}: namespace scan failed: {}", options_.name, ec.message());
    }
    scan_running_ = false;
    if (!events.empty()) notify_listeners(events);
    auto waiters = std::exchange(scan_waiters_, {});
    for (auto& w : waiters)
        if (w) w(ec);
    if (scan_again_ && !scan_running_ && state_ == State::live) start_scan(true);
}

void Controller::Impl::publish(std::shared_ptr<ControllerInfo> next)
{
    std::lock_guard lock(info_mutex_);
    info_ = std::move(next);
}

void Controller::Impl::notify_listeners(const std::vector<NamespaceEvent>& events)
{
    std::lock_guard dispatching(dispatch_mutex_);
    std::vector<std::pair<ListenerId, std::shared_ptr<std::function<void(const NamespaceEvent&)>>>>
        snapshot;
    {
        std::lock_guard lock(listeners_mutex_);
        snapshot.assign(listeners_.begin(), listeners_.end());
    }
    for (const auto& event : events) {
        for (const auto& [id, fn] : snapshot) {
            {
                std::lock_guard lock(listeners_mutex_);
                if (!listeners_.contains(id)) continue; // removed meanwhile
            }
            (*fn)(event);
        }
    }
}

} // namespace nvmecuse::ctrlr
