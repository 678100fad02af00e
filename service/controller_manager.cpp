// The controller manager (controller_manager.hpp): a map of entries, each
// with its own lock, so that one controller's slow step (connect, reset,
// detach grace) never holds up the others.
#include "nvmecuse/service/controller_manager.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>

#include "attach.hpp"
#include "discovery_watcher.hpp"
#include "emulated.hpp"
#include "served_controller.hpp"

namespace nvmecuse::service {

namespace {

using Kind = ManagerError::Kind;

/// What the manager is doing to an entry, for list() while it holds the
/// entry's lock.
enum class Activity : std::uint8_t { none, resetting, rescanning, registering, detaching };

const char* to_string(Activity a)
{
    switch (a) {
    case Activity::resetting: return "resetting";
    case Activity::rescanning: return "rescanning";
    case Activity::registering: return "registering";
    case Activity::detaching: return "detaching";
    case Activity::none: break;
    }
    return "";
}

/// A lost connection that ctrl-loss-tmo gave up on: Linux deletes the
/// controller (nvme_fabrics' error recovery, nvme_delete_ctrl()).
bool lost(const ctrlr::Controller& controller)
{
    return controller.path_state() == ctrlr::Controller::PathState::lost;
}

/// How long list() waits for an entry busy with a long step before it
/// reports the step instead.
constexpr std::chrono::milliseconds list_patience{50};

} // namespace

struct ControllerManager::Entry {
    Entry(std::string n, transport::TransportId i, ServedController s)
        : name(std::move(n)), index(s.claim.index()), id(std::move(i)), served(std::move(s))
    {
    }

    std::string name;
    unsigned index = 0;        ///< of the claim, kept past detaching
    transport::TransportId id; ///< empty trtype: emulated
    bool named = false;        ///< the caller's name, not the index's
    transport::tcp::TcpOptions tcp;
    std::string emulated_config;
    std::string discovered_by; ///< the persistent discovery controller that attached it
    bool discovery = false;    ///< a persistent discovery controller (`watcher` until detached)
    bool discovered_nodes = true; ///< discovery: what it attaches gets nodes
    /// A persistent discovery controller: follows its log and owns it
    /// (served.controller stays null). Destroyed before `served.claim`.
    std::unique_ptr<DiscoveryWatcher> watcher;
    /// Guards `served` and serialises steps. Not a timed_mutex: TSan does
    /// not see GCC's try_lock_for (pthread_mutex_clocklock).
    std::mutex mutex;
    std::atomic<Activity> activity{Activity::none};
    ServedController served;   ///< controller null once detached
    /// served.controller for list() while a step holds `mutex`; null from
    /// just before the controller is destroyed.
    std::mutex view_mutex;
    const ctrlr::Controller* view = nullptr;

    /// Sets `activity` for the lifetime of one step; clears it only when no
    /// other step (a detach) has set its own meanwhile.
    struct Doing {
        Entry& entry;
        Activity mine;
        Doing(Entry& e, Activity a) : entry(e), mine(a) { entry.activity = a; }
        ~Doing() { entry.activity.compare_exchange_strong(mine, Activity::none); }
    };

    /// The controller, null once detached; under `mutex`.
    ctrlr::Controller* controller() const
    {
        if (watcher) return &watcher->controller();
        return served.controller.get();
    }

