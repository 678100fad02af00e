// NVMe over PCIe as a Transport: BAR0 registers, the admin queue in DMA
// memory (AQA/ASQ/ACQ), I/O queues by Create I/O CQ/SQ (NVMe Base 2.0,
// 5.4, 5.5). See pcie_transport.hpp.
#include "nvmecuse/transport/pcie/pcie_transport.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "pcie_queue.hpp"

namespace nvmecuse::transport::pcie {

namespace {

std::unexpected<std::error_code> fail(std::errc e) noexcept
{
    return std::unexpected(std::make_error_code(e));
}

/// Create I/O Completion Queue: physically contiguous, its size 0's
/// based; interrupts on MSI-X vector qid (IEN, IV) when the queue has its
/// vector, else off (polled) (NVMe Base 2.0, Figures 474-475).
nvme::SubmissionQueueEntry create_cq(const PcieQueue& q)
{
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::create_io_cq);
    s.prp1 = q.cq_address();
    s.cdw10 = static_cast<std::uint32_t>(q.qid()) | (std::uint32_t{q.entries()} - 1u) << 16;
    s.cdw11 = 1u; // PC
    if (q.completion_fd() >= 0) s.cdw11 |= 1u << 1 | std::uint32_t{q.qid()} << 16; // IEN, IV
    return s;
}

/// Create I/O Submission Queue on the completion queue of the same id,
/// physically contiguous, medium priority (NVMe Base 2.0, Figures 478-479).
nvme::SubmissionQueueEntry create_sq(const PcieQueue& q)
{
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::create_io_sq);
    s.prp1 = q.sq_address();
    s.cdw10 = static_cast<std::uint32_t>(q.qid()) | (std::uint32_t{q.entries()} - 1u) << 16;
    s.cdw11 = 1u | std::uint32_t{q.qid()} << 16; // PC, CQID
    return s;
}

/// The I/O queues alive, to kill on disconnect or removal; queues are
/// made and dropped on any thread.
struct QueueRegistry {
    std::mutex mutex;
    std::vector<PcieQueue*> queues;

    void kill_all()
    {
        std::lock_guard l(mutex);
        for (PcieQueue* q : queues)
            q->kill();
    }
};

/// A queue the core owns; the transport keeps a pointer to kill it on disconnect.
class IoQueue final : public QueuePair {
public:
    IoQueue(std::unique_ptr<PcieQueue> q, QueueRegistry& registry)
        : queue_(std::move(q)), registry_(registry)
    {
        std::lock_guard l(registry_.mutex);
        registry_.queues.push_back(queue_.get());
    }
    ~IoQueue() override
    {
        std::lock_guard l(registry_.mutex);
        std::erase(registry_.queues, queue_.get());
    }
    IoQueue(const IoQueue&) = delete;
    IoQueue& operator=(const IoQueue&) = delete;
    std::expected<void, std::error_code> submit(const Request& r) override
    {
        return queue_->submit(r);
    }
    std::size_t reap(std::span<nvme::CompletionQueueEntry> out) override
    {
        return queue_->reap(out);
    }
    std::uint16_t depth() const override { return queue_->depth(); }
    int completion_fd() const override { return queue_->completion_fd(); }

private:
    std::unique_ptr<PcieQueue> queue_;
    QueueRegistry& registry_;
};

class PcieTransport final : public Transport {
public:
    PcieTransport(PciFunction& function, PcieOptions options,
                  std::unique_ptr<PciFunction> owned = nullptr)
        : owned_(std::move(owned)), function_(function), options_(options)
    {
        info_.name = "pcie " + function.address();
        info_.registers = RegisterAccess::direct;
        info_.max_io_queues = options.io_queues;
        info_.max_transfer = options.max_transfer;
        info_.fills_host_buffers = false; // DMA: unwritten bytes stay as they were
        // A PcieQueue keeps its state to itself (rings, PRP lists, slots,
        // its vector's eventfd); what queues share is safe from any thread:
        // BAR0 stores, the DMA memory, the queue registry, removal.
        info_.concurrent_queues = true;
    }
    ~PcieTransport() override { disconnect(); }
    PcieTransport(const PcieTransport&) = delete;
    PcieTransport& operator=(const PcieTransport&) = delete;

    const TransportInfo& info() const override { return info_; }

    std::uint64_t read_register(std::uint32_t offset) override
    {
        Bar& bar = function_.bar0();
        return nvme::reg_offset::is_64bit(offset) ? bar.read64(offset) : bar.read32(offset);
    }
    void write_register(std::uint32_t offset, std::uint64_t value) override
    {
        Bar& bar = function_.bar0();
        if (nvme::reg_offset::is_64bit(offset))
            bar.write64(offset, value);
        else
            bar.write32(offset, static_cast<std::uint32_t>(value));
    }

