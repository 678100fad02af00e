#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>

#include "nvmecuse/transport/pcie/pci_function.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::transport::pcie {

struct PcieOptions {
    std::uint16_t io_queues = 4;            ///< I/O queue pairs at most
    std::uint16_t admin_queue_entries = 32; ///< Linux NVME_AQ_DEPTH
    /// Bytes one command may move: sizes the PRP lists prepared per cid
    /// (2 MiB + a page: one list page per command).
    std::size_t max_transfer = 2u << 20;
    /// I/O commands describe their data with SGLs when Identify Controller
    /// SGLS says the controller supports them; false: PRPs always.
    bool sgls = true;
    /// As Linux's nvme.sgl_threshold: SGLs for transfers of this many
    /// bytes or more, PRPs below (so the device sees what the kernel's
    /// driver would send it, an oversized buffer included); a buffer PRPs
    /// cannot describe (not dword aligned) takes SGLs at any size.
    std::size_t sgl_threshold = 32u << 10;
    /// Bound of each Create/Delete I/O queue command.
    std::chrono::milliseconds queue_command_timeout{5'000};
};

/// A Transport over an NVMe PCI function (NVMe over PCIe, NVMe Base 2.0,
/// 3.3): direct register access through BAR0, queues in DMA memory with
/// doorbells, PRPs (lists prepared once per cid) -- SGLs for large or
/// unaligned I/O when Identify Controller SGLS allows them --, I/O queues made with
/// Create I/O Completion/Submission Queue. Each queue interrupts on its
/// own MSI-X vector (the admin queue on vector 0, I/O queue n on vector
/// n), whose eventfd is its completion_fd(); queues without a vector (no
/// MSI-X, too few vectors, VFIO refused) are polled (completion_fd() -1).
/// When the platform asks for the function back (hot removal, the
/// function's release_request_fd() is event_fd()), handle_event() releases
/// it at once and device_removed() turns true. The core drives CC/CSTS
/// (ctrlr/controller_enable.cpp).
///
/// `function` must outlive the transport. Threading: the Transport contract.
[[nodiscard]] std::unique_ptr<Transport> make_transport(PciFunction& function,
                                                        PcieOptions options = {});
/// The same, owning `function` (a VFIO function, open_vfio_function()).
[[nodiscard]] std::unique_ptr<Transport> make_transport(std::unique_ptr<PciFunction> function,
                                                        PcieOptions options = {});

} // namespace nvmecuse::transport::pcie
