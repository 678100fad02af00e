// What a node answers, before any command is sent, while its controller's
// connection is down: the Linux 6.1 NVMe/TCP host's answers (native
// multipath, as Debian builds it), measured in the test guest
// (tests/vm/suites/tcp-reconnect-states.sh) and read from
// drivers/nvme/host:
//  - the controller node opens only while LIVE (nvme_dev_open(): EAGAIN);
//    on a descriptor opened before, passthrough reaches the controller's
//    queues, which fail it at once (Controller::submit(): Host Pathing
//    Error), and NVME_IOCTL_RESCAN does nothing and returns 0
//    (nvme_queue_scan()). Once the controller is deleted its admin queue
//    is gone (ENODEV) and so are its namespaces (NVME_IOCTL_IO_CMD: ENOTTY).
//  - a namespace node is the namespace head: with no live path every ioctl
//    that reaches the driver fails with EWOULDBLOCK (EAGAIN), NVME_IOCTL_ID
//    included (nvme_ns_head_chr_ioctl(), nvme_ns_head_ioctl());
//    the block layer's own ioctls (BLK*) still answer, with a capacity of 0
//    once the controller is deleted.
// Pure; any thread.
#pragma once

#include <optional>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"

namespace nvmecuse::cuse {

using PathState = ctrlr::Controller::PathState;

/// The errno an open(2) of the node fails with; 0: it opens.
[[nodiscard]] int open_errno(NodeKind kind, PathState path) noexcept;

/// The answer to ioctl `cmd` without the controller: a value >= 0 or a
/// -errno; nullopt: serve it as usual.
[[nodiscard]] std::optional<int> path_down_answer(NodeKind kind, unsigned int cmd,
                                                   PathState path) noexcept;

/// Whether the block-size ioctls report a capacity of 0 (the kernel's
/// set_capacity(0) of a deleted controller's namespaces).
[[nodiscard]] constexpr bool capacity_gone(PathState path) noexcept
{
    return path == PathState::lost;
}

} // namespace nvmecuse::cuse
