// The CUSE nodes of one controller: /dev/<dir>/nvme<N> and one
// /dev/<dir>/nvme<N>n<M> per active namespace, following namespace changes.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/device.hpp"

namespace nvmecuse::cuse {

/// Opens the channel of a new node's session; `devname` is its DEVNAME.
/// Production: open_cuse_channel(). Tests: one end of a socketpair, the
/// other end kept for a fake kernel. Called on the registry's thread
/// (and in create() for the first nodes).
using ChannelFactory =
    std::function<std::expected<int, std::error_code>(const std::string& devname)>;

struct RegistryOptions {
    std::string directory = "nvmecuse"; ///< under /dev; "spdk" gives SPDK's paths
    unsigned controller_index = 0;      ///< N, claimed by the caller
    unsigned reader_threads = 1;        ///< per node
    bool serve_on_owner_thread = false; ///< see DeviceOptions
    std::vector<ctrlr::Reactor*> reactors; ///< see DeviceOptions
    bool fast_path = true;
    bool restricted_ioctls = false; ///< see DeviceOptions
    NodePermissions permissions{};
    CredentialsReader credentials; ///< empty: read_caller_credentials()
    KernelRules kernel_rules = KernelRules::linux_6_1; ///< see DeviceOptions
    InflightLimits inflight{};                         ///< per node; see DeviceOptions
    ChannelFactory open_channel;   ///< empty: open_cuse_channel()
};

/// Creates the controller node and a node per active namespace, and keeps
/// the namespace nodes in step with the controller: `added` -> new node,
/// `removed` -> node stopped (waiting callers get ENODEV) and destroyed,
/// `changed` needs nothing (nodes read the controller's snapshot on every
/// ioctl, so BLKSSZGET follows a format). Node changes run on a registry
/// thread, never on the controller's owner thread.
class Registry {
public:
    /// Any thread. `controller` must outlive the Registry. Fails when the
    /// controller node cannot be created.
    [[nodiscard]] static std::expected<std::unique_ptr<Registry>, std::error_code>
    create(ctrlr::Controller& controller, RegistryOptions options);

    /// stop().
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    /// Unsubscribes, stops the registry thread and every node (waiting
    /// callers answered with ENODEV). Idempotent; any thread but a reader
    /// thread of one of its nodes or the controller's owner thread.
    void stop();

    /// DEVNAME of the controller node ("nvmecuse/nvme0").
    [[nodiscard]] std::string controller_devname() const;
    /// DEVNAME of namespace M's node ("nvmecuse/nvme0n1").
    [[nodiscard]] std::string namespace_devname(std::uint32_t nsid) const;
    /// Current nodes, controller first, then namespaces by nsid.
    [[nodiscard]] std::vector<std::string> devnames() const;
    /// Counters of a node; empty when it does not exist.
    [[nodiscard]] std::optional<DeviceStats> stats(std::string_view devname) const;

    class Impl;

private:
    explicit Registry(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace nvmecuse::cuse
