// transport::Transport over an in-process EmulatedController: commands run
// synchronously inside QueuePair::submit(), their completions wait in a
// fixed ring (sized by the queue depth) until reap(). One lock serialises
// the emulated controller: I/O queue pairs may be driven from serving
// threads while the owner thread uses the admin queue and the registers
// (TransportInfo::concurrent_queues).
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

/// Admin queue depth the transport creates (Linux NVME_AQ_DEPTH).
constexpr std::uint16_t admin_queue_depth = 32;

class EmuQueuePair;

/// State the transport and its queues share. Queues keep it alive, so a
/// queue outliving its transport only ever answers `not_connected`.
struct Shared {
    /// Guards everything here and every queue's ring: held by submit(),
    /// reap(), register writes and queue creation.
    std::mutex mutex;
    std::unique_ptr<EmulatedController> ctrl;
    std::uint64_t generation = 1; ///< bumped by every reset: older queues are dead
    bool enabled = false;
    bool transport_alive = true;
    EmuQueuePair* admin = nullptr;  ///< receives deferred (AER) completions
    std::vector<bool> live_io_qids; ///< index = qid
};

class EmuQueuePair final : public transport::QueuePair {
public:
    EmuQueuePair(std::shared_ptr<Shared> shared, std::uint16_t qid, std::uint16_t depth)
        : shared_(std::move(shared)), generation_(shared_->generation), qid_(qid), depth_(depth),
          ring_(depth)
    {
    }
    ~EmuQueuePair() override
    {
        std::lock_guard lock(shared_->mutex);
        if (shared_->admin == this) shared_->admin = nullptr;
        if (qid_ != 0 && live()) shared_->live_io_qids[qid_] = false;
    }
    EmuQueuePair(const EmuQueuePair&) = delete;
    EmuQueuePair& operator=(const EmuQueuePair&) = delete;

    [[nodiscard]] std::expected<void, std::error_code> submit(const transport::Request& r) override
    {
        std::lock_guard lock(shared_->mutex);
        if (!live()) return std::unexpected(std::make_error_code(std::errc::not_connected));
        if (outstanding_ >= depth_)
            return std::unexpected(std::make_error_code(std::errc::resource_unavailable_try_again));
        ++outstanding_;
        sq_head_ = static_cast<std::uint16_t>((sq_head_ + 1) % depth_);
        // TransportInfo::fills_host_buffers: a Read that succeeds writes its
        // buffers in full (the blocks, zeroes past them); every other
        // command that returns data starts from zeroes, as does a failed Read.
        const bool to_host = r.direction == nvme::DataTransfer::controller_to_host;
        const bool read = qid_ != 0 && r.sqe.opc == static_cast<std::uint8_t>(nvme::NvmOpcode::read);
        if (to_host && !read) zero_buffers(r);
        const Outcome o =
            shared_->ctrl->execute(CommandContext{qid_, r.sqe, r.direction, r.data, r.metadata});
        if (to_host && read && !o.status.is_success()) zero_buffers(r);
        if (!o.deferred) post(r.sqe.cid, o);
        return {};
    }

    [[nodiscard]] std::size_t reap(std::span<nvme::CompletionQueueEntry> out) override
    {
        std::lock_guard lock(shared_->mutex);
        const std::size_t n = std::min<std::size_t>(out.size(), count_);
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = ring_[head_];
            head_ = head_ + 1 == depth_ ? 0 : head_ + 1;
        }
        count_ -= n;
        outstanding_ -= static_cast<std::uint16_t>(n);
        return n;
    }

    [[nodiscard]] std::uint16_t depth() const override { return depth_; }

    /// Appends a completion (also called by the controller's async sink).
    void post(std::uint16_t cid, const Outcome& o)
    {
        if (count_ >= depth_) return; // cannot happen: every completion had a slot
        auto& e = ring_[(head_ + count_) % depth_];
        e.dw0 = o.dw0;
        e.dw1 = o.dw1;
        e.sq_head = sq_head_;
        e.sq_id = qid_;
        e.cid = cid;
        nvme::set_status(e, o.status, phase_);
        ++count_;
        if (++cq_tail_ == depth_) { // the phase tag inverts on every wrap
            cq_tail_ = 0;
            phase_ = !phase_;
        }
    }

    /// CC.EN 0→1 with this queue as the admin queue: it serves the new
    /// generation from empty (head and tail 0, as the spec resets them).
    void restart()
    {
        generation_ = shared_->generation;
        head_ = count_ = 0;
        outstanding_ = sq_head_ = cq_tail_ = 0;
        phase_ = true;
    }

    static void zero_buffers(const transport::Request& r) noexcept
    {
        std::ranges::fill(r.data, std::byte{0});
        std::ranges::fill(r.metadata, std::byte{0});
    }

    [[nodiscard]] bool live() const
    {
        return shared_->transport_alive && shared_->enabled && generation_ == shared_->generation;
    }

