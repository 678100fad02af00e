// VFIO interrupts to eventfds. See vfio_irqs.hpp.
#include "vfio_irqs.hpp"

#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace nvmecuse::transport::pcie {

std::uint32_t eventfd_irq_count(int device, std::uint32_t index) noexcept
{
    vfio_irq_info info{};
    info.argsz = sizeof info;
    info.index = index;
    if (::ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &info) != 0) return 0;
    return (info.flags & VFIO_IRQ_INFO_EVENTFD) != 0 ? info.count : 0;
}

std::error_code route_irqs(int device, std::uint32_t index, std::span<const UniqueFd> fds) noexcept
{
    // struct vfio_irq_set is followed by one __s32 eventfd per interrupt.
    std::vector<std::byte> buffer(sizeof(vfio_irq_set) + fds.size() * sizeof(std::int32_t));
    vfio_irq_set set{};
    set.argsz = static_cast<std::uint32_t>(buffer.size());
    set.flags = VFIO_IRQ_SET_ACTION_TRIGGER |
                (fds.empty() ? VFIO_IRQ_SET_DATA_NONE : VFIO_IRQ_SET_DATA_EVENTFD);
    set.index = index;
    set.start = 0;
    set.count = static_cast<std::uint32_t>(fds.size());
    std::memcpy(buffer.data(), &set, sizeof set);
    for (std::size_t i = 0; i < fds.size(); ++i) {
        const std::int32_t fd = fds[i].get();
        std::memcpy(buffer.data() + sizeof set + i * sizeof fd, &fd, sizeof fd);
    }
    if (::ioctl(device, VFIO_DEVICE_SET_IRQS, buffer.data()) != 0)
        return {errno, std::generic_category()};
    return {};
}

std::vector<UniqueFd> make_eventfds(std::size_t count)
{
    std::vector<UniqueFd> fds;
    fds.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!fd.valid()) break;
        fds.push_back(std::move(fd));
    }
    return fds;
}

} // namespace nvmecuse::transport::pcie