    /// The controller's state, while it has one.
    std::optional<ctrlr::Controller::State> state()
    {
        std::lock_guard lock(view_mutex);
        if (view == nullptr) return std::nullopt;
        return view->state();
    }
};

namespace {

std::optional<ControllerStatus> status_of(ControllerManager::Entry& e);

} // namespace

bool is_index_name(std::string_view name) noexcept
{
    return name.size() > 4 && name.starts_with("nvme") &&
           std::all_of(name.begin() + 4, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const char* state_name(ctrlr::Controller::State state) noexcept
{
    using State = ctrlr::Controller::State;
    switch (state) {
    case State::starting: return "new";
    case State::live: return "live";
    case State::resetting: return "resetting";
    case State::connecting: return "connecting";
    case State::failed: return "failed";
    case State::deleting: break;
    }
    return "deleting";
}

ControllerManager::ControllerManager(ServeOptions serving)
    : serving_(std::move(serving)), reaper_([this] { reap(); })
{
}

ControllerManager::~ControllerManager()
{
    detach_all();
    {
        std::lock_guard lock(lost_mutex_);
        stopping_ = true;
    }
    lost_wake_.notify_all();
    reaper_.join();
}

void ControllerManager::state_changed(const std::weak_ptr<Entry>& entry,
                                      ctrlr::Controller::State state)
{
    if (state != ctrlr::Controller::State::failed) return;
    {
        std::lock_guard lock(lost_mutex_);
        lost_.push_back(entry);
    }
    lost_wake_.notify_all();
}

void ControllerManager::reap()
{
    std::unique_lock lock(lost_mutex_);
    for (;;) {
        lost_wake_.wait(lock, [this] { return stopping_ || !lost_.empty(); });
        if (stopping_) return;
        auto candidates = std::exchange(lost_, {});
        lock.unlock();
        for (const auto& weak : candidates) {
            auto entry = weak.lock();
            if (!entry) continue;
            {
                std::lock_guard view(entry->view_mutex);
                if (entry->view == nullptr || !lost(*entry->view)) continue; // failed otherwise
            }
            spdlog::warn("{}: controller lost (ctrl-loss-tmo expired): removing it, its nodes "
                         "and its index, as Linux deletes the controller",
                         entry->name);
            // A discovery controller's controllers stay, as Linux's do.
            (void)detach_entry(entry, default_detach_grace, false); // a concurrent detach may have it
        }
        lock.lock();
    }
}

void ControllerManager::on_change(std::function<void()> changed)
{
    std::lock_guard lock(changed_mutex_);
    changed_ = std::move(changed);
}

void ControllerManager::changed()
{
    std::lock_guard lock(changed_mutex_);
    if (changed_) changed_();
}

std::expected<void, ManagerError> ControllerManager::reserve(const std::string& name)
{
    if (name.empty()) return {};
    if (is_index_name(name))
        return std::unexpected(ManagerError{
            Kind::invalid, fmt::format("{}: names nvme<N> are the controllers' indexes", name)});
    std::lock_guard lock(mutex_);
    if (entries_.contains(name) || reserved_.contains(name))
        return std::unexpected(
            ManagerError{Kind::exists, fmt::format("{}: a controller of that name exists", name)});
    reserved_.insert(name);
    return {};
}

void ControllerManager::unreserve(const std::string& name)
{
    if (name.empty()) return;
    std::lock_guard lock(mutex_);
    reserved_.erase(name);
}

ControllerStatus ControllerManager::adopt(ServedController served, const AttachRequest& request,
                                          const transport::TransportId& id,
                                          const transport::tcp::TcpOptions& tcp)
{
    std::string name = request.name.empty() ? served.name() : request.name;
    auto entry = std::make_shared<Entry>(std::move(name), id, std::move(served));
    entry->named = !request.name.empty();
    entry->tcp = tcp;
    entry->emulated_config = request.emulated_config;
    entry->discovered_by = request.discovered_by;
    ctrlr::Controller& controller = *entry->served.controller;
    entry->view = &controller;
    // Taken before the entry is visible: once it is, another client's
    // detach may take it at any moment.
    auto status = status_of(*entry);
    std::weak_ptr<Entry> weak = entry;
    controller.on_state_change(
        [this, weak](ctrlr::Controller::State state) { state_changed(weak, state); });
    {
        std::lock_guard lock(mutex_);
        reserved_.erase(entry->name);
        entries_.emplace(entry->name, entry);
    }
    // Lost before it was in the map, where the reaper looks: again.
    if (entry->state() == ctrlr::Controller::State::failed)
        state_changed(weak, ctrlr::Controller::State::failed);
    changed();
    return std::move(*status);
}

std::expected<std::vector<ControllerStatus>, ManagerError>
ControllerManager::attach(const transport::TransportId& id, const transport::tcp::TcpOptions& tcp,
                          const AttachRequest& request)
{
    if (tcp.persistent && id.is_discovery()) return attach_discovery(id, tcp, request);
    if (!request.name.empty() && id.is_discovery())
        return std::unexpected(ManagerError{
            Kind::invalid, fmt::format("{}: a discovery controller may list several "
                                       "subsystems; attach them without a name, or name the "
                                       "subsystem (subnqn), or keep it (persistent)",
                                       id.describe())});
    if (auto reserved = reserve(request.name); !reserved) return std::unexpected(reserved.error());
    std::vector<ControllerStatus> attached_controllers;
    auto attached = attach_target(id, tcp, serving_, request.nodes,
                                  [&](ServedController served, const transport::TransportId& target) {
                                      attached_controllers.push_back(adopt(std::move(served), request, target, tcp));
                                      spdlog::info("{}: attached {}", attached_controllers.back().name,
                                                   target.describe());
                                  });
    unreserve(request.name);
    if (!attached)
        return std::unexpected(ManagerError{Kind::failed, std::move(attached.error().message),
                                            attached.error().unreachable});
    return attached_controllers;
}

std::expected<std::vector<ControllerStatus>, ManagerError>
ControllerManager::attach_discovery(const transport::TransportId& id,
                                    const transport::tcp::TcpOptions& tcp,
                                    const AttachRequest& request)
{
    if (auto reserved = reserve(request.name); !reserved) return std::unexpected(reserved.error());
    // Claimed first, as Linux makes the discovery controller nvme<N> before
    // the controllers it lists: they know its name.
    auto claim = cuse::IndexClaim::claim_lowest(serving_.lock_directory);
    if (!claim) {
        unreserve(request.name);
        return std::unexpected(ManagerError{
            Kind::failed, fmt::format("{}: claiming a controller index in {}: {}", id.describe(),
                                      serving_.lock_directory, claim.error().message())});
    }
    ServedController served{std::move(*claim), nullptr, nullptr};
    AttachRequest own = request;
    own.discovered_by = request.name.empty() ? served.name() : request.name;
    auto persistent = attach_persistent(*this, id, tcp, own);
    unreserve(request.name);
    if (!persistent) return std::unexpected(persistent.error());
    // Its controller node, as the kernel's /dev/nvme<N> of a persistent
    // discovery controller (nvme discover -d, nvme get-log --log-id=0x70).
    std::string nodes_failed;
    if (request.nodes) {
        auto registry = create_nodes(persistent->watcher->controller(), served.claim, serving_);
        if (registry)
            served.registry = std::move(*registry);
        else
            nodes_failed = std::move(registry.error());
    }
    auto entry = std::make_shared<Entry>(own.discovered_by, id, std::move(served));
    entry->named = !request.name.empty();
    entry->tcp = tcp;
    if (!tcp.kato_set) entry->tcp.kato = persistent_discovery_kato;
    entry->discovery = true;
    entry->discovered_nodes = request.nodes;
    entry->watcher = std::move(persistent->watcher);
    entry->view = &entry->watcher->controller();
    auto status = status_of(*entry);
    std::weak_ptr<Entry> weak = entry;
    entry->watcher->on_failed(
        [this, weak] { state_changed(weak, ctrlr::Controller::State::failed); });
    {
        std::lock_guard lock(mutex_);
        entries_.emplace(entry->name, entry);
    }
    if (!nodes_failed.empty()) {
        // Taken down as a detach does, with what it attached.
        (void)detach_entry(entry, default_detach_grace);
        return std::unexpected(ManagerError{Kind::failed, std::move(nodes_failed)});
    }
    // Lost before it was in the map, where the reaper looks: again.
    if (entry->state() == ctrlr::Controller::State::failed)
        state_changed(weak, ctrlr::Controller::State::failed);
    spdlog::info("{}: attached the discovery controller {} (persistent)", entry->name,
                 id.describe());
    changed();
    std::vector<ControllerStatus> out{std::move(*status)};
    for (auto& child : persistent->attached)
        out.push_back(std::move(child));
    prune_discovered(out.front(), out);
    return out;
}

std::expected<ControllerStatus, ManagerError>
ControllerManager::attach_emulated(const emu::ControllerConfig& config, const AttachRequest& request)
{
    if (auto reserved = reserve(request.name); !reserved) return std::unexpected(reserved.error());
    auto served = serve_emulated(config, serving_, request.nodes);
    if (!served) {
        unreserve(request.name);
        return std::unexpected(ManagerError{Kind::failed, std::move(served.error())});
    }
    auto status = adopt(std::move(*served), request, {}, {});
    spdlog::info("{}: attached the emulated controller", status.name);
    return status;
}

std::expected<std::shared_ptr<ControllerManager::Entry>, ManagerError>
ControllerManager::lookup(std::string_view name) const
{
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end())
        return std::unexpected(
            ManagerError{Kind::not_found, fmt::format("{}: no such controller", name)});
    return it->second;
}

namespace {

/// Ioctls of the controller's nodes waiting for it now.
std::uint64_t in_flight(const cuse::Registry& registry)
{
    std::uint64_t n = 0;
    for (const auto& devname : registry.devnames())
        if (auto stats = registry.stats(devname)) n += stats->in_flight;
    return n;
}

/// Waits up to `grace` for the in-flight ioctls to finish, then stops
/// every node (waiting callers get ENODEV) and destroys the registry.
void remove_nodes(std::unique_ptr<cuse::Registry>& registry, std::chrono::milliseconds grace,
                  const std::string& name)
{
    if (!registry) return;
    const auto deadline = std::chrono::steady_clock::now() + grace;
    std::uint64_t waiting = 0;
    while ((waiting = in_flight(*registry)) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (waiting != 0)
        spdlog::warn("{}: {} ioctl(s) still in flight after {} ms: they fail with ENODEV", name,
                     waiting, grace.count());
    registry->stop();
    registry.reset();
}

} // namespace

std::expected<void, ManagerError> ControllerManager::detach(std::string_view name,
                                                            std::chrono::milliseconds grace)
{
    auto entry = lookup(name);
    if (!entry) return std::unexpected(entry.error());
    return detach_entry(std::move(*entry), grace);
}

std::expected<void, ManagerError> ControllerManager::detach_emulated(std::string_view name)
{
    auto entry = lookup(name);
    if (!entry) return std::unexpected(entry.error());
    if (!(*entry)->id.trtype.empty())
        return std::unexpected(ManagerError{
            Kind::invalid, fmt::format("{}: not an emulated controller ({}): detach it with "
                                       "controller_detach",
                                       name, (*entry)->id.describe())});
    return detach_entry(std::move(*entry), default_detach_grace);
}

std::expected<void, ManagerError>
ControllerManager::detach_entry(std::shared_ptr<Entry> entry, std::chrono::milliseconds grace,
                                bool with_discovered)
{
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(entry->name);
        if (it == entries_.end() || it->second != entry)
            return std::unexpected(
                ManagerError{Kind::not_found, fmt::format("{}: no such controller", entry->name)});
        entries_.erase(it);
    }
    // Set before the lock: while a step (registering) holds it, list() says so.
    entry->activity = Activity::detaching;
    std::vector<std::pair<std::string, transport::TransportId>> discovered;
    {
        std::lock_guard lock(entry->mutex);
        Entry::Doing doing(*entry, Activity::detaching);
        remove_nodes(entry->served.registry, grace, entry->name);
        if (entry->watcher) {
            entry->watcher->stop(); // attaches nothing more
            if (with_discovered) discovered = entry->watcher->followed();
        }
        {
            std::lock_guard view(entry->view_mutex);
            entry->view = nullptr;
        }
        entry->watcher.reset();
        entry->served.controller.reset();
        entry->served.claim.release();
        spdlog::info("{}: detached", entry->name);
    }
    changed();
    // As SPDK's bdev_nvme_stop_discovery: what it attached goes with it,
    // unless detached (and its name perhaps reused) meanwhile.
    for (const auto& [name, target] : discovered) {
        auto child = lookup(name);
        if (!child || (*child)->discovered_by != entry->name ||
            (*child)->id.traddr != target.traddr || (*child)->id.trsvcid != target.trsvcid ||
            (*child)->id.subnqn != target.subnqn)
            continue;
        (void)detach_entry(std::move(*child), grace); // a concurrent detach may have it
    }
    return {};
}

void ControllerManager::detach_all(std::chrono::milliseconds grace)
{
    // Discovery controllers first, so that none attaches anything meanwhile.
    std::vector<std::pair<unsigned, std::string>> names;
    std::vector<std::string> discovery;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, entry] : entries_)
            if (entry->discovery) discovery.push_back(name);
    }
    for (const auto& name : discovery)
        (void)detach(name, grace);
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, entry] : entries_)
            names.emplace_back(entry->index, name);
    }
    std::sort(names.rbegin(), names.rend());
    for (const auto& [index, name] : names)
        (void)detach(name, grace); // a concurrent detach may have taken it: fine
}

