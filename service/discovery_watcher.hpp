// Persistent discovery: a discovery controller kept connected, whose
// Discovery Log Page is followed (nvme connect-all --persistent, with
// nvme-stas' behaviour: what appears is attached, what leaves is detached).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/service/controller_manager.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

#include "discovery_referrals.hpp"
#include "discovery_targets.hpp"

namespace nvmecuse::service {

/// Follows one discovery controller. Its log is read once at start, then
/// again after every Discovery Log Page Change event (notice F0h, log page
/// 70h; enabled by the core where OAES bit 31 offers it) and after every
/// reconnect of the discovery controller. Each read is reconciled with what
/// this watcher attached: NVM subsystem ports that appeared are attached,
/// those that left are detached, the others are left alone, so a repeated
/// identical log changes nothing. At most `max` ports are followed (those
/// past it in log order are dropped with a warning, as --attach does). A
/// port whose attach failed, or whose controller is no longer attached
/// (detached by hand, removed after ctrl-loss-tmo), is attached again at
/// the next read, as `nvme connect-all` connects what is not connected.
/// Referrals (SUBTYPE 1h) are followed as connect-all follows them
/// (discovery_referrals.hpp): each referred discovery controller is kept
/// connected too, its events and reconnects make the whole log be read
/// again, and the ports it lists are reconciled with the others', so that
/// what came only through a referral that left is detached. The cap holds
/// for the ports of every log together, the root's first.
/// Controllers attached stay when the watcher ends.
class DiscoveryWatcher {
public:
    /// Attaches one listed port; the names of the controllers it brought
    /// up, or why not (logged). Called on the watcher's thread.
    using Attach = std::function<std::expected<std::vector<std::string>, std::string>(
        const transport::TransportId&)>;
    /// Detaches the controller `name` that Attach brought up for `id`.
    using Detach = std::function<void(const std::string& name, const transport::TransportId& id)>;
    /// Whether the controller `name` that Attach brought up for `id` is
    /// still attached.
    using Present = std::function<bool(const std::string& name, const transport::TransportId& id)>;

    /// Takes the live discovery controller of `id`, reads its log (and
    /// those it refers to) and attaches what they list (before it
    /// returns), then follows them on a thread of its own. Referred
    /// discovery controllers are connected with `connect_referral` (called
    /// on the watcher's thread); without it referrals are only listed
    /// (referrals()). Errors: the first read of `id`'s log (the controller
    /// is then shut down). Any thread but the discovery controller's
    /// owner; blocks.
    [[nodiscard]] static std::expected<std::unique_ptr<DiscoveryWatcher>, std::string>
    start(std::unique_ptr<ctrlr::Controller> discovery, transport::TransportId id, Attach attach,
          Detach detach, Present present, ReferralTree::Connect connect_referral,
          std::size_t max = max_discovered_controllers);

    /// stop(), then shuts the discovery controller and those it refers to
    /// down; what they attached stays. Not on the watcher's thread, nor from Attach or Detach.
    ~DiscoveryWatcher();
    /// Stops following: no read, attach or detach after it returns (it
    /// waits for a reconcile in progress); the discovery controller stays
    /// connected until destruction. Idempotent; not on the watcher's
    /// thread, nor from Attach or Detach.
    void stop();
    DiscoveryWatcher(const DiscoveryWatcher&) = delete;
    DiscoveryWatcher& operator=(const DiscoveryWatcher&) = delete;

    /// The controllers attached through this watcher, in the order they
    /// were attached; any thread.
    [[nodiscard]] std::vector<std::string> attached() const;
    /// `listener` runs (on the controller's owner thread; it must not
    /// block) each time the discovery controller fails: a bring-up failed,
    /// or ctrl-loss-tmo ran out. Any thread; replaces the previous one.
    void on_failed(std::function<void()> listener);
    /// attached() with the port each was attached for.
    [[nodiscard]] std::vector<std::pair<std::string, transport::TransportId>> followed() const;
    /// The referred discovery controllers (SUBTYPE 1h) the last read
    /// followed, every level, in the order reached; without
    /// connect_referral, those the log listed. Any thread.
    [[nodiscard]] std::vector<transport::TransportId> referrals() const;
    /// Reads of the log reconciled so far, each counted once its attaches
    /// and detaches are done (failed reads included); any thread.
    [[nodiscard]] std::uint64_t reads() const;
    /// The discovery controller's transport ID.
    [[nodiscard]] const transport::TransportId& id() const noexcept { return id_; }
    /// The discovery controller, for its state and identify data.
    [[nodiscard]] ctrlr::Controller& controller() const noexcept { return *discovery_; }

private:
    DiscoveryWatcher(std::unique_ptr<ctrlr::Controller> discovery, transport::TransportId id,
                     Attach attach, Detach detach, Present present,
                     ReferralTree::Connect connect_referral, std::size_t max);
    /// Hooks the events of `c`, the discovery controller of `id`: a
    /// Discovery Log Page Change, and live again after a reconnect, wake
    /// the watcher; the root's failure goes to on_failed(), a referred
    /// one's wakes it (connected again at the read).
    void listen_to(ctrlr::Controller& c, const transport::TransportId& id, bool root);
    /// follow_log(), then counts the read (reads()) (watcher thread, or
    /// start()'s caller before the thread starts).
    std::expected<void, std::string> reconcile();
    /// Reads the log and attaches/detaches what changed.
    std::expected<void, std::string> follow_log();
    void wake();
    void run();

    /// A port as discovery_targets() tells them apart.
    using Key = std::tuple<std::string, std::string, std::string>;
    struct Followed {
        transport::TransportId id;
        std::vector<std::string> names;
    };

    std::unique_ptr<ctrlr::Controller> discovery_;
    transport::TransportId id_;
    Attach attach_;
    Detach detach_;
    Present present_;
    std::size_t max_;

    /// Guards everything below. Only the watcher's thread (or start()
    /// before it runs) changes followed_, under it; that thread reads it
    /// without.
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool pending_ = false; ///< a read is due
    bool stopping_ = false;
    std::function<void()> on_failed_;
    std::uint64_t reads_ = 0;
    std::vector<std::pair<Key, Followed>> followed_; ///< in log order
    std::vector<transport::TransportId> referrals_;
    /// Only the watcher's thread (or start() before it runs, or stop()
    /// after it ended) touches it; null without connect_referral.
    std::unique_ptr<ReferralTree> tree_;
    std::thread thread_;
};

/// A persistent discovery controller attached through a manager.
struct PersistentDiscovery {
    std::unique_ptr<DiscoveryWatcher> watcher;
    std::vector<ControllerStatus> attached; ///< by the first read
};

/// Connects the discovery controller `id` (tcp.persistent: Keep Alive and
/// reconnects), attaches through `manager` every NVM subsystem port it
/// lists, and that the discovery controllers it refers to list (connected
/// with `tcp` too), each with `request`'s nodes and discovered_by, and
/// `tcp`'s options; and returns the watcher that follows its changes (detaching
/// through `manager` only controllers it attached, and only while they
/// still have the transport ID it attached them with). Errors: connecting the discovery controller,
/// or reading its log. An empty log, and subsystems that fail to attach, are not errors: the
/// watcher waits for changes. Any thread; blocks.
[[nodiscard]] std::expected<PersistentDiscovery, ManagerError>
attach_persistent(ControllerManager& manager, const transport::TransportId& id,
                  const transport::tcp::TcpOptions& tcp, const AttachRequest& request);

} // namespace nvmecuse::service
