// A PCIe submission/completion queue pair in host memory (NVMe Base 2.0,
// 3.3 "Queue Mechanism", 4.1.1 "Physical Region Page entry and list",
// 4.1.2 "Scatter Gather List"): the SQ and CQ rings, their doorbells, the
// phase tag, and the data pointer of every command -- PRPs, or SGLs on an
// I/O queue of a controller that supports them -- with list pages per cid
// prepared once when the queue is made. Private to transport/pcie.
//
// Threading: one thread at a time (the thread that owns the queue pair);
// kill() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "nvmecuse/transport/pcie/pci_function.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::transport::pcie {

/// The memory page the host sets in CC.MPS (4 KiB, what the core enables with).
inline constexpr std::size_t page_size = 4096;

class PcieQueue final : public QueuePair {
public:
    struct Config {
        std::uint16_t qid = 0;
        std::uint16_t entries = 2;      ///< ring size (depth() is entries - 1, the admin queue's - 2)
        unsigned doorbell_stride = 0;   ///< CAP.DSTRD
        std::size_t max_transfer = 0;   ///< bytes one command may move (sizes the PRP lists)
        /// The eventfd of the MSI-X vector the completion queue signals
        /// (vector qid: the admin queue's is vector 0); -1: polled.
        int interrupt_fd = -1;
        /// Identify Controller SGLS bits 1:0 (an I/O queue's; 0 for the
        /// admin queue, whose commands take PRPs): 0 PRPs only, 1 SGLs,
        /// 2 SGLs whose addresses and lengths are dword aligned (others
        /// take PRPs).
        std::uint8_t sgl_support = 0;
        /// SGLs from this many bytes on (PcieOptions::sgl_threshold).
        std::size_t sgl_threshold = 0;
    };

    /// Allocates the rings (zeroed: every phase tag 0) and the PRP list
    /// pages from `function`'s DMA memory. Errors: not_enough_memory.
    [[nodiscard]] static std::expected<std::unique_ptr<PcieQueue>, std::error_code>
    create(PciFunction& function, const Config& config);

    /// Device addresses of the rings, for AQA/ASQ/ACQ or Create I/O SQ/CQ.
    [[nodiscard]] std::uint64_t sq_address() const noexcept { return sq_.device_address(); }
    [[nodiscard]] std::uint64_t cq_address() const noexcept { return cq_.device_address(); }
    [[nodiscard]] std::uint16_t entries() const noexcept { return config_.entries; }
    [[nodiscard]] std::uint16_t qid() const noexcept { return config_.qid; }

    /// After this, submit() refuses with not_connected (the queue was
    /// deleted or the controller reset): its memory stays until destruction.
    void kill() noexcept { alive_.store(false, std::memory_order_relaxed); }

    // ---- QueuePair --------------------------------------------------------
    /// Builds the PRPs (bouncing data that is not in DMA memory), writes the
    /// SQE and rings the SQ tail doorbell.
    [[nodiscard]] std::expected<void, std::error_code> submit(const Request& request) override;
    /// Takes the completions whose phase tag is current, copies bounced
    /// reads back, and rings the CQ head doorbell once.
    [[nodiscard]] std::size_t reap(std::span<nvme::CompletionQueueEntry> out) override;
    [[nodiscard]] std::uint16_t depth() const override { return depth_; }
    /// The interrupt eventfd (Config::interrupt_fd); reap() drains it.
    [[nodiscard]] int completion_fd() const override { return config_.interrupt_fd; }

    /// A command of the transport itself (Create/Delete I/O queue) on a cid
    /// the core never uses, polled to completion until `deadline`;
    /// completions of other commands that arrive meanwhile wait for reap().
    [[nodiscard]] std::expected<nvme::CompletionQueueEntry, std::error_code>
    execute_internal(nvme::SubmissionQueueEntry sqe, std::chrono::steady_clock::time_point deadline);

private:
    struct Slot {
        bool busy = false;
        std::uint16_t cid = 0;      ///< the whole cid (generation included) while busy
        DataBuffer bounce_data;     ///< data that was not in DMA memory
        DataBuffer bounce_metadata;
        std::span<std::byte> data;  ///< where a bounced read goes back
        std::span<std::byte> metadata;
        bool copy_back = false;
    };

    PcieQueue(PciFunction& function, const Config& config);
    /// PRP1/PRP2 (and the list in `list`) for `bytes` at device address `addr`.
    void build_prps(nvme::SubmissionQueueEntry& sqe, std::uint64_t addr, std::size_t bytes,
                    std::size_t list_index) noexcept;
    /// SGL1 for `data`: one Data Block when it is contiguous in the
    /// device's address space (bounced there when not in DMA memory),
    /// else Data Blocks in this cid's list pages, chained by Segment
    /// descriptors (NVMe Base 2.0, 4.1.2).
    [[nodiscard]] std::expected<void, std::error_code>
    build_sgl(nvme::SubmissionQueueEntry& sqe, std::span<std::byte> data, Slot& slot,
              bool to_device, std::size_t list_index);
    /// The first segment's descriptor for the device-contiguous runs of
    /// `data`, written to this cid's list pages; nullopt when some run is
    /// not in DMA memory or they are more than the pages hold.
    [[nodiscard]] std::optional<nvme::SglDescriptor> sgl_segments(std::span<std::byte> data,
                                                                  std::size_t list_index);
    [[nodiscard]] bool takes_sgl(std::span<const std::byte> data) const noexcept;
    /// The device address of `bytes`, bouncing them into `bounce` when not in DMA memory.
    [[nodiscard]] std::expected<std::uint64_t, std::error_code>
    device_view(std::span<std::byte> bytes, DataBuffer& bounce, bool to_device);
    [[nodiscard]] std::expected<void, std::error_code> push(const nvme::SubmissionQueueEntry& sqe);
    /// Acknowledges the interrupts signalled so far (drains the eventfd),
    /// before the ring is read: one that comes later leaves it readable.
    void acknowledge_interrupts() const noexcept;
    /// The next completion if its phase tag is current.
    [[nodiscard]] std::optional<nvme::CompletionQueueEntry> take() noexcept;
    void finish_slot(std::uint16_t cid) noexcept;

    PciFunction& function_;
    Bar& bar_;
    DmaMemory& dma_;
    Config config_;
    std::uint16_t depth_ = 0;
    std::uint16_t internal_cid_ = 0;
    DataBuffer sq_;
    DataBuffer cq_;
    DataBuffer prp_lists_;             ///< list_pages_per_cid_ pages per cid (PRP or SGL segments)
    std::size_t list_pages_per_cid_ = 0;
    std::vector<Slot> slots_;          ///< by cid_slot(cid)
    std::deque<nvme::CompletionQueueEntry> stashed_; ///< reaped by execute_internal() for reap()
    std::uint16_t sq_tail_ = 0;
    std::uint16_t sq_head_ = 0;        ///< as the controller last reported it
    std::uint16_t cq_head_ = 0;
    bool phase_ = true;
    std::atomic<bool> alive_{true};
};

} // namespace nvmecuse::transport::pcie