std::expected<std::vector<std::string>, ManagerError>
ControllerManager::register_nodes(std::string_view name)
{
    auto entry = lookup(name);
    if (!entry) return std::unexpected(entry.error());
    Entry& e = **entry;
    std::lock_guard lock(e.mutex);
    if (e.discovery)
        return std::unexpected(ManagerError{
            Kind::invalid, fmt::format("{}: a discovery controller's node comes with its "
                                       "attach (nodes), with the nodes of what it attaches",
                                       name)});
    if (!e.served.controller) return std::unexpected(ManagerError{Kind::not_found, fmt::format("{}: detached", name)});
    if (e.served.registry)
        return std::unexpected(
            ManagerError{Kind::exists, fmt::format("{}: its CUSE nodes exist already", name)});
    Entry::Doing doing(e, Activity::registering);
    auto registry = create_nodes(e.served, serving_);
    if (!registry) return std::unexpected(ManagerError{Kind::failed, std::move(registry.error())});
    e.served.registry = std::move(*registry);
    return e.served.registry->devnames();
}

std::expected<void, ManagerError> ControllerManager::unregister_nodes(std::string_view name)
{
    auto entry = lookup(name);
    if (!entry) return std::unexpected(entry.error());
    Entry& e = **entry;
    std::lock_guard lock(e.mutex);
    if (!e.served.registry)
        return std::unexpected(
            ManagerError{Kind::not_found, fmt::format("{}: it has no CUSE nodes", name)});
    Entry::Doing doing(e, Activity::detaching);
    remove_nodes(e.served.registry, default_detach_grace, e.name);
    return {};
}

