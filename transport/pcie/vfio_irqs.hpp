// Interrupts of a VFIO device delivered to eventfds (VFIO_DEVICE_GET_IRQ_INFO,
// VFIO_DEVICE_SET_IRQS; Documentation/driver-api/vfio.rst): MSI-X vectors
// for the completion queues, the device request for hot removal. Private
// to transport/pcie.
//
// Threading: any thread; the caller serialises calls on one device.
#pragma once

#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "nvmecuse/transport/unique_fd.hpp"

namespace nvmecuse::transport::pcie {

/// How many interrupts the device has at `index` (VFIO_PCI_MSIX_IRQ_INDEX,
/// VFIO_PCI_REQ_IRQ_INDEX…) that can signal an eventfd; 0 when none.
[[nodiscard]] std::uint32_t eventfd_irq_count(int device, std::uint32_t index) noexcept;

/// Routes interrupts 0..fds.size()-1 at `index` to `fds` (for MSI-X this
/// enables MSI-X with that many vectors); an empty `fds` turns them off.
[[nodiscard]] std::error_code route_irqs(int device, std::uint32_t index,
                                         std::span<const UniqueFd> fds) noexcept;

/// `count` non-blocking, close-on-exec eventfds; fewer when out of
/// descriptors.
[[nodiscard]] std::vector<UniqueFd> make_eventfds(std::size_t count);

} // namespace nvmecuse::transport::pcie
