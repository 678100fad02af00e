// The persistent discovery watcher (discovery_watcher.hpp): a thread that
// re-reads a discovery controller's log when it says it changed, and the
// manager's attach/detach behind it.
#include "discovery_watcher.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <tuple>

#include "nvmecuse/spec/nvme.hpp"

#include "attach.hpp"

namespace nvmecuse::service {

using transport::TransportId;

namespace {

/// A port as discovery_targets() tells them apart.
std::tuple<std::string, std::string, std::string> key_of(const TransportId& id)
{
    return {id.traddr, id.trsvcid, id.subnqn};
}

bool is_discovery_log_change(std::uint32_t dw0)
{
    return nvme::aer_result::type(dw0) == nvme::AsyncEventType::notice &&
           nvme::aer_result::info(dw0) ==
               static_cast<std::uint8_t>(nvme::AsyncEventNotice::discovery_log_page_change);
}

} // namespace

DiscoveryWatcher::DiscoveryWatcher(std::unique_ptr<ctrlr::Controller> discovery, TransportId id,
                                   Attach attach, Detach detach, Present present,
                                   ReferralTree::Connect connect_referral, std::size_t max)
    : discovery_(std::move(discovery)), id_(std::move(id)), attach_(std::move(attach)),
      detach_(std::move(detach)), present_(std::move(present)), max_(max)
{
    if (connect_referral)
        tree_ = std::make_unique<ReferralTree>(
            id_, std::move(connect_referral),
            [this](ctrlr::Controller& c, const TransportId& referred) {
                listen_to(c, referred, false);
            },
            max_);
}

std::expected<std::unique_ptr<DiscoveryWatcher>, std::string>
DiscoveryWatcher::start(std::unique_ptr<ctrlr::Controller> discovery, TransportId id, Attach attach,
                        Detach detach, Present present, ReferralTree::Connect connect_referral,
                        std::size_t max)
{
    std::unique_ptr<DiscoveryWatcher> w(new DiscoveryWatcher(
        std::move(discovery), std::move(id), std::move(attach), std::move(detach),
        std::move(present), std::move(connect_referral), max));
    // Listening before the first read: a change during it is read again.
    w->listen_to(*w->discovery_, w->id_, true);
    if (auto first = w->reconcile(); !first) return std::unexpected(std::move(first.error()));
    w->thread_ = std::thread([raw = w.get()] { raw->run(); });
    return w;
}

void DiscoveryWatcher::listen_to(ctrlr::Controller& c, const TransportId& id, bool root)
{
    c.on_async_event([this, name = id.describe(), root](std::uint32_t dw0) {
        if (!is_discovery_log_change(dw0)) return;
        if (root)
            spdlog::info("{}: Discovery Log Page Change", name);
        else
            spdlog::info("{}: Discovery Log Page Change (referred by {})", name, id_.describe());
        wake();
    });
    // Touched only on c's owner thread, where the listener runs.
    auto reconnecting = std::make_shared<bool>(false);
    c.on_state_change([this, root, reconnecting](ctrlr::Controller::State state) {
        using State = ctrlr::Controller::State;
        if (state == State::connecting) *reconnecting = true;
        if (state == State::failed) {
            if (!root) {
                wake(); // connected again at the read
                return;
            }
            std::lock_guard lock(mutex_);
            spdlog::warn("{}: discovery controller failed: its log changes are no longer "
                         "followed (the controllers it attached stay)",
                         id_.describe());
            if (on_failed_) on_failed_();
            return;
        }
        if (state != State::live || !*reconnecting) return;
        *reconnecting = false; // the log may have changed while it was away
        wake();
    });
}

DiscoveryWatcher::~DiscoveryWatcher()
{
    stop();
    tree_.reset();
    discovery_.reset();
}

void DiscoveryWatcher::stop()
{
    discovery_->on_async_event({});
    discovery_->on_state_change({});
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (tree_) tree_->quiet();
}

void DiscoveryWatcher::on_failed(std::function<void()> listener)
{
    std::lock_guard lock(mutex_);
    on_failed_ = std::move(listener);
}

std::vector<std::pair<std::string, TransportId>> DiscoveryWatcher::followed() const
{
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, TransportId>> out;
    for (const auto& [key, f] : followed_)
        for (const auto& name : f.names)
            out.emplace_back(name, f.id);
    return out;
}

std::vector<std::string> DiscoveryWatcher::attached() const
{
    std::vector<std::string> out;
    for (auto& [name, id] : followed())
        out.push_back(std::move(name));
    return out;
}

std::vector<TransportId> DiscoveryWatcher::referrals() const
{
    std::lock_guard lock(mutex_);
    return referrals_;
}

std::uint64_t DiscoveryWatcher::reads() const
{
    std::lock_guard lock(mutex_);
    return reads_;
}

void DiscoveryWatcher::wake()
{
    {
        std::lock_guard lock(mutex_);
        pending_ = true;
    }
    wake_.notify_all();
}

void DiscoveryWatcher::run()
{
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || pending_; });
        if (stopping_) return;
        pending_ = false;
        lock.unlock();
        if (auto done = reconcile(); !done) spdlog::warn("{}", done.error());
        lock.lock();
    }
}