namespace {

/// Controller::reset or Controller::rescan.
using Step = void (ctrlr::Controller::*)(std::move_only_function<void(std::error_code)>);

/// Runs one of the controller's asynchronous steps and waits for its end.
/// The entry is held only to start it: a detach meanwhile destroys the
/// controller, which ends the step (operation_canceled).
std::expected<void, ManagerError> run_step(ControllerManager::Entry& e, Activity activity,
                                           const char* what, Step step)
{
    std::unique_lock lock(e.mutex);
    ctrlr::Controller* controller = e.controller();
    if (controller == nullptr)
        return std::unexpected(ManagerError{Kind::not_found, fmt::format("{}: detached", e.name)});
    if (step == &ctrlr::Controller::rescan && e.discovery)
        return std::unexpected(ManagerError{
            Kind::invalid, fmt::format("{}: a discovery controller has no namespaces; its log "
                                       "is read again on each change",
                                       e.name)});
    if (step == &ctrlr::Controller::reset && lost(*controller))
        return std::unexpected(ManagerError{
            Kind::busy, fmt::format("{}: reset: the controller is lost (ctrl-loss-tmo expired) "
                                    "and being deleted",
                                    e.name)});
    ControllerManager::Entry::Doing doing(e, activity);
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto result = done->get_future();
    (controller->*step)([done](std::error_code ec) { done->set_value(ec); });
    lock.unlock();
    const std::error_code ec = result.get();
    if (!ec) return {};
    const Kind kind = ec == std::errc::device_or_resource_busy ? Kind::busy : Kind::failed;
    return std::unexpected(
        ManagerError{kind, fmt::format("{}: {}: {}", e.name, what, ec.message())});
}

} // namespace

