// PcieQueue: rings, doorbells, phase tags and PRPs. See pcie_queue.hpp.
#include "pcie_queue.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <thread>

namespace nvmecuse::transport::pcie {

namespace {

constexpr std::size_t sqe_size = sizeof(nvme::SubmissionQueueEntry);
constexpr std::size_t cqe_size = sizeof(nvme::CompletionQueueEntry);
/// PRP entries in one list page; the last one chains to the next page.
constexpr std::size_t prps_per_page = page_size / sizeof(std::uint64_t);
/// SGL descriptors in one segment page; the last one chains to the next.
constexpr std::size_t descriptors_per_page = page_size / sizeof(nvme::SglDescriptor);
/// PSDT 01b: SGLs for the data, MPTR the address of a contiguous buffer.
constexpr std::uint8_t psdt_sgl = static_cast<std::uint8_t>(nvme::Psdt::sgl_mptr_contiguous) << 6;

/// A descriptor of `type` with an address (subtype 0h) (NVMe Base 2.0, Figure 117).
nvme::SglDescriptor sgl_descriptor(nvme::SglDescriptorType type, std::uint64_t address,
                                   std::size_t length) noexcept
{
    nvme::SglDescriptor d{};
    d.addr = address;
    d.length = static_cast<std::uint32_t>(length);
    d.sgl_identifier = static_cast<std::uint8_t>(static_cast<std::uint8_t>(type) << 4);
    return d;
}

std::unexpected<std::error_code> fail(std::errc e) noexcept
{
    return std::unexpected(std::make_error_code(e));
}

/// Pages [addr, addr + bytes) touches.
std::size_t pages_spanned(std::uint64_t addr, std::size_t bytes) noexcept
{
    if (bytes == 0) return 0;
    const std::uint64_t first = addr / page_size;
    const std::uint64_t last = (addr + bytes - 1) / page_size;
    return static_cast<std::size_t>(last - first + 1);
}

/// PRP list pages for a command touching `pages` pages (NVMe Base 2.0,
/// 4.1.1: PRP1 the first, PRP2 the second or a list; a list page's last
/// entry chains when more follow). L pages hold 511 L + 1 entries.
std::size_t list_pages_for(std::size_t pages) noexcept
{
    if (pages <= 2) return 0;
    const std::size_t entries = pages - 1;
    return (entries - 1 + prps_per_page - 2) / (prps_per_page - 1);
}

std::expected<DataBuffer, std::error_code> zeroed_dma(DmaMemory& dma, std::size_t bytes)
{
    auto b = dma.allocate(std::max(bytes, page_size)); // rings and lists: page aligned
    if (b) std::memset(b->data(), 0, b->size());
    return b;
}

} // namespace

PcieQueue::PcieQueue(PciFunction& function, const Config& config)
    : function_(function), bar_(function.bar0()), dma_(function.dma()), config_(config)
{
}

std::expected<std::unique_ptr<PcieQueue>, std::error_code>
PcieQueue::create(PciFunction& function, const Config& config)
{
    if (config.entries < 3) return fail(std::errc::invalid_argument);
    std::unique_ptr<PcieQueue> q(new PcieQueue(function, config));
    // The admin queue keeps a cid and an entry for the transport's own
    // commands (Create/Delete I/O queue); one entry always stays empty
    // (a full ring would look empty, NVMe Base 2.0, 3.3.1.5).
    // The core's cids name at most max_queue_depth slots (transport.hpp).
    q->depth_ = std::min(static_cast<std::uint16_t>(config.entries - (config.qid == 0 ? 2 : 1)),
                         max_queue_depth);
    q->internal_cid_ = q->depth_; // a slot the core never uses, generation 0
    auto sq = zeroed_dma(q->dma_, std::size_t{config.entries} * sqe_size);
    auto cq = zeroed_dma(q->dma_, std::size_t{config.entries} * cqe_size);
    if (!sq || !cq) return fail(std::errc::not_enough_memory);
    q->sq_ = std::move(*sq);
    q->cq_ = std::move(*cq);
    q->list_pages_per_cid_ = list_pages_for(config.max_transfer / page_size + 1);
    if (q->list_pages_per_cid_ != 0) {
        auto lists = zeroed_dma(q->dma_, std::size_t{q->depth_ + 1u} * q->list_pages_per_cid_ *
                                             page_size);
        if (!lists) return fail(std::errc::not_enough_memory);
        q->prp_lists_ = std::move(*lists);
    }
    q->slots_.resize(std::size_t{q->depth_} + 1);
    return q;
}

void PcieQueue::build_prps(nvme::SubmissionQueueEntry& sqe, std::uint64_t addr, std::size_t bytes,
                           std::size_t list_index) noexcept
{
    sqe.prp1 = addr;
    sqe.prp2 = 0;
    const std::size_t pages = pages_spanned(addr, bytes);
    if (pages <= 1) return;
    const std::uint64_t second = (addr / page_size + 1) * page_size;
    if (pages == 2) {
        sqe.prp2 = second;
        return;
    }
    // The list of pages 2..n, in this cid's list pages.
    const std::size_t first_list = list_index * list_pages_per_cid_;
    auto* lists = reinterpret_cast<std::uint64_t*>(prp_lists_.data()) + first_list * prps_per_page;
    const std::uint64_t lists_address = prp_lists_.device_address() + first_list * page_size;
    sqe.prp2 = lists_address;
    std::size_t slot = 0;
    std::size_t list_page = 0;
    for (std::size_t i = 1; i < pages; ++i) {
        const bool last_entry_of_page = slot % prps_per_page == prps_per_page - 1;
        if (last_entry_of_page && i + 1 < pages) { // chain to the next list page
            ++list_page;
            lists[slot++] = lists_address + list_page * page_size;
        }
        lists[slot++] = second + (i - 1) * page_size;
    }
}

bool PcieQueue::takes_sgl(std::span<const std::byte> data) const noexcept
{
    // PRP entries are dword aligned (NVMe Base 2.0, 4.1.1): SGLs are the
    // only way to describe a buffer that is not.
    const bool dword_aligned = reinterpret_cast<std::uintptr_t>(data.data()) % 4 == 0;
    const bool large = data.size() >= config_.sgl_threshold;
    switch (config_.sgl_support) {
    case 1:
        return large || !dword_aligned;
    case 2: // Identify SGLS 10b: dword aligned addresses and lengths only
        return large && dword_aligned && data.size() % 4 == 0;
    default:
        return false;
    }
}

std::optional<nvme::SglDescriptor> PcieQueue::sgl_segments(std::span<std::byte> data,
                                                           std::size_t list_index)
{
    using Type = nvme::SglDescriptorType;
    // The runs, each contiguous in the device's address space.
    std::vector<nvme::SglDescriptor> runs;
    for (std::size_t at = 0; at < data.size();) {
        const std::size_t n = std::min(dma_.contiguous_from(data.data() + at), data.size() - at);
        const auto address = n == 0 ? std::nullopt : dma_.device_address_of(data.data() + at);
        if (!address) return std::nullopt;
        runs.push_back(sgl_descriptor(Type::data_block, *address, n));
        at += n;
    }
    // L pages hold 255 descriptors and a Segment descriptor each, the
    // last up to 256 (a Last Segment holds no Segment descriptor).
    const std::size_t pages = list_pages_per_cid_;
    if (pages == 0 || runs.size() > pages * (descriptors_per_page - 1) + 1) return std::nullopt;
    const std::size_t first_page = list_index * list_pages_per_cid_;
    auto* segments = reinterpret_cast<nvme::SglDescriptor*>(prp_lists_.data() + first_page * page_size);
    const std::uint64_t segments_address = prp_lists_.device_address() + first_page * page_size;
    // The descriptor that points to the segment starting at run `from`, in page `page`.
    auto pointer_to = [&](std::size_t from, std::size_t page) {
        const std::size_t left = runs.size() - from;
        const bool last = left <= descriptors_per_page;
        const std::size_t entries = last ? left : descriptors_per_page;
        return sgl_descriptor(last ? Type::last_segment : Type::segment,
                              segments_address + page * page_size,
                              entries * sizeof(nvme::SglDescriptor));
    };
    std::size_t from = 0;
    for (std::size_t page = 0; from < runs.size(); ++page) {
        nvme::SglDescriptor* out = segments + page * descriptors_per_page;
        const std::size_t left = runs.size() - from;
        const std::size_t here = left <= descriptors_per_page ? left : descriptors_per_page - 1;
        std::memcpy(out, runs.data() + from, here * sizeof(nvme::SglDescriptor));
        from += here;
        if (from < runs.size()) out[here] = pointer_to(from, page + 1);
    }
    return pointer_to(0, 0);
}

std::expected<void, std::error_code>
PcieQueue::build_sgl(nvme::SubmissionQueueEntry& sqe, std::span<std::byte> data, Slot& slot,
                     bool to_device, std::size_t list_index)
{
    sqe.flags = psdt_sgl;
    if (dma_.contiguous_from(data.data()) < data.size()) {
        if (auto first = sgl_segments(data, list_index)) {
            nvme::set_dptr_sgl(sqe, *first);
            return {};
        }
    }
    auto addr = device_view(data, slot.bounce_data, to_device);
    if (!addr) return std::unexpected(addr.error());
    nvme::set_dptr_sgl(sqe, sgl_descriptor(nvme::SglDescriptorType::data_block, *addr, data.size()));
    return {};
}

std::expected<std::uint64_t, std::error_code>
PcieQueue::device_view(std::span<std::byte> bytes, DataBuffer& bounce, bool to_device)
{
    if (dma_.contiguous_from(bytes.data()) >= bytes.size()) {
        if (auto a = dma_.device_address_of(bytes.data())) return *a;
    }
    // Not device-reachable (a heap buffer of the core's own commands): bounce.
    auto b = dma_.allocate(bytes.size());
    if (!b) return std::unexpected(b.error());
    if (to_device) std::memcpy(b->data(), bytes.data(), bytes.size());
    else std::memset(b->data(), 0, bytes.size());
    bounce = std::move(*b);
    return bounce.device_address();
}

std::expected<void, std::error_code> PcieQueue::submit(const Request& request)
{
    if (!alive_.load(std::memory_order_relaxed)) return fail(std::errc::not_connected);
    const std::uint16_t cid = cid_slot(request.sqe.cid);
    if (cid >= depth_ || slots_[cid].busy) return fail(std::errc::invalid_argument);
    if (request.data.size() > config_.max_transfer) return fail(std::errc::invalid_argument);
    Slot& slot = slots_[cid];
    nvme::SubmissionQueueEntry sqe = request.sqe;
    sqe.flags = 0; // PRPs (PSDT 00b), no fused operation
    const bool to_device = request.direction == nvme::DataTransfer::host_to_controller;
    if (!request.data.empty() && takes_sgl(request.data)) {
        if (auto built = build_sgl(sqe, request.data, slot, to_device, cid); !built) return built;
    } else if (!request.data.empty()) {
        auto addr = device_view(request.data, slot.bounce_data, to_device);
        if (!addr) return std::unexpected(addr.error());
        build_prps(sqe, *addr, request.data.size(), cid);
    } else {
        sqe.prp1 = sqe.prp2 = 0;
    }
    if (!request.metadata.empty()) {
        // MPTR: one contiguous buffer (NVMe Base 2.0, 4.1.1 "Metadata Pointer").
        auto addr = device_view(request.metadata, slot.bounce_metadata, to_device);
        if (!addr) {
            slot.bounce_data = {};
            return std::unexpected(addr.error());
        }
        sqe.mptr = *addr;
    }
    if (auto pushed = push(sqe); !pushed) {
        slot.bounce_data = {};
        slot.bounce_metadata = {};
        return pushed;
    }
    slot.busy = true;
    slot.cid = request.sqe.cid;
    slot.copy_back = request.direction == nvme::DataTransfer::controller_to_host;
    slot.data = request.data;
    slot.metadata = request.metadata;
    return {};
}

std::expected<void, std::error_code> PcieQueue::push(const nvme::SubmissionQueueEntry& sqe)
{
    const auto next = static_cast<std::uint16_t>((sq_tail_ + 1) % config_.entries);
    if (next == sq_head_) return fail(std::errc::resource_unavailable_try_again);
    std::memcpy(sq_.data() + std::size_t{sq_tail_} * sqe_size, &sqe, sqe_size);
    sq_tail_ = next;
    // The entry is in memory before the doorbell tells the device: x86
    // keeps stores to memory ahead of a later uncached MMIO store (Linux's
    // writel() adds no CPU fence there either); this keeps the compiler
    // from moving them.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    bar_.write32(nvme::reg_offset::sq_tail_doorbell(config_.qid, config_.doorbell_stride), sq_tail_);
    return {};
}

std::optional<nvme::CompletionQueueEntry> PcieQueue::take() noexcept
{
    std::byte* entry = cq_.data() + std::size_t{cq_head_} * cqe_size;
    // The device stores the phase tag while this runs (DMA): an acquire
    // load of the status word, then the entry it publishes (x86 orders
    // loads anyway; this orders them for the compiler and TSan).
    auto* status = reinterpret_cast<std::uint16_t*>(entry + offsetof(nvme::CompletionQueueEntry, status));
    if (((std::atomic_ref(*status).load(std::memory_order_acquire) & 1u) != 0) != phase_)
        return std::nullopt;
    nvme::CompletionQueueEntry cqe;
    std::memcpy(&cqe, entry, cqe_size);
    if (++cq_head_ == config_.entries) { // the phase tag inverts on every wrap
        cq_head_ = 0;
        phase_ = !phase_;
    }
    sq_head_ = static_cast<std::uint16_t>(cqe.sq_head % config_.entries);
    return cqe;
}

void PcieQueue::finish_slot(std::uint16_t cid) noexcept
{
    // A CQE that repeats an earlier use of the slot (another generation)
    // must not release what the slot's current command holds.
    const std::uint16_t index = cid_slot(cid);
    if (index >= slots_.size() || !slots_[index].busy || slots_[index].cid != cid) return;
    Slot& slot = slots_[index];
    if (slot.copy_back) {
        if (!slot.bounce_data.empty())
            std::memcpy(slot.data.data(), slot.bounce_data.data(), slot.data.size());
        if (!slot.bounce_metadata.empty())
            std::memcpy(slot.metadata.data(), slot.bounce_metadata.data(), slot.metadata.size());
    }
    slot = Slot{};
}

void PcieQueue::acknowledge_interrupts() const noexcept
{
    if (config_.interrupt_fd < 0) return;
    std::uint64_t count = 0;
    [[maybe_unused]] const auto r = ::read(config_.interrupt_fd, &count, sizeof count);
}

std::size_t PcieQueue::reap(std::span<nvme::CompletionQueueEntry> out)
{
    acknowledge_interrupts();
    std::size_t n = 0;
    while (n < out.size() && !stashed_.empty()) {
        out[n++] = stashed_.front();
        stashed_.pop_front();
    }
    bool took = false;
    while (n < out.size()) {
        auto cqe = take();
        if (!cqe) break;
        took = true;
        if (cqe->cid == internal_cid_) continue; // a late internal completion
        finish_slot(cqe->cid);
        out[n++] = *cqe;
    }
    if (took)
        bar_.write32(nvme::reg_offset::cq_head_doorbell(config_.qid, config_.doorbell_stride),
                     cq_head_);
    return n;
}

std::expected<nvme::CompletionQueueEntry, std::error_code>
PcieQueue::execute_internal(nvme::SubmissionQueueEntry sqe,
                            std::chrono::steady_clock::time_point deadline)
{
    if (!alive_.load(std::memory_order_relaxed)) return fail(std::errc::not_connected);
    sqe.cid = internal_cid_;
    if (auto pushed = push(sqe); !pushed) return std::unexpected(pushed.error());
    auto pause = std::chrono::microseconds(1);
    for (;;) {
        bool took = false;
        while (auto cqe = take()) {
            took = true;
            if (cqe->cid == internal_cid_) {
                bar_.write32(nvme::reg_offset::cq_head_doorbell(config_.qid, config_.doorbell_stride),
                             cq_head_);
                return *cqe;
            }
            finish_slot(cqe->cid);
            stashed_.push_back(*cqe);
        }
        if (took)
            bar_.write32(nvme::reg_offset::cq_head_doorbell(config_.qid, config_.doorbell_stride),
                         cq_head_);
        if (std::chrono::steady_clock::now() >= deadline) return fail(std::errc::timed_out);
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
}

} // namespace nvmecuse::transport::pcie
