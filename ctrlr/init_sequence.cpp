// Controller bring-up, at start() and after every reset (owner thread):
// connect the admin queue → enable (controller_enable.cpp) → Identify Controller →
// Commands Supported and Effects (first bring-up only) → Number of Queues → I/O queues → namespace
// scan → Asynchronous Event Configuration → AERs → live.
// Mirrors Linux nvme_init_ctrl_finish() + nvme_setup_io_queues() + nvme_scan_work().
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "admin_commands.hpp"
#include "nvmecuse/ctrlr/effects.hpp"
#include "controller_impl.hpp"

namespace nvmecuse::ctrlr {

namespace {
const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);
}

void Controller::Impl::initialize(DoneFn done)
{
    recall_lanes();
    queues_.clear();
    // Until connected the transport is the worker's: no event fd either.
    transport_event_fd_ = -1;
    epoll_dirty_ = true;
    const std::uint64_t epoch = epoch_;
    off_loop<std::error_code>(
        [t = transport_.get()]() -> std::error_code {
            auto connected = t->connect_admin();
            return connected ? std::error_code{} : connected.error();
        },
        [this, epoch, done = std::move(done)](std::error_code ec) mutable {
            admin_connected(std::move(done), epoch, ec);
        });
}

void Controller::Impl::admin_connected(DoneFn done, std::uint64_t epoch, std::error_code ec)
{
    if (epoch != epoch_) {
        // Stopped, or reset, while connecting: what superseded it
        // disconnects (when_transport_idle()).
        done(canceled);
        return;
    }
    if (ec) {
        log_->error("{}: connecting the admin queue failed: {}", options_.name, ec.message());
        if (state_ != State::reconnecting) enter_failed(ec); // else: retried
        done(ec);
        return;
    }
    queues_.push_back(
        std::make_unique<QueueSlot>(&transport_->admin_queue(), nullptr, std::uint16_t{0}));
    transport_event_fd_ = transport_->event_fd();
    epoll_dirty_ = true;
    enable_controller([this, epoch, done = std::move(done)](std::error_code enabled) mutable {
        if (enabled) return init_failed(done, epoch, enabled, "enabling the controller");
        init_identify(std::move(done), epoch);
    });
}

void Controller::Impl::init_failed(DoneFn& done, std::uint64_t epoch, std::error_code ec,
                                   const char* step)
{
    if (epoch != epoch_) {
        done(canceled);
        return;
    }
    log_->error("{}: initialisation failed at {}: {}", options_.name, step, ec.message());
    if (state_ != State::reconnecting) enter_failed(ec); // else: the attempt is retried
    done(ec);
}

void Controller::Impl::init_identify(DoneFn done, std::uint64_t epoch)
{
    issue_internal(QueueKind::admin, admin::identify(nvme::Cns::controller),
                   [this, epoch, done = std::move(done)](Result&& r) mutable {
                       if (epoch != epoch_ || !r.ok())
                           return init_failed(done, epoch, admin::error_of(r),
                                              "Identify Controller");
                       std::memcpy(&id_ctrl_, r.data.data(), sizeof id_ctrl_);
                       transport_->controller_identified(id_ctrl_);
                       init_effects(std::move(done), epoch);
                   });
}

void Controller::Impl::init_effects(DoneFn done, std::uint64_t epoch)
{
    // Linux nvme_init_effects(): once per controller (it returns at once
    // when ctrl->effects is set, so neither a reset, a reconnect nor a
    // rescan reads the log again); an NVMe status leaves the log zeroed,
    // a transport error fails the bring-up.
    if (effects_) return init_number_of_queues(std::move(done), epoch);
    auto keep = [this](const nvme::CommandsSupportedEffectsLog& reported) {
        effects_ = std::make_shared<const nvme::CommandsSupportedEffectsLog>(
            with_known_effects(reported));
    };
    if ((id_ctrl_.lpa & nvme::lpa::commands_supported_effects) == 0) {
        keep({});
        return init_number_of_queues(std::move(done), epoch);
    }
    constexpr auto lid = static_cast<std::uint8_t>(nvme::LogPageId::commands_supported_effects);
    issue_internal(QueueKind::admin,
                   admin::get_log_page(lid, sizeof(nvme::CommandsSupportedEffectsLog), false, 0),
                   [this, epoch, keep, done = std::move(done)](Result&& r) mutable {
                       if (epoch != epoch_ || r.error)
                           return init_failed(done, epoch, admin::error_of(r),
                                              "Commands Supported and Effects");
                       nvme::CommandsSupportedEffectsLog reported{};
                       if (r.status.is_success() && r.data.size() >= sizeof reported)
                           std::memcpy(&reported, r.data.data(), sizeof reported);
                       else
                           log_->info("{}: Commands Supported and Effects log: {}; none used",
                                      options_.name, nvme::to_string(r.status));
                       keep(reported);
                       init_number_of_queues(std::move(done), epoch);
                   });
}