std::expected<void, ManagerError> ControllerManager::reset(std::string_view name)
{
    auto entry = lookup(name);
    if (!entry) return std::unexpected(entry.error());
    return run_step(**entry, Activity::resetting, "reset", &ctrlr::Controller::reset);
}

std::expected<void, ManagerError> ControllerManager::rescan(std::string_view name)
{
    auto entry = lookup(name);
    if (!entry) return std::unexpected(entry.error());
    return run_step(**entry, Activity::rescanning, "rescan", &ctrlr::Controller::rescan);
}

std::vector<ControllerStatus> ControllerManager::list() const
{
    std::vector<std::shared_ptr<Entry>> entries;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, entry] : entries_)
            entries.push_back(entry);
    }
    std::vector<ControllerStatus> out;
    for (const auto& entry : entries)
        if (auto status = status_of(*entry)) out.push_back(std::move(*status));
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    for (auto& status : out)
        prune_discovered(status, out);
    return out;
}

std::optional<ControllerStatus> ControllerManager::find(std::string_view name) const
{
    auto entry = lookup(name);
    if (!entry) return std::nullopt;
    auto status = status_of(**entry);
    if (status && status->discovery) prune_discovered(*status, list());
    return status;
}

void ControllerManager::prune_discovered(ControllerStatus& status,
                                         const std::vector<ControllerStatus>& all) const
{
    std::erase_if(status.discovered, [&](const std::string& name) {
        return std::ranges::none_of(all, [&](const ControllerStatus& c) {
            return c.name == name && c.discovered_by == status.name;
        });
    });
}

