// The in-process NVMe PCI function of fake_pci_function.hpp.
#include "fake_pci_function.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace nvmecuse::testing {

namespace {
constexpr std::size_t page = 4096;
constexpr std::size_t prps_per_page = page / 8;
} // namespace

// ---------------------------------------------------------------------------
// IdentityDma
// ---------------------------------------------------------------------------

std::expected<transport::DataBuffer, std::error_code> IdentityDma::allocate(std::size_t size)
{
    std::lock_guard l(mutex_);
    if (fail_after == 0) return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
    if (fail_after != SIZE_MAX) --fail_after;
    const std::size_t length = std::max<std::size_t>((size + page - 1) / page * page, page);
    auto* p = static_cast<std::byte*>(std::aligned_alloc(page, length));
    if (p == nullptr) return std::unexpected(std::make_error_code(std::errc::not_enough_memory));
    allocations_[reinterpret_cast<std::uintptr_t>(p)] = length;
    return transport::DataBuffer(p, size, reinterpret_cast<std::uintptr_t>(p), *this);
}

void IdentityDma::release(std::byte* bytes, std::size_t) noexcept
{
    {
        std::lock_guard l(mutex_);
        allocations_.erase(reinterpret_cast<std::uintptr_t>(bytes));
    }
    std::free(bytes);
}

std::optional<std::uint64_t> IdentityDma::device_address_of(const std::byte* p) const
{
    if (contiguous_from(p) == 0) return std::nullopt;
    return reinterpret_cast<std::uintptr_t>(p);
}

std::size_t IdentityDma::allocated_from(const std::byte* p) const
{
    std::lock_guard l(mutex_);
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    auto it = allocations_.upper_bound(a);
    if (it == allocations_.begin()) return 0;
    --it;
    if (a >= it->first + it->second) return 0;
    return it->first + it->second - a;
}

std::size_t IdentityDma::contiguous_from(const std::byte* p) const
{
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const std::size_t to_piece_end = contiguity == SIZE_MAX ? SIZE_MAX : contiguity - a % contiguity;
    return std::min(allocated_from(p), to_piece_end);
}

std::byte* IdentityDma::host_view(std::uint64_t address, std::size_t length) const
{
    auto* p = reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(address));
    return allocated_from(p) >= std::max<std::size_t>(length, 1) ? p : nullptr;
}

std::size_t IdentityDma::live() const
{
    std::lock_guard l(mutex_);
    return allocations_.size();
}

// ---------------------------------------------------------------------------
// FakePciFunction: registers and doorbells
// ---------------------------------------------------------------------------

