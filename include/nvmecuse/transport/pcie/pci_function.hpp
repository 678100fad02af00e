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
};

} // namespace nvmecuse::transport::pcie
