// How the controller manager serves every controller: the node directory,
// permissions and ioctl protocol of the CUSE nodes, and where indexes are
// claimed. Daemon-wide; set once when the manager is made.
#pragma once

#include <optional>
#include <string>

#include "nvmecuse/cuse/permission.hpp"
#include "nvmecuse/cuse/registry.hpp"

namespace nvmecuse::service {

/// How the kernel hands ioctls to the nodes. automatic: restricted when
/// process_vm_* reaches every caller (decided once, at the first node).
enum class IoctlProtocol { automatic, restricted, unrestricted };

struct ServeOptions {
    std::string directory = "nvmecuse";        ///< under /dev; "spdk" gives SPDK's paths
    std::string lock_directory = "/run/nvmecuse"; ///< of the index claims (cuse/claim.hpp)
    cuse::NodePermissions permissions{};
    /// Whose permission model the nodes follow; empty: the running kernel's.
    std::optional<cuse::KernelRules> kernel_rules;
    bool retry_only = false; ///< never process_vm_*: the CUSE retry protocol only
    IoctlProtocol ioctl_protocol = IoctlProtocol::automatic;
    /// Serving threads (service/serving_threads.hpp) every controller and
    /// node shares; 0: nodes are served as cuse_threads says.
    unsigned threads = 0;
    unsigned cuse_threads = 0; ///< reader threads per node; 0: the owner thread serves
    unsigned poll_us = 300;    ///< owner thread polling before it sleeps
    /// Tests: the channel of each node (empty: /dev/cuse) and the caller
    /// credentials (empty: /proc).
    cuse::ChannelFactory open_channel;
    cuse::CredentialsReader credentials;
};

} // namespace nvmecuse::service