namespace {

std::optional<ControllerStatus> status_of(ControllerManager::Entry& e)
{
    ControllerStatus status;
    status.name = e.name;
    status.index = e.index;
    status.transport_id = e.id;
    status.transport = e.id.trtype.empty() ? "emulated" : e.id.trtype;
    status.named = e.named;
    status.tcp = e.tcp;
    status.emulated_config = e.emulated_config;
    status.discovered_by = e.discovered_by;
    status.discovery = e.discovery;
    status.discovered_nodes = e.discovered_nodes;
    status.state = state_name(e.state().value_or(ctrlr::Controller::State::deleting));
    status.activity = to_string(e.activity.load());
    std::unique_lock lock(e.mutex, std::defer_lock);
    const auto deadline = std::chrono::steady_clock::now() + list_patience;
    while (!lock.try_lock()) {
        // A long step (registering, detach grace) holds the entry.
        if (std::chrono::steady_clock::now() >= deadline) return status;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const ctrlr::Controller* controller = e.controller();
    if (controller == nullptr) return std::nullopt; // detached meanwhile
    status.info = controller->info();
    if (e.watcher) {
        status.discovered = e.watcher->attached();
        status.referrals = e.watcher->referrals();
    }
    if (e.served.registry)
        for (auto& devname : e.served.registry->devnames()) {
            auto stats = e.served.registry->stats(devname);
            status.nodes.push_back(NodeStatus{std::move(devname), stats.value_or(cuse::DeviceStats{})});
        }
    return status;
}

} // namespace

} // namespace nvmecuse::service
