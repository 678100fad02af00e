// Asynchronous events, Abort and Keep Alive of the emulated controller
// (NVMe Base 2.0, 5.1 "Abort", 5.2 "Asynchronous Event Request", 5.25 "Keep
// Alive", 5.27.1.7 "Asynchronous Event Configuration").
//
// Model: the host posts up to AERL+1 AERs; each is held (deferred) until an
// event is available. Events raised while no AER is outstanding wait in
// pending_events_. Once an event has been reported, further events of the
// same type stay queued until the host reads the event's log page with
// RAE=0 (clear_event()), which also retires queued events for that log: the
// host has seen its current content.
#include <algorithm>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

/// Entries of the Changed Namespace List log before it overflows (Figure 209).
constexpr std::size_t changed_namespace_capacity = 1024;

} // namespace

Outcome EmulatedController::admin_async_event_request(const CommandContext& c)
{
    // AERL is 0's based: AERL+1 requests may be outstanding (5.2).
    if (outstanding_aers_.size() >= std::size_t{config_.aerl} + 1)
        return nvme::Status(nvme::CommandSpecificStatus::async_event_request_limit_exceeded)
            .with_dnr();
    outstanding_aers_.push_back(c.sqe.cid);
    deliver_events();
    // deliver_events() may already have completed this request through the
    // sink; the dispatcher must not complete it a second time either way.
    return Outcome::later();
}

void EmulatedController::deliver_events()
{
    while (!outstanding_aers_.empty()) {
        const auto masked = [this](const PendingEvent& e) {
            return std::ranges::any_of(reported_events_,
                                       [&](const auto& r) { return r.second == e.type; });
        };
        const auto next = std::ranges::find_if_not(pending_events_, masked);
        if (next == pending_events_.end()) return;
        const PendingEvent event = *next;
        pending_events_.erase(next);
        const std::uint16_t cid = outstanding_aers_.front();
        outstanding_aers_.pop_front();
        reported_events_[event.log] = event.type;
        masked_logs_.insert(event.log);
        if (async_sink_)
            async_sink_(cid, Outcome::success(nvme::aer_result::make(
                                 event.type, event.info, static_cast<std::uint8_t>(event.log))));
    }
}

void EmulatedController::raise_event(nvme::AsyncEventType type, std::uint8_t info,
                                     nvme::LogPageId log)
{
    const bool already_queued = std::ranges::any_of(pending_events_, [&](const PendingEvent& e) {
        return e.type == type && e.info == info && e.log == log;
    });
    if (!already_queued) pending_events_.push_back(PendingEvent{type, info, log});
    deliver_events();
}

void EmulatedController::clear_event(nvme::LogPageId log)
{
    reported_events_.erase(log);
    masked_logs_.erase(log);
    // The host has just read this log: events still queued for it carry no
    // news (e.g. a second namespace change already in the list it read).
    std::erase_if(pending_events_, [&](const PendingEvent& e) { return e.log == log; });
    deliver_events();
}

void EmulatedController::reset_async_events()
{
    outstanding_aers_.clear();
    pending_events_.clear();
    reported_events_.clear();
    masked_logs_.clear();
}

void EmulatedController::namespace_changed(std::uint32_t nsid)
{
    const bool overflowed =
        !changed_namespaces_.empty() && changed_namespaces_.front() == nvme::nsid_all;
    if (!overflowed) {
        const auto at = std::ranges::lower_bound(changed_namespaces_, nsid);
        if (at == changed_namespaces_.end() || *at != nsid) {
            if (changed_namespaces_.size() == changed_namespace_capacity)
                changed_namespaces_.assign(1, nvme::nsid_all); // Figure 209: more than 1024
            else
                changed_namespaces_.insert(at, nsid);
        }
    }
    // Asynchronous Event Configuration bit 8 (default 0: the host opts in).
    if (async_event_enabled(nvme::feat::async_event_configuration::NamespaceAttributeNotices::mask))
        raise_event(nvme::AsyncEventType::notice,
                    static_cast<std::uint8_t>(nvme::AsyncEventNotice::namespace_attribute_changed),
                    nvme::LogPageId::changed_namespace_list);
}

Outcome EmulatedController::admin_abort(const CommandContext& c)
{
    // Commands execute synchronously here, so only AERs can still be in
    // flight. dw0 bit 0 = 1 means "not aborted" (5.1).
    const auto sqid = static_cast<std::uint16_t>(nvme::cmd::abort::Sqid::get(c.sqe));
    const auto cid = static_cast<std::uint16_t>(nvme::cmd::abort::Cid::get(c.sqe));
    if (sqid == 0) {
        const auto it = std::ranges::find(outstanding_aers_, cid);
        if (it != outstanding_aers_.end()) {
            outstanding_aers_.erase(it);
            if (async_sink_)
                async_sink_(cid, Outcome(nvme::Status(nvme::GenericStatus::aborted_by_request)));
            return Outcome::success(0);
        }
    }
    return Outcome::success(1);
}

Outcome EmulatedController::admin_keep_alive(const CommandContext&)
{
    last_keep_alive_ = now();
    return Outcome::success();
}

} // namespace nvmecuse::emu
