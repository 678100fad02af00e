// An in-process NVMe PCI function for the PCIe transport's tests: BAR0 as a
// register file with doorbell semantics, DMA memory whose device addresses
// are its virtual addresses (what the device reads is what the host wrote),
// and a controller front end that fetches SQEs, walks PRPs (lists and their
// chaining included) or, when the emulated controller's config advertises
// them (ControllerConfig::sgls), SGLs (Data Blocks, Segments, Last
// Segments), runs each command on the emulated controller, and
// posts CQEs with the phase tag. It handles what is PCIe's own (CC/CSTS,
// AQA/ASQ/ACQ, Create/Delete I/O queues), signals MSI-X vectors through
// eventfds (the admin CQ on vector 0, an I/O CQ on its IV when IEN is set),
// and can play a removed device (every read all ones), one the platform
// asks back (the release request eventfd), or a stalled one (doorbells
// ignored until resumed).
//
// Threading: the transport's owner thread drives it through the Bar; the
// test reads what it observed and flips its switches between commands.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "emulated_controller.hpp"
#include "nvmecuse/transport/emu/config.hpp"
#include "nvmecuse/transport/pcie/pci_function.hpp"
#include "nvmecuse/transport/unique_fd.hpp"

namespace nvmecuse::testing {

/// DMA memory with device address = virtual address, page-granular.
class IdentityDma final : public transport::pcie::DmaMemory,
                          public transport::DataBuffer::Releaser {
public:
    std::expected<transport::DataBuffer, std::error_code> allocate(std::size_t size) override;
    void release(std::byte* bytes, std::size_t size) noexcept override;
    std::optional<std::uint64_t> device_address_of(const std::byte* p) const override;
    std::size_t contiguous_from(const std::byte* p) const override;
    /// The device's view: the host pointer of [address, address + length),
    /// or null when that range is not inside one live allocation.
    [[nodiscard]] std::byte* host_view(std::uint64_t address, std::size_t length) const;
    [[nodiscard]] std::size_t live() const;
    std::size_t fail_after = SIZE_MAX; ///< allocations that succeed before ENOMEM
    /// Device-contiguous runs end at multiples of this many bytes (an IOVA
    /// space mapped in pieces); the device addresses stay the virtual ones.
    std::size_t contiguity = SIZE_MAX;

private:
    /// The bytes of p's allocation from p on (0: not in one).
    [[nodiscard]] std::size_t allocated_from(const std::byte* p) const;

    mutable std::mutex mutex_;
    std::map<std::uintptr_t, std::size_t> allocations_; ///< start → length
};

class FakePciFunction final : public transport::pcie::PciFunction, public transport::pcie::Bar {
public:
    struct Options {
        std::uint16_t mqes = 255;     ///< CAP.MQES (0's based)
        unsigned dstrd = 0;           ///< CAP.DSTRD
        emu::ControllerConfig config; ///< the emulated controller behind it
        std::uint16_t msix_vectors = 8; ///< MSI-X table size; 0: no MSI-X
    };
    explicit FakePciFunction(Options options);

    // ---- PciFunction ------------------------------------------------------
    std::string address() const override { return "0000:00:04.0"; }
    transport::pcie::Bar& bar0() override { return *this; }
    transport::pcie::DmaMemory& dma() override { return dma_; }
    IdentityDma& identity_dma() { return dma_; }
    std::uint16_t enable_vectors(std::uint16_t wanted) override;
    int vector_fd(std::uint16_t vector) const override;
    int release_request_fd() const override { return request_.get(); }
    void release() override;

    // ---- Bar --------------------------------------------------------------
    std::uint32_t read32(std::uint32_t offset) override;
    void write32(std::uint32_t offset, std::uint32_t value) override;

