// A PCI function through VFIO (Documentation/driver-api/vfio.rst): the
// container and group, BAR0 mmap'ed, the command register's memory space
// and bus master bits, and DMA memory mapped with VFIO_IOMMU_MAP_DMA.
#include "nvmecuse/transport/pcie/vfio_function.hpp"

#include "nvmecuse/errno.hpp"
#include "nvmecuse/transport/pcie/pci_binding.hpp"
#include "nvmecuse/transport/transport_id.hpp"
#include "nvmecuse/transport/unique_fd.hpp"
#include "vfio_irqs.hpp"

#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

namespace nvmecuse::transport::pcie {

namespace {

namespace fs = std::filesystem;

/// BAR0 as the mmap'ed MMIO it is: volatile 4-byte accesses.
class MappedBar final : public Bar {
public:
    MappedBar(void* base, std::size_t size) : base_(static_cast<volatile std::uint8_t*>(base)), size_(size) {}
    ~MappedBar() override { ::munmap(const_cast<std::uint8_t*>(base_), size_); }
    MappedBar(const MappedBar&) = delete;
    MappedBar& operator=(const MappedBar&) = delete;
    std::uint32_t read32(std::uint32_t offset) override
    {
        if (offset + 4 > size_ || retired_.load(std::memory_order_relaxed)) return 0xffffffffu;
        return *reinterpret_cast<volatile std::uint32_t*>(base_ + offset);
    }
    void write32(std::uint32_t offset, std::uint32_t value) override
    {
        if (offset + 4 > size_ || retired_.load(std::memory_order_relaxed)) return;
        *reinterpret_cast<volatile std::uint32_t*>(base_ + offset) = value;
    }

    /// Lets go of the device's MMIO: anonymous memory reading all ones
    /// takes the mapping's place in one step (mremap onto the same
    /// address), so a thread racing past the flag reads all ones instead
    /// of faulting, and the mapping's hold on the device file is gone.
    void retire() noexcept
    {
        retired_.store(true, std::memory_order_relaxed);
        auto* base = const_cast<std::uint8_t*>(base_);
        void* ones = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ones != MAP_FAILED) {
            std::memset(ones, 0xff, size_);
            if (::mremap(ones, size_, size_, MREMAP_MAYMOVE | MREMAP_FIXED, base) != MAP_FAILED) return;
            ::munmap(ones, size_);
        }
        // Out of memory: unmap (a racing access may fault, but the removal completes).
        ::mmap(base, size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }

private:
    volatile std::uint8_t* base_;
    std::size_t size_;
    std::atomic<bool> retired_{false};
};

/// DMA memory: power-of-two chunks (4 KiB and up), each mmap'ed, pinned
/// and mapped at its own IOVA once, then kept on a free list per size for
/// reuse; buffers are never unmapped while the function lives.
class VfioDma final : public DmaMemory, public DataBuffer::Releaser {
public:
    VfioDma(int container, std::size_t limit) : container_(container), limit_(limit) {}
    ~VfioDma() override
    {
        for (const auto& [start, chunk] : chunks_) {
            vfio_iommu_type1_dma_unmap unmap{};
            unmap.argsz = sizeof unmap;
            unmap.iova = chunk.iova;
            unmap.size = chunk.size;
            if (container_ >= 0) ::ioctl(container_, VFIO_IOMMU_UNMAP_DMA, &unmap);
            ::munmap(reinterpret_cast<void*>(start), chunk.size);
        }
    }

    /// The container is about to close (its IOMMU mappings go with it):
    /// allocations are plain heap memory from now on (no device reaches
    /// them, and none needs to: the controller fails every command);
    /// buffers out there stay host memory.
    void retire() noexcept
    {
        std::lock_guard l(mutex_);
        container_ = -1;
    }
    VfioDma(const VfioDma&) = delete;
    VfioDma& operator=(const VfioDma&) = delete;