private:
    std::shared_ptr<Shared> shared_;
    std::uint64_t generation_;
    std::uint16_t qid_;
    std::uint16_t depth_;
    std::vector<nvme::CompletionQueueEntry> ring_;
    std::size_t head_ = 0;          ///< oldest unreaped completion
    std::size_t count_ = 0;         ///< completions waiting in the ring
    std::uint16_t outstanding_ = 0; ///< submitted and not reaped
    std::uint16_t sq_head_ = 0;
    std::uint16_t cq_tail_ = 0;
    bool phase_ = true;
};

/// The controller's registers (NVMe Base 2.0, 3.1.4) as a register file
/// with the effects the spec gives CC and NSSR writes: CC.EN 0→1 makes the
/// admin queue live and CSTS.RDY 1 at once, CC.EN 1→0 resets the
/// controller, CC.SHN writes back the volatile cache and reports
/// CSTS.SHST complete. The core drives them (ctrlr/controller_enable.cpp).
class EmulatedTransport final : public transport::Transport {
public:
    explicit EmulatedTransport(std::unique_ptr<EmulatedController> ctrl)
        : shared_(std::make_shared<Shared>())
    {
        const auto& config = ctrl->config();
        info_.name = "emu";
        info_.registers = transport::RegisterAccess::direct;
        cap_ = nvme::cap::Mqes::set(cap_, config.max_queue_entries - 1u);
        cap_ = nvme::cap::Cqr::set(cap_, true);
        cap_ = nvme::cap::To::set(cap_, 15); // 7.5 s, like QEMU
        cap_ = nvme::cap::Css::set(cap_, nvme::cap::css_nvm);
        cap_ = nvme::cap::Mpsmin::set(cap_, 0);
        cap_ = nvme::cap::Mpsmax::set(cap_, 4);
        info_.max_io_queues = config.max_io_queues;
        info_.fills_host_buffers = true; // see EmuQueuePair::submit()
        info_.concurrent_queues = true;  // Shared::mutex
        shared_->live_io_qids.assign(std::size_t{config.max_io_queues} + 1, false);
        shared_->ctrl = std::move(ctrl);
        shared_->ctrl->set_async_sink([s = shared_.get()](std::uint16_t cid, const Outcome& o) {
            if (s->admin != nullptr) s->admin->post(cid, o);
        });
        admin_ = std::make_unique<EmuQueuePair>(shared_, 0, admin_queue_depth); // dead until CC.EN
    }
    ~EmulatedTransport() override
    {
        std::lock_guard lock(shared_->mutex);
        shared_->transport_alive = false;
        shared_->admin = nullptr;
    }
    EmulatedTransport(const EmulatedTransport&) = delete;
    EmulatedTransport& operator=(const EmulatedTransport&) = delete;

    [[nodiscard]] const transport::TransportInfo& info() const override { return info_; }

    [[nodiscard]] std::uint64_t read_register(std::uint32_t offset) override
    {
        switch (offset) {
        case nvme::reg_offset::cap: return cap_;
        case nvme::reg_offset::vs: return nvme::make_version(2, 0, 0);
        case nvme::reg_offset::cc: return cc_;
        case nvme::reg_offset::csts: return csts_;
        case nvme::reg_offset::aqa: return aqa_;
        case nvme::reg_offset::asq: return asq_;
        case nvme::reg_offset::acq: return acq_;
        default: return 0; // reserved and optional registers read zero
        }
    }

    void write_register(std::uint32_t offset, std::uint64_t value) override
    {
        std::lock_guard lock(shared_->mutex);
        const auto v32 = static_cast<std::uint32_t>(value);
        switch (offset) {
        case nvme::reg_offset::cc: return write_cc(v32);
        case nvme::reg_offset::aqa: aqa_ = v32; return;
        case nvme::reg_offset::asq: asq_ = value; return;
        case nvme::reg_offset::acq: acq_ = value; return;
        default: return; // NSSR: CAP.NSSRS is 0, the write has no effect
        }
    }

