#pragma once

#include <expected>
#include <memory>
#include <string>

#include "nvmecuse/transport/pcie/pci_function.hpp"

namespace nvmecuse::transport::pcie {

/// Why a function could not be opened: an errno and a line for the user
/// (which driver holds it, how to hand it to vfio-pci).
struct OpenError {
    std::error_code code;
    std::string message;
};

/// Opens the PCI function `bdf` ("0000:00:04.0" or "00:04.0") through VFIO
/// (the type1 IOMMU, group/container API of Linux 6.1): BAR0 mmap'ed,
/// memory space and bus mastering on, DMA memory from a pool of
/// VFIO_IOMMU_MAP_DMA-mapped chunks (at most `dma_limit` bytes). It never
/// unbinds a kernel driver: a function that is not bound to vfio-pci is an
/// error naming its driver, the block devices on it and the command that
/// hands it over (nvmecusectl bind BDF). Any thread; blocking.
[[nodiscard]] std::expected<std::unique_ptr<PciFunction>, OpenError>
open_vfio_function(const std::string& bdf, std::size_t dma_limit = std::size_t{512} << 20);

} // namespace nvmecuse::transport::pcie