void Controller::Impl::init_number_of_queues(DoneFn done, std::uint64_t epoch)
{
    // The owner's own queues, then one per lane (lend_queues()).
    const std::uint32_t wanted = std::min<std::uint32_t>(
        std::uint32_t{options_.io_queues} + static_cast<std::uint32_t>(lanes_.size()),
        transport_->info().max_io_queues);
    if (wanted == 0) {
        deferred_.push_back([this, epoch, done = std::move(done)]() mutable {
            init_queues(std::move(done), epoch, 0);
        });
        return;
    }
    // Set Features Number of Queues (NVMe Base 2.0, 5.27.1.5): 0's based
    // counts in, granted 0's based counts out in DW0.
    const std::uint32_t cdw11 = nvme::feat::number_of_queues::Nsqr::make(wanted - 1) |
                                nvme::feat::number_of_queues::Ncqr::make(wanted - 1);
    issue_internal(
        QueueKind::admin, admin::set_features(nvme::FeatureId::number_of_queues, cdw11),
        [this, epoch, wanted, done = std::move(done)](Result&& r) mutable {
            if (epoch != epoch_ || r.error)
                return init_failed(done, epoch, admin::error_of(r), "Number of Queues");
            std::uint32_t granted = 0;
            if (r.status.is_success()) {
                const std::uint32_t sq = nvme::feat::number_of_queues::Nsqa::get(r.dw0) + 1;
                const std::uint32_t cq = nvme::feat::number_of_queues::Ncqa::get(r.dw0) + 1;
                granted = std::min({sq, cq, wanted});
            } else {
                // Linux carries on admin-only ("Could not set queue count").
                log_->warn("{}: Set Features Number of Queues failed: {}; no I/O queues",
                           options_.name, nvme::to_string(r.status));
            }
            // Queue creation may use the admin queue itself: run it
            // outside of this completion, at the top of the loop.
            deferred_.push_back([this, epoch, granted, done = std::move(done)]() mutable {
                init_queues(std::move(done), epoch, granted);
            });
        });
}

void Controller::Impl::init_queues(DoneFn done, std::uint64_t epoch, std::uint32_t count)
{
    if (epoch != epoch_) {
        done(canceled);
        return;
    }
    const std::uint32_t mqes =
        static_cast<std::uint32_t>(nvme::cap::Mqes::get(cap_)) + 1;
    const auto depth =
        static_cast<std::uint16_t>(std::min<std::uint32_t>(options_.io_queue_depth, mqes));
    // Off the loop: NVMe/TCP connects a socket per queue, PCIe polls the
    // admin queue for Create I/O CQ/SQ (nothing else is on it meanwhile:
    // user commands are held until live, the core's own chains start after).
    off_loop<CreatedQueues>(
        [t = transport_.get(), count, depth, name = options_.name,
         log = log_]() -> CreatedQueues {
            std::vector<std::unique_ptr<transport::QueuePair>> made;
            for (std::uint32_t qid = 1; qid <= count; ++qid) {
                auto q = t->create_io_queue(static_cast<std::uint16_t>(qid), depth);
                if (!q) {
                    if (qid == 1) return std::unexpected(q.error());
                    log->warn("{}: creating I/O queue {} failed: {}; using {}", name, qid,
                              q.error().message(), qid - 1);
                    break;
                }
                made.push_back(std::move(*q));
            }
            return made;
        },
        [this, epoch, depth, done = std::move(done)](CreatedQueues created) mutable {
            io_queues_created(std::move(done), epoch, std::move(created), depth);
        });
}

void Controller::Impl::io_queues_created(DoneFn done, std::uint64_t epoch, CreatedQueues created,
                                         std::uint16_t depth)
{
    if (epoch != epoch_) {
        done(canceled); // what superseded it disconnects, dropping them
        return;
    }
    if (!created) return init_failed(done, epoch, created.error(), "creating I/O queue 1");
    for (auto& q : *created) {
        transport::QueuePair* qp = q.get();
        const auto qid = static_cast<std::uint16_t>(queues_.size());
        queues_.push_back(std::make_unique<QueueSlot>(qp, std::move(q), qid));
    }
    epoll_dirty_ = true;
    log_->debug("{}: {} I/O queue(s) of depth {}", options_.name, queues_.size() - 1, depth);
    // The scan publishes ControllerInfo (with this Identify Controller).
    scan_next_waiters_.push_back([this, epoch, done = std::move(done)](std::error_code ec) mutable {
        if (epoch != epoch_ || ec)
            return init_failed(done, epoch, ec ? ec : canceled, "namespace scan");
        init_finish(std::move(done), epoch);
    });
    start_scan(false);
}

void Controller::Impl::init_finish(DoneFn done, std::uint64_t epoch)
{
    enable_async_events(epoch);
    go_live();
    start_keep_alive(epoch);
    log_->info("{}: controller ready: {} namespace(s), {} I/O queue(s)", options_.name,
               info()->namespaces.size(), queues_.size() - 1);
    done({});
}

} // namespace nvmecuse::ctrlr
