// Referrals in a Discovery Log Page (SUBTYPE 1h: another discovery
// subsystem), followed as nvme-cli's connect-all and nvme-stas follow them:
// the referred discovery controller is connected too, its log read, and
// the NVM subsystems it lists are attached like the first one's.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/transport/transport_id.hpp"

#include "discovery_targets.hpp"

namespace nvmecuse::service {

/// Levels of referrals followed: a referred log may refer further, and
/// nvme-cli's connect-all recurses through them (libnvme's discovery
/// example stops at 8 levels, as here).
inline constexpr std::size_t max_referral_depth = 8;
/// Referred discovery controllers followed at most from one discovery
/// controller, all levels together. A discovery controller is a remote
/// party: a log of referrals, or a ring of them that names one port by
/// several addresses, would otherwise make the daemon connect without end.
inline constexpr std::size_t max_followed_referrals = 16;

/// The discovery controllers one discovery controller (the root) refers
/// to, directly or through others, each connected once. Not thread-safe:
/// one thread at a time (the watcher's).
class ReferralTree {
public:
    /// Connects the discovery controller of `id`; why not (logged).
    using Connect = std::function<std::expected<std::unique_ptr<ctrlr::Controller>, std::string>(
        const transport::TransportId& id)>;
    /// Called for each controller Connect brought up for `id`, before its
    /// log is read: hooks its events. Not called again for the same
    /// controller.
    using Listen = std::function<void(ctrlr::Controller&, const transport::TransportId& id)>;

    /// `root` is the discovery controller whose referrals follow() gets:
    /// never connected again (a referral back to it is a loop); its
    /// hostnqn and hostid go to every referral. `max` caps the ports each
    /// referred log lists (as listed_targets()).
    ReferralTree(transport::TransportId root, Connect connect, Listen listen,
                 std::size_t max = max_discovered_controllers);
    /// Shuts each referred discovery controller down.
    ~ReferralTree();
    ReferralTree(const ReferralTree&) = delete;
    ReferralTree& operator=(const ReferralTree&) = delete;

    /// Follows `referrals` (what the root's log lists with SUBTYPE 1h, in
    /// order), breadth first: each referred discovery controller not yet
    /// connected (or whose controller failed) is connected, each one's log
    /// is read, and the referrals it lists are followed in turn, up to
    /// max_referral_depth levels and max_followed_referrals controllers;
    /// a referral to the root or to one already followed is a loop, and
    /// skipped. Those no longer referred are shut down. Returns the NVM
    /// subsystem ports the referred logs list, in that order (duplicates
    /// included); where a connect or read failed, those of its last
    /// successful read (the controllers attached through it stay, as they
    /// stay when the root is lost).
    [[nodiscard]] std::vector<transport::TransportId>
    follow(const std::vector<transport::TransportId>& referrals);

    /// The referred discovery controllers the last follow() followed, in
    /// the order it reached them.
    [[nodiscard]] std::vector<transport::TransportId> followed() const;

    /// Clears the listeners of every referred controller (Listen's hooks).
    void quiet();

private:
    /// A discovery controller as referrals tell them apart: traddr,
    /// trsvcid and subnqn (empty: the discovery NQN).
    using Key = std::tuple<std::string, std::string, std::string>;
    struct Referred {
        transport::TransportId id;
        std::unique_ptr<ctrlr::Controller> controller;
        bool read = false; ///< ports and referrals hold a successful read
        std::vector<transport::TransportId> ports;
        std::vector<transport::TransportId> referrals;
    };
    static Key key_of(const transport::TransportId& id);
    /// Connects `r` where it has no live controller, then reads its log.
    void refresh(Referred& r);

    transport::TransportId root_;
    Connect connect_;
    Listen listen_;
    std::size_t max_;
    std::vector<std::pair<Key, Referred>> referred_; ///< in the order reached
};

} // namespace nvmecuse::service
