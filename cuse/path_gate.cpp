#include "nvmecuse/cuse/path_gate.hpp"

#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>

#include <cerrno>

namespace nvmecuse::cuse {
namespace {

/// The block layer's ioctls (type 0x12, BLK*): blkdev_ioctl() answers them
/// before the driver sees anything.
constexpr unsigned int block_layer_type = 0x12;

std::optional<int> controller_answer(unsigned int cmd, PathState path) noexcept
{
    if (cmd == NVME_IOCTL_RESCAN) return 0;
    if (path != PathState::lost) return std::nullopt; // the queues fail it (0x370)
    switch (cmd) {
    case NVME_IOCTL_ADMIN_CMD:
    case NVME_IOCTL_ADMIN64_CMD:
        return -ENODEV; // blk_mq_alloc_request() on the destroyed admin queue
    case NVME_IOCTL_IO_CMD:
        return -ENOTTY; // nvme_dev_user_cmd(): no namespaces left
    default:
        return std::nullopt;
    }
}

} // namespace

int open_errno(NodeKind kind, PathState path) noexcept
{
    return kind == NodeKind::controller && path != PathState::live ? EAGAIN : 0;
}

std::optional<int> path_down_answer(NodeKind kind, unsigned int cmd, PathState path) noexcept
{
    if (path == PathState::live) return std::nullopt;
    if (kind == NodeKind::controller) return controller_answer(cmd, path);
    if (_IOC_TYPE(cmd) == block_layer_type) return std::nullopt;
    return -EAGAIN;
}

} // namespace nvmecuse::cuse