    std::expected<void, std::error_code> connect_admin() override
    {
        const std::uint64_t cap = read_register(nvme::reg_offset::cap);
        if (cap == ~std::uint64_t{0} || removed_.load()) return fail(std::errc::no_such_device);
        // A vector per queue, the admin queue's 0 (as Linux nvme-pci);
        // queues without one are polled.
        vectors_ = function_.enable_vectors(static_cast<std::uint16_t>(options_.io_queues + 1u));
        dstrd_ = static_cast<unsigned>(nvme::cap::Dstrd::get(cap));
        const auto mqes = static_cast<std::uint32_t>(nvme::cap::Mqes::get(cap)) + 1;
        mqes_ = mqes;
        PcieQueue::Config c;
        c.qid = 0;
        c.entries = static_cast<std::uint16_t>(std::min<std::uint32_t>(options_.admin_queue_entries, mqes));
        c.doorbell_stride = dstrd_;
        c.max_transfer = options_.max_transfer;
        c.interrupt_fd = interrupt_fd(0);
        auto q = PcieQueue::create(function_, c);
        if (!q) return std::unexpected(q.error());
        admin_ = std::move(*q);
        return {};
    }

    std::optional<AdminQueueRegisters> admin_queue_registers() const override
    {
        if (!admin_) return std::nullopt;
        // AQA: ACQS and ASQS, 0's based (NVMe Base 2.0, 3.1.4.9).
        const std::uint32_t size = admin_->entries() - 1u;
        return AdminQueueRegisters{size | size << 16, admin_->sq_address(), admin_->cq_address()};
    }

    QueuePair& admin_queue() override { return *admin_; }
    DeviceMemory& memory() override { return function_.dma(); }

    void controller_identified(const nvme::IdentifyController& id) override
    {
        sgl_support_.store(options_.sgls ? static_cast<std::uint8_t>(nvme::sgls::Support::get(id.sgls))
                                         : std::uint8_t{0});
    }

    std::expected<std::unique_ptr<QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override
    {
        if (!admin_) return fail(std::errc::not_connected);
        if (qid == 0 || qid > options_.io_queues) return fail(std::errc::invalid_argument);
        PcieQueue::Config c;
        c.qid = qid;
        // depth commands outstanding need depth + 1 entries, within MQES.
        c.entries = static_cast<std::uint16_t>(std::min<std::uint32_t>(depth + 1u, mqes_));
        c.doorbell_stride = dstrd_;
        c.max_transfer = options_.max_transfer;
        c.interrupt_fd = interrupt_fd(qid);
        c.sgl_support = sgl_support_.load();
        c.sgl_threshold = options_.sgl_threshold;
        auto q = PcieQueue::create(function_, c);
        if (!q) return std::unexpected(q.error());
        const auto deadline = std::chrono::steady_clock::now() + options_.queue_command_timeout;
        for (const auto& sqe : {create_cq(**q), create_sq(**q)}) {
            auto cqe = admin_->execute_internal(sqe, deadline);
            if (!cqe) return std::unexpected(cqe.error());
            if (!nvme::status_of(*cqe).is_success()) return fail(std::errc::io_error);
        }
        return std::make_unique<IoQueue>(std::move(*q), io_queues_);
    }

    void disconnect() override
    {
        // The controller is disabled (or gone): no command runs any more,
        // so queues die without Delete commands; their memory goes with
        // their owners.
        io_queues_.kill_all();
        if (admin_) admin_->kill();
        admin_.reset();
    }

    int event_fd() const override { return function_.release_request_fd(); }

    /// The platform asks for the device back (it is being removed): give
    /// it back at once, so that the removal completes; every queue dies
    /// with it and the core fails the controller (device_removed()).
    void handle_event() override
    {
        std::uint64_t requests = 0;
        if (::read(function_.release_request_fd(), &requests, sizeof requests) != sizeof requests ||
            requests == 0)
            return;
        removed_.store(true);
        function_.release();
        io_queues_.kill_all();
        if (admin_) admin_->kill();
    }

    bool device_removed() const override { return removed_.load(); }

private:
    int interrupt_fd(std::uint16_t vector) const
    {
        return vector < vectors_ ? function_.vector_fd(vector) : -1;
    }

    std::unique_ptr<PciFunction> owned_; ///< destroyed last: its DMA memory backs the queues
    PciFunction& function_;
    PcieOptions options_;
    TransportInfo info_;
    std::unique_ptr<PcieQueue> admin_;
    QueueRegistry io_queues_; ///< alive I/O queues (owned by the core)
    std::uint16_t vectors_ = 0; ///< MSI-X vectors enabled (0: every queue polled)
    std::atomic<bool> removed_{false};
    std::atomic<std::uint8_t> sgl_support_{0}; ///< Identify SGLS bits 1:0, 0 when PRPs only
    unsigned dstrd_ = 0;
    std::uint32_t mqes_ = 2;
};

} // namespace

std::unique_ptr<Transport> make_transport(PciFunction& function, PcieOptions options)
{
    return std::make_unique<PcieTransport>(function, options);
}

std::unique_ptr<Transport> make_transport(std::unique_ptr<PciFunction> function, PcieOptions options)
{
    PciFunction& f = *function;
    return std::make_unique<PcieTransport>(f, options, std::move(function));
}

} // namespace nvmecuse::transport::pcie
