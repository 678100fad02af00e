// ReferralTree (discovery_referrals.hpp): the discovery controllers a
// discovery log refers to, connected and read breadth first, with loops,
// depth and count bounded.
#include "discovery_referrals.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <set>

#include "attach.hpp"

namespace nvmecuse::service {

using transport::TransportId;

ReferralTree::ReferralTree(TransportId root, Connect connect, Listen listen, std::size_t max)
    : root_(std::move(root)), connect_(std::move(connect)), listen_(std::move(listen)), max_(max)
{
}

ReferralTree::~ReferralTree()
{
    quiet();
    // Each controller's destructor shuts it down, in the order reached.
    referred_.clear();
}

ReferralTree::Key ReferralTree::key_of(const TransportId& id)
{
    return {id.traddr, id.trsvcid,
            id.subnqn.empty() ? std::string(transport::discovery_nqn) : id.subnqn};
}

void ReferralTree::quiet()
{
    for (auto& [key, r] : referred_) {
        if (!r.controller) continue;
        r.controller->on_async_event({});
        r.controller->on_state_change({});
    }
}

void ReferralTree::refresh(Referred& r)
{
    using State = ctrlr::Controller::State;
    if (r.controller && r.controller->state() == State::failed) {
        spdlog::info("{}: referred discovery controller failed: connecting it again",
                     r.id.describe());
        r.controller->on_async_event({});
        r.controller->on_state_change({});
        r.controller.reset();
    }
    if (!r.controller) {
        auto connected = connect_(r.id);
        if (!connected) {
            spdlog::warn("{} (referred by {}; tried again at the next read)", connected.error(),
                         root_.describe());
            return;
        }
        r.controller = std::move(*connected);
        if (listen_) listen_(*r.controller, r.id);
        spdlog::info("{}: following the referred discovery controller (referred through {})",
                     r.id.describe(), root_.describe());
    }
    std::vector<TransportId> referrals;
    auto ports = listed_targets(*r.controller, r.id, max_, &referrals);
    if (!ports) {
        spdlog::warn("{} (its last listing stands)", ports.error());
        return;
    }
    r.read = true;
    r.ports = std::move(*ports);
    r.referrals = std::move(referrals);
}

std::vector<TransportId> ReferralTree::follow(const std::vector<TransportId>& referrals)
{
    std::set<Key> seen{key_of(root_)};
    std::deque<std::pair<TransportId, std::size_t>> queue; ///< with its depth
    for (const auto& id : referrals)
        queue.emplace_back(id, 1);
    std::vector<std::pair<Key, Referred>> reached;
    std::vector<TransportId> ports;
    std::size_t too_deep = 0;
    std::size_t too_many = 0;
    while (!queue.empty()) {
        auto [id, depth] = std::move(queue.front());
        queue.pop_front();
        const Key key = key_of(id);
        if (!seen.insert(key).second) continue; // a loop, or referred twice
        if (depth > max_referral_depth) {
            ++too_deep;
            continue;
        }
        if (reached.size() == max_followed_referrals) {
            ++too_many;
            continue;
        }
        auto known = std::ranges::find(referred_, key, &std::pair<Key, Referred>::first);
        if (known != referred_.end()) {
            reached.push_back(std::move(*known));
            referred_.erase(known);
        } else {
            id.hostnqn = root_.hostnqn;
            id.hostid = root_.hostid;
            Referred fresh;
            fresh.id = std::move(id);
            reached.emplace_back(key, std::move(fresh));
        }
        Referred& r = reached.back().second;
        refresh(r);
        ports.insert(ports.end(), r.ports.begin(), r.ports.end());
        for (const auto& further : r.referrals)
            queue.emplace_back(further, depth + 1);
    }
    if (too_deep != 0)
        spdlog::warn("{}: {} referral(s) more than {} levels away not followed", root_.describe(),
                     too_deep, max_referral_depth);
    if (too_many != 0)
        spdlog::warn("{}: {} referral(s) past the first {} not followed", root_.describe(),
                     too_many, max_followed_referrals);
    for (auto& [key, r] : referred_) {
        spdlog::info("{}: no longer referred: disconnecting it", r.id.describe());
        if (!r.controller) continue;
        r.controller->on_async_event({});
        r.controller->on_state_change({});
    }
    referred_ = std::move(reached); // those left over are shut down here
    return ports;
}

std::vector<TransportId> ReferralTree::followed() const
{
    std::vector<TransportId> out;
    for (const auto& [key, r] : referred_)
        out.push_back(r.id);
    return out;
}

} // namespace nvmecuse::service
