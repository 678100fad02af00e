// Asynchronous events (owner thread): configuration, keeping AERs
// outstanding, and reacting to what they report (NVMe Base 2.0, 5.2 and
// 5.27.1.7), plus the refresh after namespace-changing admin passthrough.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "admin_commands.hpp"
#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

void Controller::Impl::enable_async_events(std::uint64_t epoch)
{
    // The notices the kernel's nvme_enable_aen() (kernel 6.1,
    // NVME_AEN_SUPPORTED) enables where OAES says they exist, and nothing
    // else, so tools see the same Get Features 0Bh value through nvmecuse
    // as through the kernel driver (nvmet offers ANA change: 0x900). SMART
    // warnings stay as the controller's default has them.
    const std::uint32_t cdw11 =
        id_ctrl_.oaes & (nvme::oaes::namespace_attribute | nvme::oaes::firmware_activation |
                         nvme::oaes::ana_change | nvme::oaes::discovery_log_page_change);
    if (cdw11 == 0) return post_aers(epoch);
    issue_internal(
        QueueKind::admin, admin::set_features(nvme::FeatureId::async_event_configuration, cdw11),
        [this, epoch](Result&& r) {
            if (epoch != epoch_) return;
            if (!r.ok())
                log_->info("{}: Asynchronous Event Configuration not accepted ({}); continuing",
                           options_.name, r.error ? r.error.message() : nvme::to_string(r.status));
        });
    post_aers(epoch);
}

void Controller::Impl::post_aers(std::uint64_t epoch)
{
    // AERL is 0's based (NVMe Base 2.0, Figure 275).
    const std::uint32_t n =
        std::min<std::uint32_t>(options_.max_outstanding_aers, std::uint32_t{id_ctrl_.aerl} + 1);
    for (std::uint32_t i = 0; i < n; ++i)
        post_aer(epoch);
}

void Controller::Impl::post_aer(std::uint64_t epoch)
{
    // No timeout: an AER completes only when an event happens.
    issue_internal(
        QueueKind::admin, admin::async_event_request(),
        [this, epoch](Result&& r) { on_aer(std::move(r), epoch); }, /*untimed=*/true);
}

void Controller::Impl::on_aer(Result&& r, std::uint64_t epoch)
{
    if (epoch != epoch_ || r.error) return; // swept away by a reset or shutdown: silently
    if (!r.status.is_success()) {
        // Abort Requested / SQ deletion / AER Limit Exceeded / Invalid
        // Opcode: re-posting would only fail again.
        log_->info("{}: Asynchronous Event Request ended: {}", options_.name,
                   nvme::to_string(r.status));
        return;
    }
    if (state_ == State::live) post_aer(epoch);

    using nvme::AsyncEventType;
    const auto type = nvme::aer_result::type(r.dw0);
    const auto info = nvme::aer_result::info(r.dw0);
    const auto lid = nvme::aer_result::log_page(r.dw0);
    if (type == AsyncEventType::notice &&
        info == static_cast<std::uint8_t>(nvme::AsyncEventNotice::namespace_attribute_changed)) {
        log_->info("{}: namespace attribute changed", options_.name);
        // Reading the Changed Namespace List with RAE=0 re-arms the event.
        issue_internal(
            QueueKind::admin,
            admin::get_log_page(static_cast<std::uint8_t>(nvme::LogPageId::changed_namespace_list),
                                sizeof(nvme::ChangedNamespaceList), false),
            [this, epoch, dw0 = r.dw0](Result&& log) {
                if (epoch != epoch_) return;
                notify_event(dw0);
                std::optional<std::vector<std::uint32_t>> only;
                if (log.ok()) {
                    const auto& list = log.data.as<nvme::ChangedNamespaceList>();
                    // FFFFFFFFh in entry 0: more than 1024 changed, scan everything.
                    if (list.nsid[0] != nvme::nsid_all) {
                        only.emplace();
                        for (auto nsid : list.nsid) {
                            if (nsid == 0) break;
                            only->push_back(nsid);
                        }
                    }
                }
                request_scan(nullptr, std::move(only));
            });
        return;
    }
    const bool firmware_activated =
        type == AsyncEventType::notice &&
        info == static_cast<std::uint8_t>(nvme::AsyncEventNotice::firmware_activation_starting);
    const auto level = type == AsyncEventType::error || type == AsyncEventType::smart_health
                           ? spdlog::level::warn
                           : spdlog::level::info;
    log_->log(level, "{}: asynchronous event: type {} info {:#04x} log page {:#04x}", options_.name,
              static_cast<unsigned>(type), info, lid);
    // Read the named log page with RAE=0 to clear the event (5.2.1).
    issue_internal(QueueKind::admin, admin::get_log_page(lid, admin::event_log_size(lid), false),
                   [this, epoch, lid, firmware_activated, dw0 = r.dw0](Result&& log) {
                       if (epoch != epoch_) return;
                       if (!log.ok())
                           log_->info("{}: reading log page {:#04x} for an event failed",
                                      options_.name, lid);
                       notify_event(dw0);
                       // New firmware: Identify Controller (FR, capabilities) changed.
                       if (firmware_activated) request_scan(nullptr);
                   });
}

void Controller::Impl::after_admin_passthrough(std::uint8_t opc, DoneFn done)
{
    log_->debug("{}: admin opcode {:#04x} may have changed namespaces; rescanning", options_.name,
                opc);
    request_scan(std::move(done));
}

} // namespace nvmecuse::ctrlr