    // ---- switches and observations (the test thread, under lock()) -------
    std::unique_lock<std::mutex> lock() { return std::unique_lock(mutex_); }
    bool removed = false;  ///< surprise removal: reads all ones, writes lost
    bool stalled = false;  ///< doorbells are ignored until resume() or the next CC.EN=0
    /// Ends a stall: the commands whose doorbells were ignored run now
    /// (their completions come from this thread, as a device's would).
    void resume();
    /// Posts a successful completion for `cid` on the CQ of I/O SQ `sqid`
    /// that answers nothing: a device that repeats an earlier CQE.
    void repeat_completion(std::uint16_t sqid, std::uint16_t cid);
    /// The platform asks for the function back (signals release_request_fd()).
    void request_release();
    bool released = false;              ///< release() was called
    std::uint64_t interrupts = 0;       ///< vector signals sent
    std::map<std::uint16_t, int> cq_vectors; ///< I/O CQ id → IV, -1 when IEN was clear
    std::uint32_t aqa = 0;
    std::uint64_t asq = 0, acq = 0;
    std::uint32_t cc = 0;
    int enables = 0;
    std::uint64_t max_prp_entries = 0; ///< the most pages one command's PRPs named
    std::uint64_t chained_lists = 0;   ///< PRP list pages reached through a chain entry
    std::uint64_t sgl_commands = 0;    ///< commands whose data an SGL described
    std::uint64_t sgl_segments = 0;    ///< SGL segments fetched (Segment and Last Segment)
    std::uint64_t max_sgl_data_blocks = 0; ///< the most Data Blocks one command's SGL named
    std::uint64_t commands = 0;        ///< SQEs fetched
    std::uint64_t dma_faults = 0;      ///< PRPs or queues outside DMA memory
    std::set<std::uint16_t> created_sqs;

private:
    struct Queue {
        std::uint64_t base = 0;
        std::uint16_t entries = 0;
        std::uint16_t head = 0; ///< SQ: next to fetch; CQ: unused
        std::uint16_t tail = 0; ///< CQ: next to post
        bool phase = true;      ///< CQ phase tag
        std::uint16_t cqid = 0; ///< SQ: its completion queue
        int vector = -1;        ///< CQ: the MSI-X vector it signals, -1: none
    };

    void enable();
    void disable();
    void ring_sq(std::uint16_t qid, std::uint16_t tail);
    void execute(std::uint16_t sqid, const nvme::SubmissionQueueEntry& sqe);
    void post(std::uint16_t cqid, std::uint16_t sqid, std::uint16_t cid, const emu::Outcome& o);
    [[nodiscard]] emu::Outcome admin_queue_command(const nvme::SubmissionQueueEntry& sqe);
    [[nodiscard]] std::size_t transfer_length(std::uint16_t qid, const nvme::SubmissionQueueEntry& sqe) const;
    /// The pages PRP1/PRP2 name for `length` bytes; false on a DMA fault.
    bool walk_prps(const nvme::SubmissionQueueEntry& sqe, std::size_t length,
                   std::vector<std::pair<std::byte*, std::size_t>>& segments);
    /// The Data Blocks SGL1 leads to (fake_pci_sgl.cpp); a failure status
    /// for a malformed SGL or a DMA fault.
    [[nodiscard]] nvme::Status walk_sgl(const nvme::SubmissionQueueEntry& sqe, std::size_t length,
                                        std::vector<std::pair<std::byte*, std::size_t>>& segments);

    Options options_;
    IdentityDma dma_;
    std::unique_ptr<emu::EmulatedController> ctrl_;
    mutable std::mutex mutex_;
    std::uint64_t cap_ = 0;
    std::uint32_t csts_ = 0;
    std::map<std::uint16_t, Queue> sqs_;
    std::map<std::uint16_t, Queue> cqs_;
    std::map<std::uint16_t, std::uint16_t> ignored_tails_; ///< SQ doorbells rung while stalled
    std::vector<transport::UniqueFd> vectors_;             ///< enabled MSI-X vectors' eventfds
    transport::UniqueFd request_;                          ///< the release request eventfd
};

} // namespace nvmecuse::testing