    std::expected<DataBuffer, std::error_code> allocate(std::size_t size) override
    {
        const std::size_t chunk = std::bit_ceil(std::max<std::size_t>(size, 4096));
        std::unique_lock l(mutex_);
        if (container_ < 0) {
            l.unlock();
            return heap_memory().allocate(size);
        }
        auto& free = free_[chunk];
        std::byte* p = nullptr;
        if (!free.empty()) {
            p = free.back();
            free.pop_back();
        } else {
            if (mapped_ + chunk > limit_)
                return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
            void* m = ::mmap(nullptr, chunk, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (m == MAP_FAILED) return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
            vfio_iommu_type1_dma_map map{};
            map.argsz = sizeof map;
            map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
            map.vaddr = reinterpret_cast<std::uintptr_t>(m);
            map.iova = next_iova_;
            map.size = chunk;
            if (::ioctl(container_, VFIO_IOMMU_MAP_DMA, &map) != 0) {
                const auto ec = last_errno();
                ::munmap(m, chunk);
                return std::unexpected(ec);
            }
            chunks_[reinterpret_cast<std::uintptr_t>(m)] = Chunk{chunk, next_iova_};
            next_iova_ += chunk;
            mapped_ += chunk;
            p = static_cast<std::byte*>(m);
        }
        const auto& c = chunks_.at(reinterpret_cast<std::uintptr_t>(p));
        return DataBuffer(p, size, c.iova, *this);
    }

    void release(std::byte* bytes, std::size_t) noexcept override
    {
        std::lock_guard l(mutex_);
        auto it = chunks_.find(reinterpret_cast<std::uintptr_t>(bytes));
        if (it != chunks_.end()) free_[it->second.size].push_back(bytes);
    }

    std::optional<std::uint64_t> device_address_of(const std::byte* p) const override
    {
        std::lock_guard l(mutex_);
        const auto* c = find(p);
        if (c == nullptr) return std::nullopt;
        return c->second.iova + (reinterpret_cast<std::uintptr_t>(p) - c->first);
    }

    std::size_t contiguous_from(const std::byte* p) const override
    {
        std::lock_guard l(mutex_);
        const auto* c = find(p);
        if (c == nullptr) return 0;
        return c->first + c->second.size - reinterpret_cast<std::uintptr_t>(p);
    }

private:
    struct Chunk {
        std::size_t size;
        std::uint64_t iova;
    };
    const std::pair<const std::uintptr_t, Chunk>* find(const std::byte* p) const
    {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        auto it = chunks_.upper_bound(a);
        if (it == chunks_.begin()) return nullptr;
        --it;
        return a < it->first + it->second.size ? &*it : nullptr;
    }

    int container_;
    std::size_t limit_;
    mutable std::mutex mutex_;
    std::map<std::uintptr_t, Chunk> chunks_;
    std::map<std::size_t, std::vector<std::byte*>> free_;
    /// IOVAs from 4 GiB up: clear of the x86 MSI window and low reserved ranges.
    std::uint64_t next_iova_ = std::uint64_t{1} << 32;
    std::size_t mapped_ = 0;
};

class VfioFunction final : public PciFunction {
public:
    VfioFunction(std::string bdf, UniqueFd container, UniqueFd group, UniqueFd device, std::unique_ptr<MappedBar> bar,
                 std::size_t dma_limit)
        : bdf_(std::move(bdf)), container_(std::move(container)), group_(std::move(group)),
          device_(std::move(device)), bar_(std::move(bar)), dma_(container_.get(), dma_limit)
    {
        // The device request (hot removal): without it a removal waits
        // for this process to exit.
        if (eventfd_irq_count(device_.get(), VFIO_PCI_REQ_IRQ_INDEX) >= 1) {
            auto fds = make_eventfds(1);
            if (!fds.empty() && !route_irqs(device_.get(), VFIO_PCI_REQ_IRQ_INDEX, fds))
                request_ = std::move(fds.front());
        }
    }
    ~VfioFunction() override { disable_irqs(); }
    VfioFunction(const VfioFunction&) = delete;
    VfioFunction& operator=(const VfioFunction&) = delete;

    std::string address() const override { return bdf_; }
    Bar& bar0() override { return *bar_; }
    DmaMemory& dma() override { return dma_; }

