// The controller manager: every controller the daemon serves, attached and
// detached at runtime from any thread (the command line at start, the
// JSON-RPC socket later).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/device.hpp"
#include "nvmecuse/service/serve_options.hpp"
#include "nvmecuse/transport/emu/config.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"
#include "nvmecuse/transport/transport_id.hpp"

namespace nvmecuse::service {

/// Keep Alive Timeout of a persistent discovery controller whose caller
/// gave none: nvme-cli's NVMF_DEF_DISC_TMO, which `nvme connect-all
/// --persistent` passes for them. Linux itself gives a discovery controller
/// no default (kato 0, no Keep Alive; NVME_DEFAULT_KATO, 5 s, is for I/O
/// controllers only), which would not keep it connected.
inline constexpr std::chrono::seconds persistent_discovery_kato{30};

/// Why a manager call failed. The kinds map onto errno values for
/// JSON-RPC answers (SPDK answers with negative errno codes).
struct ManagerError {
    enum class Kind {
        not_found,      ///< no controller of that name (ENODEV)
        exists,         ///< the name is taken, or nodes exist already (EEXIST)
        invalid,        ///< a request that cannot be honoured (EINVAL)
        busy,           ///< the controller refused for now (EBUSY)
        failed,         ///< connecting or starting failed (EIO)
    };
    Kind kind = Kind::failed;
    std::string message;      ///< names the controller or target
    bool unreachable = false; ///< failed: the target did not answer (worth retrying)
};

/// Per attach.
struct AttachRequest {
    /// Empty: the controller is named after its index, "nvme<N>". Otherwise
    /// a name of the caller's (SPDK's "Nvme0"); names of the form nvme<N>
    /// are reserved for indexes.
    std::string name;
    /// False: the controller is attached without CUSE nodes (SPDK's
    /// bdev_nvme_attach_controller); register_nodes() adds them.
    bool nodes = true;
    /// An emulated controller's configuration as the caller gave it (JSON),
    /// kept for save_config; empty: the defaults.
    std::string emulated_config;
    /// The persistent discovery controller whose log listed it (set by the
    /// manager for the controllers a discovery controller attaches).
    std::string discovered_by;
};

/// One node and its counters.
struct NodeStatus {
    std::string devname; ///< "nvmecuse/nvme0n1"
    cuse::DeviceStats stats;
};

/// What list() says about one controller.
struct ControllerStatus {
    std::string name;
    unsigned index = 0; ///< N of /dev/<dir>/nvme<N>
    /// The transport ID it was attached with; empty trtype for an emulated one.
    transport::TransportId transport_id;
    std::string transport; ///< "tcp", "pcie" or "emulated"
    /// The controller's state, with the names of Linux's
    /// /sys/class/nvme/nvmeN/state: new, live, resetting, connecting,
    /// failed or deleting (state_name()).
    std::string state;
    /// What the manager is doing to it: resetting, rescanning, registering
    /// or detaching; empty when nothing. While it takes long, `nodes` and
    /// `info` are empty.
    std::string activity;
    std::vector<NodeStatus> nodes;
    std::shared_ptr<const ctrlr::ControllerInfo> info; ///< identify data
    /// How it was attached, for attaching it again (save_config): the
    /// name was the caller's (not its index's), the connection options
    /// (NVMe/TCP), the emulated controller's configuration.
    bool named = false;
    transport::tcp::TcpOptions tcp;
    std::string emulated_config;
    /// A persistent discovery controller (kept connected, its log
    /// followed): at most its controller node, and `discovered` names the controllers
    /// it attached that are still attached, in the order it attached them.
    bool discovery = false;
    std::vector<std::string> discovered;
    bool discovered_nodes = true; ///< discovery: the controllers it attaches get nodes
    /// discovery: the discovery controllers its log refers to (referrals,
    /// SUBTYPE 1h, every level) that it follows, in the order reached.
    std::vector<transport::TransportId> referrals;
    /// The persistent discovery controller that attached this one; empty
    /// for one attached otherwise. save_config leaves such controllers out:
    /// the discovery controller brings them back.
    std::string discovered_by;
};

struct ServedController;

/// True for nvme<digits>: the names of controller indexes, which no
/// caller's name may take.
[[nodiscard]] bool is_index_name(std::string_view name) noexcept;

/// The name list() gives a controller state.
[[nodiscard]] const char* state_name(ctrlr::Controller::State state) noexcept;

/// Owns every attached controller with its index claim and nodes. Every
/// public function is thread-safe; attaching (which may block for
/// seconds on a network target) never blocks list() or a detach of
/// another controller.
class ControllerManager {
public:
    /// Default bound of detach()'s wait for in-flight commands.
    static constexpr std::chrono::milliseconds default_detach_grace{5'000};

    explicit ControllerManager(ServeOptions serving);
    /// detach_all().
    ~ControllerManager();
    ControllerManager(const ControllerManager&) = delete;
    ControllerManager& operator=(const ControllerManager&) = delete;

    /// Attaches the controller `id` names, or every NVM subsystem its
    /// discovery controller lists (not with a name of the caller's). With
    /// tcp.persistent a discovery controller is itself a controller of the
    /// manager (named after its index, or `request.name`; with
    /// `request.nodes` a controller node and no namespace nodes, as the
    /// kernel's /dev/nvme<N> of a persistent discovery controller) that
    /// stays connected and whose log is followed (discovery_watcher.hpp)
    /// until it is detached; its Keep Alive Timeout is tcp.kato when
    /// tcp.kato_set, otherwise persistent_discovery_kato.
    /// Returns each controller attached, in order (a persistent discovery
    /// controller first), as it was when it became visible (a concurrent
    /// detach may already have taken it).
    [[nodiscard]] std::expected<std::vector<ControllerStatus>, ManagerError>
    attach(const transport::TransportId& id, const transport::tcp::TcpOptions& tcp,
           const AttachRequest& request = {});

    /// Attaches an emulated controller built from `config`; returns it as
    /// attach() does.
    [[nodiscard]] std::expected<ControllerStatus, ManagerError>
    attach_emulated(const emu::ControllerConfig& config, const AttachRequest& request = {});

    /// Takes the controller out of the manager, in any state, then waits up to `grace`
    /// for its nodes' in-flight ioctls to finish, stops the nodes (callers
    /// still waiting, and every later one, get ENODEV; the nodes
    /// disappear), shuts the controller down (commands still outstanding
    /// complete with operation_canceled) and releases its index for reuse,
    /// all before it returns. A persistent discovery controller stops
    /// following its log and is shut down, then every controller it
    /// attached that is still attached is detached too (as SPDK's
    /// bdev_nvme_stop_discovery), each with `grace`.
    [[nodiscard]] std::expected<void, ManagerError>
    detach(std::string_view name, std::chrono::milliseconds grace = default_detach_grace);

    /// detach() of an emulated controller; `invalid` for another one.
    [[nodiscard]] std::expected<void, ManagerError> detach_emulated(std::string_view name);

    /// Detaches the persistent discovery controllers (with what they
    /// attached), then every other controller, newest first, each with
    /// `grace`.
    void detach_all(std::chrono::milliseconds grace = std::chrono::milliseconds{1'000});

    /// Creates the CUSE nodes of a controller attached without them.
    [[nodiscard]] std::expected<std::vector<std::string>, ManagerError>
    register_nodes(std::string_view name);
    /// Removes its nodes (as detach() does), leaving the controller attached.
    [[nodiscard]] std::expected<void, ManagerError> unregister_nodes(std::string_view name);

    /// Controller reset (Controller::reset()); waits until it has finished
    /// or the controller is detached. `busy` while connecting and for a
    /// controller lost past ctrl-loss-tmo, as Linux's nvme_reset_ctrl()
    /// answers EBUSY for a controller it is deleting.
    [[nodiscard]] std::expected<void, ManagerError> reset(std::string_view name);
    /// Namespace rescan (Controller::rescan()); waits until it has finished.
    [[nodiscard]] std::expected<void, ManagerError> rescan(std::string_view name);

    /// Every controller, by index.
    [[nodiscard]] std::vector<ControllerStatus> list() const;
    /// One controller; empty when there is none of that name.
    [[nodiscard]] std::optional<ControllerStatus> find(std::string_view name) const;

    [[nodiscard]] const ServeOptions& serve_options() const noexcept { return serving_; }

    /// `changed` is called after each controller became visible or was
    /// detached (the command line, the socket, a discovery controller, the
    /// reaper): on that caller's thread, with no lock of the manager held,
    /// one call at a time; list() there says what is served now (the
    /// service manager's STATUS= line); it must not attach or detach.
    /// Replaces the previous one; empty: none. Any thread.
    void on_change(std::function<void()> changed);

    struct Entry;

private:
    std::expected<std::shared_ptr<Entry>, ManagerError> lookup(std::string_view name) const;
    std::expected<void, ManagerError> reserve(const std::string& name);
    void unreserve(const std::string& name);
    ControllerStatus adopt(ServedController served, const AttachRequest& request,
                           const transport::TransportId& id, const transport::tcp::TcpOptions& tcp);
    /// attach() of a persistent discovery controller.
    std::expected<std::vector<ControllerStatus>, ManagerError>
    attach_discovery(const transport::TransportId& id, const transport::tcp::TcpOptions& tcp,
                     const AttachRequest& request);
    /// `status` with `discovered` down to the controllers still attached
    /// that it attached.
    void prune_discovered(ControllerStatus& status,
                          const std::vector<ControllerStatus>& all) const;

    /// Takes `entry` out of the map (when it is still there, with `name`)
    /// and detaches it; a discovery controller's controllers too when
    /// `with_discovered`.
    std::expected<void, ManagerError> detach_entry(std::shared_ptr<Entry> entry,
                                                   std::chrono::milliseconds grace,
                                                   bool with_discovered = true);
    /// The controller of `entry` changed state (its owner thread).
    void state_changed(const std::weak_ptr<Entry>& entry, ctrlr::Controller::State state);
    /// The reaper thread: removes controllers lost past ctrl-loss-tmo, as
    /// Linux deletes them.
    void reap();
    /// Calls the on_change() callback, if any.
    void changed();

    ServeOptions serving_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;
    std::set<std::string, std::less<>> reserved_; ///< names of attaches in progress

    std::mutex changed_mutex_; ///< guards changed_ and serialises its calls
    std::function<void()> changed_;

    std::mutex lost_mutex_; ///< guards lost_, stopping_
    std::condition_variable lost_wake_;
    std::vector<std::weak_ptr<Entry>> lost_;
    bool stopping_ = false;
    std::thread reaper_;
};

} // namespace nvmecuse::service