    [[nodiscard]] std::expected<void, std::error_code> connect_admin() override
    {
        // In-process: the admin queue exists at once and serves from CC.EN on.
        std::unique_lock lock(shared_->mutex);
        if (!shared_->enabled) {
            lock.unlock(); // the old queue's destructor locks
            admin_ = std::make_unique<EmuQueuePair>(shared_, 0, admin_queue_depth);
        }
        return {};
    }

    [[nodiscard]] transport::QueuePair& admin_queue() override { return *admin_; }

    [[nodiscard]] std::expected<std::unique_ptr<transport::QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override
    {
        std::lock_guard lock(shared_->mutex);
        if (!shared_->enabled)
            return std::unexpected(std::make_error_code(std::errc::not_connected));
        const auto& ctrl = *shared_->ctrl;
        if (qid == 0 || qid > ctrl.granted_io_queues() || qid >= shared_->live_io_qids.size() ||
            shared_->live_io_qids[qid] || depth < 2 || depth > ctrl.config().max_queue_entries)
            return std::unexpected(std::make_error_code(std::errc::invalid_argument));
        auto q = std::make_unique<EmuQueuePair>(shared_, qid, depth);
        shared_->live_io_qids[qid] = true;
        shared_->ctrl->note_io_queue_created(qid);
        return q;
    }

    void disconnect() override
    {
        std::lock_guard lock(shared_->mutex);
        if (shared_->enabled) disable(); // an unclean teardown resets like CC.EN=0
    }

private:
    void write_cc(std::uint32_t v)
    {
        const bool was_enabled = nvme::cc::En::get(cc_);
        const auto old_shn = nvme::cc::Shn::get(cc_);
        cc_ = v;
        if (nvme::cc::En::get(v) && !was_enabled) enable();
        if (!nvme::cc::En::get(v) && was_enabled) disable();
        const auto shn = nvme::cc::Shn::get(v);
        if (shn != 0 && old_shn == 0 && shared_->enabled) {
            // Shutdown notification: write back the volatile cache
            // (file-backed namespaces), then report the shutdown complete.
            nvme::SubmissionQueueEntry flush{};
            flush.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::flush);
            flush.nsid = nvme::nsid_all;
            (void)shared_->ctrl->execute(CommandContext{1, flush, nvme::DataTransfer::none, {}, {}});
            csts_ = nvme::csts::Shst::set(
                csts_, static_cast<std::uint32_t>(nvme::csts::ShutdownStatus::complete));
        }
        if (shn == 0)
            csts_ = nvme::csts::Shst::set(
                csts_, static_cast<std::uint32_t>(nvme::csts::ShutdownStatus::normal));
    }

    void enable()
    {
        // The queue connect_admin() made goes live, from empty.
        shared_->enabled = true;
        admin_->restart();
        shared_->admin = admin_.get();
        csts_ = nvme::csts::Rdy::set(csts_, true);
    }

    void disable()
    {
        shared_->ctrl->controller_reset();
        ++shared_->generation;
        shared_->enabled = false;
        shared_->admin = nullptr;
        std::fill(shared_->live_io_qids.begin(), shared_->live_io_qids.end(), false);
        cc_ = nvme::cc::En::set(cc_, false);
        csts_ = 0; // not ready; a shutdown reported before is over

    }

    std::shared_ptr<Shared> shared_;
    transport::TransportInfo info_;
    std::unique_ptr<EmuQueuePair> admin_;
    std::uint64_t cap_ = 0;
    std::uint32_t cc_ = 0;
    std::uint32_t csts_ = 0;
    std::uint32_t aqa_ = 0;
    std::uint64_t asq_ = 0;
    std::uint64_t acq_ = 0;
};

} // namespace

std::expected<std::unique_ptr<transport::Transport>, std::error_code>
make_transport(ControllerConfig config)
{
    auto ctrl = EmulatedController::create(std::move(config));
    if (!ctrl) return std::unexpected(ctrl.error());
    return std::make_unique<EmulatedTransport>(std::move(*ctrl));
}

} // namespace nvmecuse::emu
