// transport::Transport over an in-process EmulatedController: commands run
// synchronously inside QueuePair::submit(), their completions wait in a
// fixed ring (sized by the queue depth) until reap().
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include <algorithm>
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
        if (shared_->admin == this) shared_->admin = nullptr;
        if (qid_ != 0 && live()) shared_->live_io_qids[qid_] = false;
    }
    EmuQueuePair(const EmuQueuePair&) = delete;
    EmuQueuePair& operator=(const EmuQueuePair&) = delete;

    [[nodiscard]] std::expected<void, std::error_code> submit(const transport::Request& r) override
    {
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

class EmulatedTransport final : public transport::Transport {
public:
    explicit EmulatedTransport(std::unique_ptr<EmulatedController> ctrl)
        : shared_(std::make_shared<Shared>())
    {
        const auto& config = ctrl->config();
        info_.name = "emu";
        std::uint64_t cap = 0;
        cap = nvme::cap::Mqes::set(cap, config.max_queue_entries - 1u);
        cap = nvme::cap::Cqr::set(cap, true);
        cap = nvme::cap::To::set(cap, 15); // 7.5 s, like QEMU
        cap = nvme::cap::Css::set(cap, nvme::cap::css_nvm);
        cap = nvme::cap::Mpsmin::set(cap, 0);
        cap = nvme::cap::Mpsmax::set(cap, 4);
        info_.cap = cap;
        info_.vs = nvme::make_version(2, 0, 0);
        info_.max_io_queues = config.max_io_queues;
        info_.fills_host_buffers = true; // see EmuQueuePair::submit()
        shared_->live_io_qids.assign(std::size_t{config.max_io_queues} + 1, false);
        shared_->ctrl = std::move(ctrl);
        shared_->ctrl->set_async_sink([s = shared_.get()](std::uint16_t cid, const Outcome& o) {
            if (s->admin != nullptr) s->admin->post(cid, o);
        });
        admin_ =
            std::make_unique<EmuQueuePair>(shared_, 0, admin_queue_depth); // dead until enable()
    }
    ~EmulatedTransport() override
    {
        shared_->transport_alive = false;
        shared_->admin = nullptr;
    }
    EmulatedTransport(const EmulatedTransport&) = delete;
    EmulatedTransport& operator=(const EmulatedTransport&) = delete;

    [[nodiscard]] const transport::TransportInfo& info() const override { return info_; }

    [[nodiscard]] std::expected<void, std::error_code> enable() override
    {
        if (shared_->enabled) return {};
        shared_->enabled = true;
        admin_ = std::make_unique<EmuQueuePair>(shared_, 0, admin_queue_depth);
        shared_->admin = admin_.get();
        return {};
    }

    [[nodiscard]] transport::QueuePair& admin_queue() override { return *admin_; }

    [[nodiscard]] std::expected<std::unique_ptr<transport::QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override
    {
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

    [[nodiscard]] std::expected<void, std::error_code> reset() override
    {
        shared_->ctrl->controller_reset();
        ++shared_->generation;
        shared_->enabled = false;
        shared_->admin = nullptr;
        std::fill(shared_->live_io_qids.begin(), shared_->live_io_qids.end(), false);
        return {};
    }

    void shutdown() override
    {
        // CC.SHN: write back the volatile cache (file-backed namespaces).
        if (!shared_->enabled) return;
        nvme::SubmissionQueueEntry flush{};
        flush.opc = static_cast<std::uint8_t>(nvme::NvmOpcode::flush);
        flush.nsid = nvme::nsid_all;
        (void)shared_->ctrl->execute(CommandContext{1, flush, nvme::DataTransfer::none, {}, {}});
    }

private:
    std::shared_ptr<Shared> shared_;
    transport::TransportInfo info_;
    std::unique_ptr<EmuQueuePair> admin_;
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