std::expected<void, std::string> DiscoveryWatcher::reconcile()
{
    auto done = follow_log();
    std::lock_guard lock(mutex_);
    ++reads_;
    return done;
}

std::expected<void, std::string> DiscoveryWatcher::follow_log()
{
    std::vector<TransportId> referrals;
    auto targets = listed_targets(*discovery_, id_, max_, &referrals);
    if (!targets) return std::unexpected(std::move(targets.error()));
    if (tree_) {
        auto all = merged_targets(std::move(*targets), tree_->follow(referrals), max_);
        if (all.dropped != 0)
            spdlog::warn("{}: {} NVM subsystem port(s) its referrals list dropped (at most {} "
                         "through one discovery controller)",
                         id_.describe(), all.dropped, max_);
        *targets = std::move(all.targets);
        referrals = tree_->followed();
    }
    {
        std::lock_guard lock(mutex_);
        referrals_ = std::move(referrals);
    }
    std::vector<Key> listed;
    for (const TransportId& t : *targets)
        listed.push_back(key_of(t));
    const auto unfollow = [this](const Key& key) {
        std::lock_guard lock(mutex_);
        std::erase_if(followed_, [&](const auto& entry) { return entry.first == key; });
    };
    std::vector<Followed> gone;
    std::vector<Followed> vanished;
    for (const auto& [key, followed] : followed_) {
        if (std::ranges::find(listed, key) == listed.end())
            gone.push_back(followed);
        else if (!std::ranges::all_of(followed.names, [&](const std::string& name) {
                     return present_(name, followed.id);
                 }))
            vanished.push_back(followed);
    }
    for (const Followed& f : gone) {
        unfollow(key_of(f.id));
        spdlog::info("{}: {} left the discovery log: detaching {}", id_.describe(), f.id.describe(),
                     fmt::join(f.names, ", "));
        for (const auto& name : f.names)
            detach_(name, f.id);
    }
    for (const Followed& f : vanished) {
        unfollow(key_of(f.id));
        spdlog::info("{}: {} is listed but {} no longer attached: attaching it again",
                     id_.describe(), f.id.describe(), fmt::join(f.names, ", "));
    }
    for (std::size_t i = 0; i < targets->size(); ++i) {
        if (std::ranges::any_of(followed_,
                                [&](const auto& entry) { return entry.first == listed[i]; }))
            continue;
        const TransportId& target = (*targets)[i];
        auto names = attach_(target);
        if (!names) {
            spdlog::warn("{}: {} (tried again at the next change of the log)", id_.describe(),
                         names.error());
            continue;
        }
        std::lock_guard lock(mutex_);
        followed_.emplace_back(listed[i], Followed{target, std::move(*names)});
    }
    return {};
}

std::expected<PersistentDiscovery, ManagerError>
attach_persistent(ControllerManager& manager, const TransportId& id,
                  const transport::tcp::TcpOptions& tcp, const AttachRequest& request)
{
    auto discovery = connect_discovery(id, tcp);
    if (!discovery)
        return std::unexpected(ManagerError{ManagerError::Kind::failed,
                                            std::move(discovery.error().message),
                                            discovery.error().unreachable});
    auto subsystem_tcp = tcp;
    subsystem_tcp.persistent = false;
    AttachRequest subsystem_request;
    subsystem_request.nodes = request.nodes;
    subsystem_request.discovered_by = request.discovered_by;
    auto attach =
        [&manager, subsystem_tcp, subsystem_request](
            const TransportId& target) -> std::expected<std::vector<std::string>, std::string> {
        auto attached = manager.attach(target, subsystem_tcp, subsystem_request);
        if (!attached) return std::unexpected(std::move(attached.error().message));
        std::vector<std::string> names;
        for (const auto& status : *attached)
            names.push_back(status.name);
        return names;
    };
    // Detached by hand meanwhile, its name perhaps reused: not ours.
    auto present = [&manager](const std::string& name, const TransportId& target) {
        const auto status = manager.find(name);
        return status && key_of(status->transport_id) == key_of(target);
    };
    auto detach = [&manager, present](const std::string& name, const TransportId& target) {
        if (!present(name, target)) return;
        if (auto detached = manager.detach(name); !detached)
            spdlog::warn("{}", detached.error().message);
    };
    // Referred discovery controllers are kept as the first one is.
    auto connect_referral = [tcp](const TransportId& referral)
        -> std::expected<std::unique_ptr<ctrlr::Controller>, std::string> {
        auto connected = connect_discovery(referral, tcp);
        if (!connected) return std::unexpected(std::move(connected.error().message));
        return std::move(*connected);
    };
    auto watcher =
        DiscoveryWatcher::start(std::move(*discovery), id, std::move(attach), std::move(detach),
                                std::move(present), std::move(connect_referral));
    if (!watcher)
        return std::unexpected(
            ManagerError{ManagerError::Kind::failed, std::move(watcher.error())});
    PersistentDiscovery out;
    for (const auto& name : (*watcher)->attached())
        if (auto status = manager.find(name)) out.attached.push_back(std::move(*status));
    out.watcher = std::move(*watcher);
    spdlog::info("{}: following the discovery log (persistent)", id.describe());
    return out;
}

} // namespace nvmecuse::service