FakePciFunction::FakePciFunction(Options options) : options_(std::move(options))
{
    auto ctrl = emu::EmulatedController::create(options_.config);
    if (!ctrl) std::abort();
    ctrl_ = std::move(*ctrl);
    ctrl_->set_async_sink([this](std::uint16_t cid, const emu::Outcome& o) { post(0, 0, cid, o); });
    cap_ = nvme::cap::Mqes::set(cap_, options_.mqes);
    cap_ = nvme::cap::Cqr::set(cap_, true);
    cap_ = nvme::cap::To::set(cap_, 2);
    cap_ = nvme::cap::Dstrd::set(cap_, options_.dstrd);
    cap_ = nvme::cap::Css::set(cap_, nvme::cap::css_nvm);
    request_ = transport::UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

std::uint16_t FakePciFunction::enable_vectors(std::uint16_t wanted)
{
    std::lock_guard l(mutex_);
    if (!vectors_.empty()) return static_cast<std::uint16_t>(vectors_.size());
    for (std::uint16_t v = 0; v < std::min(wanted, options_.msix_vectors); ++v)
        vectors_.emplace_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    return static_cast<std::uint16_t>(vectors_.size());
}

int FakePciFunction::vector_fd(std::uint16_t vector) const
{
    std::lock_guard l(mutex_);
    return vector < vectors_.size() ? vectors_[vector].get() : -1;
}

void FakePciFunction::release()
{
    std::lock_guard l(mutex_);
    released = true;
    removed = true;
}

void FakePciFunction::request_release()
{
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto w = ::write(request_.get(), &one, sizeof one);
}

void FakePciFunction::resume()
{
    std::lock_guard l(mutex_);
    stalled = false;
    for (const auto& [qid, tail] : std::exchange(ignored_tails_, {}))
        ring_sq(qid, tail);
}

void FakePciFunction::repeat_completion(std::uint16_t sqid, std::uint16_t cid)
{
    std::lock_guard l(mutex_);
    if (auto it = sqs_.find(sqid); it != sqs_.end()) post(it->second.cqid, sqid, cid, emu::Outcome{});
}

std::uint32_t FakePciFunction::read32(std::uint32_t offset)
{
    std::lock_guard l(mutex_);
    if (removed) return 0xffffffffu;
    switch (offset) {
    case nvme::reg_offset::cap: return static_cast<std::uint32_t>(cap_);
    case nvme::reg_offset::cap + 4: return static_cast<std::uint32_t>(cap_ >> 32);
    case nvme::reg_offset::vs: return nvme::make_version(1, 4, 0);
    case nvme::reg_offset::cc: return cc;
    case nvme::reg_offset::csts: return csts_;
    case nvme::reg_offset::aqa: return aqa;
    case nvme::reg_offset::asq: return static_cast<std::uint32_t>(asq);
    case nvme::reg_offset::asq + 4: return static_cast<std::uint32_t>(asq >> 32);
    case nvme::reg_offset::acq: return static_cast<std::uint32_t>(acq);
    case nvme::reg_offset::acq + 4: return static_cast<std::uint32_t>(acq >> 32);
    default: return 0;
    }
}

void FakePciFunction::write32(std::uint32_t offset, std::uint32_t value)
{
    std::lock_guard l(mutex_);
    if (removed) return;
    auto set_low = [](std::uint64_t& r, std::uint32_t v) { r = (r & ~0xffffffffull) | v; };
    auto set_high = [](std::uint64_t& r, std::uint32_t v) { r = (r & 0xffffffffull) | std::uint64_t{v} << 32; };
    switch (offset) {
    case nvme::reg_offset::cc: {
        const bool was = nvme::cc::En::get(cc);
        const auto old_shn = nvme::cc::Shn::get(cc);
        cc = value;
        if (nvme::cc::En::get(value) && !was) enable();
        if (!nvme::cc::En::get(value) && was) disable();
        if (nvme::cc::Shn::get(value) != 0 && old_shn == 0)
            csts_ = nvme::csts::Shst::set(
                csts_, static_cast<std::uint32_t>(nvme::csts::ShutdownStatus::complete));
        return;
    }
    case nvme::reg_offset::aqa: aqa = value; return;
    case nvme::reg_offset::asq: set_low(asq, value); return;
    case nvme::reg_offset::asq + 4: set_high(asq, value); return;
    case nvme::reg_offset::acq: set_low(acq, value); return;
    case nvme::reg_offset::acq + 4: set_high(acq, value); return;
    default: break;
    }
    if (offset < nvme::reg_offset::doorbells) return;
    const std::uint32_t stride = 4u << options_.dstrd;
    const std::uint32_t index = (offset - nvme::reg_offset::doorbells) / stride;
    if ((offset - nvme::reg_offset::doorbells) % stride != 0) return;
    const auto qid = static_cast<std::uint16_t>(index / 2);
    if (index % 2 == 0) {
        if (stalled)
            ignored_tails_[qid] = static_cast<std::uint16_t>(value);
        else
            ring_sq(qid, static_cast<std::uint16_t>(value));
    }
    // CQ head doorbells: the host consumed entries; the fake never lets a
    // CQ overflow (the host's depth keeps it from doing so), nothing to do.
}

void FakePciFunction::enable()
{
    // AQA: ASQS bits 11:0, ACQS bits 27:16, both 0's based.
    Queue sq{asq, static_cast<std::uint16_t>((aqa & 0xfff) + 1), 0, 0, true, 0, -1};
    Queue cq{acq, static_cast<std::uint16_t>(((aqa >> 16) & 0xfff) + 1), 0, 0, true, 0, 0};
    if (dma_.host_view(asq, sq.entries * 64u) == nullptr ||
        dma_.host_view(acq, cq.entries * 16u) == nullptr) {
        ++dma_faults;
        csts_ = nvme::csts::Cfs::set(csts_, true);
        return;
    }
    sqs_[0] = sq;
    cqs_[0] = cq;
    ++enables;
    csts_ = nvme::csts::Rdy::set(0, true);
}

void FakePciFunction::disable()
{
    ctrl_->controller_reset();
    sqs_.clear();
    cqs_.clear();
    created_sqs.clear();
    cq_vectors.clear();
    ignored_tails_.clear();
    stalled = false;
    csts_ = 0;
}

// ---------------------------------------------------------------------------
// The controller front end: fetch, PRPs, execute, post
// ---------------------------------------------------------------------------

void FakePciFunction::ring_sq(std::uint16_t qid, std::uint16_t tail)
{
    auto it = sqs_.find(qid);
    if (it == sqs_.end() || tail >= it->second.entries) return;
    while (it->second.head != tail) {
        Queue& sq = it->second;
        nvme::SubmissionQueueEntry sqe;
        std::memcpy(&sqe, dma_.host_view(sq.base, sq.entries * 64u) + sq.head * 64u, sizeof sqe);
        sq.head = static_cast<std::uint16_t>((sq.head + 1) % sq.entries);
        ++commands;
        execute(qid, sqe);
        it = sqs_.find(qid); // a Delete I/O SQ may have removed it
        if (it == sqs_.end()) return;
    }
}

std::size_t FakePciFunction::transfer_length(std::uint16_t qid,
                                             const nvme::SubmissionQueueEntry& sqe) const
{
    if (qid != 0) {
        switch (static_cast<nvme::NvmOpcode>(sqe.opc)) {
        case nvme::NvmOpcode::read:
        case nvme::NvmOpcode::write:
        case nvme::NvmOpcode::compare: {
            auto ns = ctrl_->namespaces().find(sqe.nsid);
            if (ns == ctrl_->namespaces().end()) return 0;
            const std::size_t blocks = (sqe.cdw12 & 0xffffu) + 1u;
            const std::size_t per_block =
                ns->second.lba_data_size() +
                (ns->second.extended_metadata ? ns->second.metadata_size() : 0u);
            return blocks * per_block;
        }
        case nvme::NvmOpcode::dataset_management:
            return ((sqe.cdw10 & 0xffu) + 1u) * 16u;
        default:
            return 0;
        }
    }
    switch (static_cast<nvme::AdminOpcode>(sqe.opc)) {
    case nvme::AdminOpcode::get_log_page:
        return ((std::size_t{sqe.cdw11 & 0xffffu} << 16 | (sqe.cdw10 >> 16)) + 1u) * 4u;
    case nvme::AdminOpcode::firmware_image_download:
        return (std::size_t{sqe.cdw10} + 1u) * 4u;
    default:
        // Identify, features, namespace management/attachment: one page at
        // most, within the buffer the host gave.
        return sqe.prp1 == 0 ? 0 : std::min(page, dma_.contiguous_from(
                                                     reinterpret_cast<std::byte*>(sqe.prp1)));
    }
}

bool FakePciFunction::walk_prps(const nvme::SubmissionQueueEntry& sqe, std::size_t length,
                                std::vector<std::pair<std::byte*, std::size_t>>& segments)
{
    std::uint64_t pages = 0;
    auto add = [&](std::uint64_t address, std::size_t bytes) {
        auto* p = dma_.host_view(address, bytes);
        if (p == nullptr) return false;
        segments.emplace_back(p, bytes);
        ++pages;
        return true;
    };
    const std::size_t first = std::min(length, page - sqe.prp1 % page);
    if (!add(sqe.prp1, first)) return false;
    std::size_t left = length - first;
    if (left == 0) {
        max_prp_entries = std::max(max_prp_entries, pages);
        return true;
    }
    if (left <= page) {
        if (sqe.prp2 % page != 0) return false;
        if (!add(sqe.prp2, left)) return false;
        max_prp_entries = std::max(max_prp_entries, pages);
        return true;
    }
    // A PRP list: entries are page addresses; the last entry of a list page
    // points to the next list page when more entries follow.
    std::uint64_t list = sqe.prp2;
    std::size_t index = 0;
    while (left > 0) {
        const auto* entries = reinterpret_cast<const std::uint64_t*>(dma_.host_view(list & ~(page - 1), page));
        if (entries == nullptr || list % 8 != 0) return false;
        const std::size_t at = (list % page) / 8 + index;
        std::uint64_t entry = entries[at];
        if (at == prps_per_page - 1 && left > page) { // chain
            list = entry;
            index = 0;
            ++chained_lists;
            continue;
        }
        if (entry % page != 0) return false;
        const std::size_t bytes = std::min(left, page);
        if (!add(entry, bytes)) return false;
        left -= bytes;
        ++index;
    }
    max_prp_entries = std::max(max_prp_entries, pages);
    return true;
}

emu::Outcome FakePciFunction::admin_queue_command(const nvme::SubmissionQueueEntry& sqe)
{
    emu::Outcome o;
    const auto qid = static_cast<std::uint16_t>(sqe.cdw10 & 0xffffu);
    const auto entries = static_cast<std::uint16_t>((sqe.cdw10 >> 16) + 1u);
    const auto invalid_qid = nvme::Status(nvme::CommandSpecificStatus::invalid_queue_identifier).with_dnr();
    switch (static_cast<nvme::AdminOpcode>(sqe.opc)) {
    case nvme::AdminOpcode::create_io_cq:
        if (qid == 0 || cqs_.contains(qid) || qid > ctrl_->granted_io_queues()) return {invalid_qid};
        if (dma_.host_view(sqe.prp1, entries * 16u) == nullptr) {
            ++dma_faults;
            return {nvme::Status(nvme::GenericStatus::data_transfer_error)};
        }
        // IEN (bit 1) and IV (bits 31:16) of CDW11 (NVMe Base 2.0, Figure 475).
        cqs_[qid] = Queue{sqe.prp1, entries, 0, 0, true, 0,
                          (sqe.cdw11 & 2u) != 0 ? static_cast<int>(sqe.cdw11 >> 16) : -1};
        cq_vectors[qid] = cqs_[qid].vector;
        return o;
    case nvme::AdminOpcode::create_io_sq: {
        const auto cqid = static_cast<std::uint16_t>(sqe.cdw11 >> 16);
        if (qid == 0 || sqs_.contains(qid) || !cqs_.contains(cqid)) return {invalid_qid};
        if (dma_.host_view(sqe.prp1, entries * 64u) == nullptr) {
            ++dma_faults;
            return {nvme::Status(nvme::GenericStatus::data_transfer_error)};
        }
        sqs_[qid] = Queue{sqe.prp1, entries, 0, 0, true, cqid, -1};
        created_sqs.insert(qid);
        ctrl_->note_io_queue_created(qid);
        return o;
    }
    case nvme::AdminOpcode::delete_io_sq:
        if (sqs_.erase(qid) == 0) return {invalid_qid};
        return o;
    case nvme::AdminOpcode::delete_io_cq:
        if (cqs_.erase(qid) == 0) return {invalid_qid};
        return o;
    default:
        return {nvme::Status(nvme::GenericStatus::invalid_opcode).with_dnr()};
    }
}

void FakePciFunction::execute(std::uint16_t sqid, const nvme::SubmissionQueueEntry& sqe)
{
    const std::uint16_t cqid = sqs_.at(sqid).cqid;
    using nvme::AdminOpcode;
    if (sqid == 0) {
        switch (static_cast<AdminOpcode>(sqe.opc)) {
        case AdminOpcode::create_io_cq:
        case AdminOpcode::create_io_sq:
        case AdminOpcode::delete_io_sq:
        case AdminOpcode::delete_io_cq:
            post(cqid, sqid, sqe.cid, admin_queue_command(sqe));
            return;
        default:
            break;
        }
    }
    const auto direction = nvme::data_transfer(sqe.opc);
    const std::size_t length = direction == nvme::DataTransfer::none ? 0 : transfer_length(sqid, sqe);
    std::vector<std::pair<std::byte*, std::size_t>> segments;
    const auto psdt = static_cast<nvme::Psdt>(sqe.flags >> 6);
    if (psdt != nvme::Psdt::prp && length != 0) {
        // SGLs: I/O commands of a controller that supports them (for NVMe
        // over PCIe, admin commands take PRPs).
        const nvme::Status walked =
            sqid == 0 || !options_.config.sgls
                ? nvme::Status(nvme::GenericStatus::invalid_field).with_dnr()
                : walk_sgl(sqe, length, segments);
        if (!walked.is_success()) {
            post(cqid, sqid, sqe.cid, {walked});
            return;
        }
    } else if (length != 0 && !walk_prps(sqe, length, segments)) {
        ++dma_faults;
        post(cqid, sqid, sqe.cid, {nvme::Status(nvme::GenericStatus::data_transfer_error)});
        return;
    }
    // Gather, run, scatter: the emulated controller sees one buffer.
    std::vector<std::byte> data(length);
    std::size_t at = 0;
    for (auto [p, n] : segments) {
        std::memcpy(data.data() + at, p, n);
        at += n;
    }
    std::span<std::byte> metadata;
    if (sqe.mptr != 0 && sqid != 0) {
        auto ns = ctrl_->namespaces().find(sqe.nsid);
        const std::size_t mlen =
            ns == ctrl_->namespaces().end() ? 0
                                            : ((sqe.cdw12 & 0xffffu) + 1u) * ns->second.metadata_size();
        if (auto* m = dma_.host_view(sqe.mptr, mlen)) metadata = {m, mlen};
    }
    const emu::Outcome o =
        ctrl_->execute(emu::CommandContext{sqid, sqe, direction, data, metadata});
    if (direction == nvme::DataTransfer::controller_to_host) {
        at = 0;
        for (auto [p, n] : segments) {
            std::memcpy(p, data.data() + at, n);
            at += n;
        }
    }
    if (!o.deferred) post(cqid, sqid, sqe.cid, o);
}

void FakePciFunction::post(std::uint16_t cqid, std::uint16_t sqid, std::uint16_t cid,
                           const emu::Outcome& o)
{
    auto cq_it = cqs_.find(cqid);
    if (cq_it == cqs_.end()) return;
    Queue& cq = cq_it->second;
    nvme::CompletionQueueEntry cqe{};
    cqe.dw0 = o.dw0;
    cqe.dw1 = o.dw1;
    auto sq_it = sqs_.find(sqid);
    cqe.sq_head = sq_it == sqs_.end() ? 0 : sq_it->second.head;
    cqe.sq_id = sqid;
    cqe.cid = cid;
    nvme::set_status(cqe, o.status, cq.phase);
    // The status word (the phase tag) last, as a release: the host may be
    // polling it on another thread (PcieQueue::take()).
    std::byte* entry = dma_.host_view(cq.base, cq.entries * 16u) + cq.tail * 16u;
    constexpr std::size_t status_at = offsetof(nvme::CompletionQueueEntry, status);
    std::memcpy(entry, &cqe, status_at);
    std::atomic_ref(*reinterpret_cast<std::uint16_t*>(entry + status_at))
        .store(cqe.status, std::memory_order_release);
    if (++cq.tail == cq.entries) {
        cq.tail = 0;
        cq.phase = !cq.phase;
    }
    if (cq.vector >= 0 && static_cast<std::size_t>(cq.vector) < vectors_.size()) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto w = ::write(vectors_[static_cast<std::size_t>(cq.vector)].get(), &one, sizeof one);
        ++interrupts;
    }
}

} // namespace nvmecuse::testing