    std::uint16_t enable_vectors(std::uint16_t wanted) override
    {
        std::lock_guard l(mutex_);
        if (vectors_tried_ || !device_.valid()) return static_cast<std::uint16_t>(vectors_.size());
        vectors_tried_ = true;
        const auto count = std::min<std::uint32_t>(wanted, eventfd_irq_count(device_.get(), VFIO_PCI_MSIX_IRQ_INDEX));
        auto fds = make_eventfds(count);
        if (fds.empty() || route_irqs(device_.get(), VFIO_PCI_MSIX_IRQ_INDEX, fds)) return 0; // polled
        vectors_ = std::move(fds);
        return static_cast<std::uint16_t>(vectors_.size());
    }
    int vector_fd(std::uint16_t vector) const override
    {
        std::lock_guard l(mutex_);
        return vector < vectors_.size() ? vectors_[vector].get() : -1;
    }
    int release_request_fd() const override { return request_.get(); }

    void release() override
    {
        std::lock_guard l(mutex_);
        if (!device_.valid()) return;
        disable_irqs_locked();
        bar_->retire();
        dma_.retire();
        // Closing the device lets vfio-pci finish the removal; the group and
        // the container (and with it every IOMMU mapping) go too.
        device_.reset();
        group_.reset();
        container_.reset();
    }

private:
    void disable_irqs()
    {
        std::lock_guard l(mutex_);
        disable_irqs_locked();
    }
    void disable_irqs_locked() noexcept
    {
        if (!device_.valid()) return;
        if (!vectors_.empty()) (void)route_irqs(device_.get(), VFIO_PCI_MSIX_IRQ_INDEX, {});
        if (request_.valid()) (void)route_irqs(device_.get(), VFIO_PCI_REQ_IRQ_INDEX, {});
    }

    std::string bdf_;
    mutable std::mutex mutex_; ///< the device handles, against release()
    UniqueFd container_;
    UniqueFd group_;
    UniqueFd device_;
    std::unique_ptr<MappedBar> bar_;
    VfioDma dma_;
    std::vector<UniqueFd> vectors_; ///< MSI-X vector eventfds, by vector; kept open after release()
    bool vectors_tried_ = false;
    UniqueFd request_;              ///< the device request eventfd; kept open after release()
};

OpenError error(std::error_code code, std::string message)
{
    return OpenError{code, std::move(message)};
}

} // namespace

std::expected<std::unique_ptr<PciFunction>, OpenError> open_vfio_function(const std::string& text,
                                                                          std::size_t dma_limit)
{
    const std::string bdf = normalize_bdf(text);
    if (bdf.empty())
        return std::unexpected(error(std::make_error_code(std::errc::invalid_argument),
                                     "'" + text + "' is not a PCI address (0000:00:04.0)"));
    const fs::path dev = fs::path("/sys/bus/pci/devices") / bdf;
    std::error_code ec;
    if (!fs::exists(dev, ec))
        return std::unexpected(error(std::make_error_code(std::errc::no_such_device),
                                     bdf + ": no such PCI function"));
    const PciHost host;
    const std::string driver = driver_of(host, bdf);
    if (driver != "vfio-pci") {
        std::string held = driver.empty() ? "no driver" : "the " + driver + " driver";
        std::string disks;
        for (const auto& disk : namespace_disks_of(host, bdf)) disks += (disks.empty() ? "" : " ") + disk;
        if (!disks.empty()) held += " (block devices: " + disks + ")";
        return std::unexpected(error(std::make_error_code(std::errc::device_or_resource_busy),
                                     bdf + " is bound to " + held + ", not vfio-pci; unmount what uses it, "
                                           "then: nvmecusectl bind " + bdf));
    }
    const auto group_link = fs::read_symlink(dev / "iommu_group", ec);
    if (ec)
        return std::unexpected(error(ec, bdf + ": no IOMMU group (boot with intel_iommu=on or amd_iommu=on)"));
    const std::string group_path = "/dev/vfio/" + group_link.filename().string();

    UniqueFd container(::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC));
    if (!container.valid()) return std::unexpected(error(last_errno(), "/dev/vfio/vfio"));
    if (::ioctl(container.get(), VFIO_GET_API_VERSION) != VFIO_API_VERSION)
        return std::unexpected(error(std::make_error_code(std::errc::not_supported), "VFIO API version"));
    const unsigned long iommu = ::ioctl(container.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1
                                    ? VFIO_TYPE1v2_IOMMU
                                    : VFIO_TYPE1_IOMMU;
    if (::ioctl(container.get(), VFIO_CHECK_EXTENSION, iommu) != 1)
        return std::unexpected(error(std::make_error_code(std::errc::not_supported),
                                     "VFIO has no type1 IOMMU (modprobe vfio_iommu_type1)"));
    UniqueFd group(::open(group_path.c_str(), O_RDWR | O_CLOEXEC));
    if (!group.valid()) return std::unexpected(error(last_errno(), group_path));
    vfio_group_status status{};
    status.argsz = sizeof status;
    if (::ioctl(group.get(), VFIO_GROUP_GET_STATUS, &status) != 0)
        return std::unexpected(error(last_errno(), group_path + ": VFIO_GROUP_GET_STATUS"));
    if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0)
        return std::unexpected(error(std::make_error_code(std::errc::device_or_resource_busy),
                                     group_path + ": other devices of the IOMMU group are bound to "
                                                  "host drivers; bind them to vfio-pci too"));
    int cfd = container.get();
    if (::ioctl(group.get(), VFIO_GROUP_SET_CONTAINER, &cfd) != 0)
        return std::unexpected(error(last_errno(), group_path + ": VFIO_GROUP_SET_CONTAINER"));
    if (::ioctl(container.get(), VFIO_SET_IOMMU, iommu) != 0)
        return std::unexpected(error(last_errno(), "VFIO_SET_IOMMU"));
    UniqueFd device(::ioctl(group.get(), VFIO_GROUP_GET_DEVICE_FD, bdf.c_str()));
    if (!device.valid())
        return std::unexpected(error(last_errno(), bdf + ": VFIO_GROUP_GET_DEVICE_FD (in use by another process?)"));

