#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "nvmecuse/transport/buffer.hpp"

/// What the PCIe transport needs of an NVMe PCI function: BAR0 and memory
/// the function reaches by DMA. VFIO provides them on a real device (BAR0
/// mmap'ed, memory mapped with VFIO_IOMMU_MAP_DMA); the unit tests provide
/// an in-process function whose commands the emulated controller executes.
namespace nvmecuse::transport::pcie {

/// BAR0 of the function: the controller registers (NVMe Base 2.0, 3.1.4)
/// and the doorbells (3.1.4.21). A removed device reads all ones.
/// Threading: the controller's owner thread only.
class Bar {
public:
    virtual ~Bar() = default;
    /// Required. A 4-byte register at `offset`.
    [[nodiscard]] virtual std::uint32_t read32(std::uint32_t offset) = 0;
    /// Required. Writes a 4-byte register (or doorbell).
    virtual void write32(std::uint32_t offset, std::uint32_t value) = 0;
    /// Optional. An 8-byte register, as two 4-byte reads, low half first
    /// (how Linux lo_hi_readq() reads CAP on devices without 8-byte MMIO).
    [[nodiscard]] virtual std::uint64_t read64(std::uint32_t offset)
    {
        const std::uint64_t lo = read32(offset);
        return lo | std::uint64_t{read32(offset + 4)} << 32;
    }
    /// Optional. An 8-byte register, as two 4-byte writes, low half first.
    virtual void write64(std::uint32_t offset, std::uint64_t value)
    {
        write32(offset, static_cast<std::uint32_t>(value));
        write32(offset + 4, static_cast<std::uint32_t>(value >> 32));
    }
};

/// Memory the function reaches by DMA. allocate() hands out buffers whose
/// bytes are contiguous in both the process and the device's address space
/// (an IOVA range), page aligned when a page or larger.
class DmaMemory : public DeviceMemory {
public:
    /// Required. Any thread. The device address of `p`, when it lies inside
    /// a buffer this memory handed out and still holds; nullopt otherwise
    /// (such data must be bounced).
    [[nodiscard]] virtual std::optional<std::uint64_t> device_address_of(const std::byte* p) const = 0;
    /// Required. Any thread. How many bytes from `p` on are contiguous in
    /// device address space (to the end of its buffer); 0 when not ours.
    [[nodiscard]] virtual std::size_t contiguous_from(const std::byte* p) const = 0;
};

/// One NVMe PCI function, as the transport drives it.
class PciFunction {
public:
    virtual ~PciFunction() = default;
    /// Required. "0000:00:04.0".
    [[nodiscard]] virtual std::string address() const = 0;
    /// Required. BAR0.
    [[nodiscard]] virtual Bar& bar0() = 0;
    /// Required. DMA-able memory; lives as long as the function.
    [[nodiscard]] virtual DmaMemory& dma() = 0;

    /// Optional. MSI-X (PCI Local Bus 3.0, 6.8.2) through eventfds: enables
    /// vectors 0..wanted-1, each signalling an eventfd of its own, and
    /// returns how many it enabled; 0 (the default) when the function has
    /// no MSI-X or the platform refused, and its queues must be polled.
    /// Called again it returns what the first call enabled. Any thread;
    /// not concurrently with itself.
    [[nodiscard]] virtual std::uint16_t enable_vectors(std::uint16_t wanted)
    {
        (void)wanted;
        return 0;
    }
    /// Optional. The non-blocking eventfd vector `vector` signals; -1 when
    /// that vector is not enabled. Any thread.
    [[nodiscard]] virtual int vector_fd(std::uint16_t vector) const
    {
        (void)vector;
        return -1;
    }
    /// Optional. A non-blocking eventfd that becomes readable when the
    /// platform asks for the function back (hot removal: vfio-pci's
    /// VFIO_PCI_REQ_IRQ_INDEX); -1 when it cannot ask. Any thread.
    [[nodiscard]] virtual int release_request_fd() const { return -1; }
    /// Optional. Gives the function back for good: from then on BAR0 reads
    /// all ones and drops writes, and every handle on the device is closed
    /// so that its removal can complete. Buffers handed out before stay
    /// valid host memory, and DMA memory hands out plain host memory
    /// (the device reaches neither any more; commands fail before they
    /// would need it, so callers see the controller's error rather than
    /// ENOMEM). Idempotent; any thread, concurrently with BAR accesses
    /// from other threads.
    virtual void release() {}
};

} // namespace nvmecuse::transport::pcie