    vfio_region_info bar{};
    bar.argsz = sizeof bar;
    bar.index = VFIO_PCI_BAR0_REGION_INDEX;
    if (::ioctl(device.get(), VFIO_DEVICE_GET_REGION_INFO, &bar) != 0)
        return std::unexpected(error(last_errno(), bdf + ": BAR0 region info"));
    if ((bar.flags & VFIO_REGION_INFO_FLAG_MMAP) == 0 || bar.size < 0x2000)
        return std::unexpected(error(std::make_error_code(std::errc::not_supported),
                                     bdf + ": BAR0 cannot be mapped"));
    void* base = ::mmap(nullptr, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, device.get(),
                        static_cast<off_t>(bar.offset));
    if (base == MAP_FAILED) return std::unexpected(error(last_errno(), bdf + ": mmap of BAR0"));
    auto mapped = std::make_unique<MappedBar>(base, bar.size);

    // Memory space and bus master on: the controller may now DMA.
    vfio_region_info config{};
    config.argsz = sizeof config;
    config.index = VFIO_PCI_CONFIG_REGION_INDEX;
    if (::ioctl(device.get(), VFIO_DEVICE_GET_REGION_INFO, &config) != 0)
        return std::unexpected(error(last_errno(), bdf + ": config space region info"));
    std::uint16_t command = 0;
    const auto at = static_cast<off_t>(config.offset + PCI_COMMAND);
    if (::pread(device.get(), &command, sizeof command, at) != sizeof command)
        return std::unexpected(error(last_errno(), bdf + ": reading the command register"));
    command |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    if (::pwrite(device.get(), &command, sizeof command, at) != sizeof command)
        return std::unexpected(error(last_errno(), bdf + ": enabling bus mastering"));

    return std::make_unique<VfioFunction>(bdf, std::move(container), std::move(group), std::move(device),
                                          std::move(mapped), dma_limit);
}

} // namespace nvmecuse::transport::pcie
