// A scriptable in-test transport for ctrlr::Controller tests: answers the
// admin commands the core sends (Identify, Number of Queues, logs, Abort),
// holds AERs until the test fires them, and completes I/O immediately,
// holds it for the test to release, or never completes it.
//
// Thread safety: the transport side runs on the controller's owner thread,
// the test inspects and drives it from its own thread; one mutex covers all.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/transport.hpp"

namespace nvmecuse::testing {

struct SubmittedCommand {
    std::uint16_t qid;
    nvme::SubmissionQueueEntry sqe;
};

class FakeState {
public:
    enum class IoMode { complete, hold };

    struct HeldCommand {
        std::uint16_t cid;
        nvme::SubmissionQueueEntry sqe;
        std::span<std::byte> data;
    };

    struct Queue {
        std::uint16_t qid = 0;
        std::uint16_t depth = 0;   ///< what depth() reports
        std::uint16_t accepts = 0; ///< outstanding commands accepted before EAGAIN
        std::uint32_t outstanding = 0;
        std::deque<nvme::CompletionQueueEntry> completions;
        std::vector<HeldCommand> held;
        int efd = -1;
        bool alive = true;
        ~Queue()
        {
            if (efd >= 0) ::close(efd);
        }
    };

    // ---- configuration (set before start, or under lock()) ----------------
    std::uint16_t io_queue_depth = 64;  ///< depth of I/O queues the fake creates
    std::uint16_t io_queue_accepts = 0; ///< 0 = same as depth
    std::uint16_t max_io_queues = 4;
    std::uint16_t granted_io_queues = 2;
    std::uint8_t aerl = 3;
    std::uint8_t acl = 3;
    std::uint32_t oaes = nvme::oaes::namespace_attribute | nvme::oaes::firmware_activation;
    bool completion_fds = false; ///< queues expose an eventfd
    /// TransportInfo::concurrent_queues (the fake is under one lock anyway).
    bool concurrent_queues = false;
    IoMode io_mode = IoMode::complete;
    bool enable_fails = false; ///< CC.EN=1 sets CSTS.CFS instead of CSTS.RDY
    /// Registers (NVMe Base 2.0, 3.1.4): CAP as the fake reports it, CC as
    /// the core wrote it; CSTS.RDY follows CC.EN after `ready_delay`.
    std::uint64_t cap = 1023 | (std::uint64_t{1} << 24); ///< MQES 1024 entries, TO 500 ms
    std::uint32_t cc = 0;
    std::uint32_t version = nvme::make_version(1, 4, 0); ///< what VS reads
    std::chrono::milliseconds ready_delay{0};
    bool never_ready = false;     ///< CSTS.RDY never follows CC.EN=1
    bool shutdown_hangs = false;  ///< CSTS.SHST never reaches complete
    std::uint32_t nssr_writes = 0;
    int csts_reads = 0, connects = 0, disconnects = 0, connection_failures = 0;
    std::chrono::milliseconds keep_alive_timeout{0}; ///< TransportInfo::keep_alive_timeout
    bool hold_keep_alive = false; ///< Keep Alive is never answered
    /// Status the Abort command completes with; dw0 bit 0 = 1 "not aborted".
    nvme::Status abort_status{};
    bool abort_completes_command = false; ///< also complete the target with Abort Requested
    std::map<std::uint32_t, std::uint64_t> namespaces{{1, 1000}}; ///< nsid -> nsze (512 B blocks)
    std::vector<std::uint32_t> changed_list;
    /// The Discovery Log Page (70h): its records and GENCTR.
    std::vector<nvme::DiscoveryLogEntry> discovery_log;
    std::uint64_t discovery_genctr = 0;
    std::map<std::uint8_t, nvme::Status> admin_status; ///< status for other admin opcodes
    /// When set, sees every Identify after the default answer was written
    /// into `data` and returns the status to complete it with (the default
    /// one is passed in): a hostile device's Identify data. Runs on the
    /// owner thread under the fake's lock; it must not call back into it.
    std::function<nvme::Status(const nvme::SubmissionQueueEntry&, std::span<std::byte> data,
                               nvme::Status default_status)>
        identify_hook;

    // ---- observations -----------------------------------------------------
    std::vector<SubmittedCommand> submitted;
    int enables = 0, resets = 0, shutdowns = 0, created_io_queues = 0;

    std::unique_lock<std::mutex> lock() { return std::unique_lock(mutex_); }

    /// Commands seen with this admin opcode.
    std::vector<nvme::SubmissionQueueEntry> admin_commands(nvme::AdminOpcode opc)
    {
        auto l = lock();
        std::vector<nvme::SubmissionQueueEntry> out;
        for (const auto& c : submitted)
            if (c.qid == 0 && c.sqe.opc == static_cast<std::uint8_t>(opc)) out.push_back(c.sqe);
        return out;
    }
    std::size_t held_count(std::uint16_t qid)
    {
        auto l = lock();
        auto q = find(qid);
        return q ? q->held.size() : 0;
    }
    /// Completes held commands on `qid` (all, or the first `n`).
    std::size_t release(std::uint16_t qid, std::size_t n = SIZE_MAX, nvme::Status st = {},
                        std::uint32_t dw0 = 0)
    {
        auto l = lock();
        auto q = find(qid);
        if (!q) return 0;
        std::size_t done = 0;
        for (auto it = q->held.begin(); it != q->held.end() && done < n;) {
            // AERs are completed with fire_aer() only.
            if (qid == 0 &&
                it->sqe.opc == static_cast<std::uint8_t>(nvme::AdminOpcode::async_event_request)) {
                ++it;
                continue;
            }
            push_completion(*q, it->cid, st, dw0);
            it = q->held.erase(it);
            ++done;
        }
        return done;
    }
    /// Posts a completion for `cid` on `qid` that answers no outstanding
    /// command: a device or target that repeats an earlier CQE.
    void complete_again(std::uint16_t qid, std::uint16_t cid, nvme::Status st)
    {
        auto l = lock();
        if (auto q = find(qid)) {
            push_completion(*q, cid, st, 0);
            ++q->outstanding; // it answered nothing
        }
    }
    std::size_t outstanding_aers()
    {
        auto l = lock();
        auto q = find(0);
        if (!q) return 0;
        return static_cast<std::size_t>(
            std::count_if(q->held.begin(), q->held.end(), [](const HeldCommand& h) {
                return h.sqe.opc ==
                       static_cast<std::uint8_t>(nvme::AdminOpcode::async_event_request);
            }));
    }
    /// Completes one outstanding AER with `dw0`; false when none is outstanding.
    bool fire_aer(std::uint32_t dw0, nvme::Status st = {})
    {
        auto l = lock();
        auto q = find(0);
        if (!q) return false;
        for (auto it = q->held.begin(); it != q->held.end(); ++it) {
            if (it->sqe.opc != static_cast<std::uint8_t>(nvme::AdminOpcode::async_event_request))
                continue;
            const auto cid = it->cid;
            q->held.erase(it);
            push_completion(*q, cid, st, dw0);
            return true;
        }
        return false;
    }

    // ---- transport side (owner thread) ------------------------------------
    std::uint64_t read_register(std::uint32_t offset)
    {
        auto l = lock();
        switch (offset) {
        case nvme::reg_offset::cap: return cap;
        case nvme::reg_offset::vs: return version;
        case nvme::reg_offset::cc: return cc;
        case nvme::reg_offset::csts: {
            ++csts_reads;
            std::uint32_t v = 0;
            if (nvme::cc::En::get(cc)) {
                if (enable_fails) v = nvme::csts::Cfs::set(v, true);
                else if (!never_ready && std::chrono::steady_clock::now() >= ready_at_)
                    v = nvme::csts::Rdy::set(v, true);
            }
            if (nvme::cc::Shn::get(cc) != 0 && !shutdown_hangs)
                v = nvme::csts::Shst::set(
                    v, static_cast<std::uint32_t>(nvme::csts::ShutdownStatus::complete));
            return v;
        }
        default: return 0;
        }
    }
    void write_register(std::uint32_t offset, std::uint64_t value)
    {
        auto l = lock();
        if (offset == nvme::reg_offset::nssr) {
            if (value == nvme::nssr_reset_value) ++nssr_writes;
            return;
        }
        if (offset != nvme::reg_offset::cc) return;
        const auto v = static_cast<std::uint32_t>(value);
        const bool was = nvme::cc::En::get(cc);
        if (nvme::cc::En::get(v) && !was) {
            ++enables;
            ready_at_ = std::chrono::steady_clock::now() + ready_delay;
        }
        if (!nvme::cc::En::get(v) && was) {
            // A controller reset: I/O queues are gone, the admin queue
            // (host memory, AQA/ASQ/ACQ) stays and starts empty.
            ++resets;
            for (auto it = queues_.begin(); it != queues_.end();) {
                if (it->first == 0) {
                    it->second->completions.clear();
                    it->second->held.clear();
                    it->second->outstanding = 0;
                    ++it;
                } else {
                    it->second->alive = false;
                    it = queues_.erase(it);
                }
            }
        }
        if (nvme::cc::Shn::get(v) != 0 && nvme::cc::Shn::get(cc) == 0) ++shutdowns;
        cc = v;
    }

    std::shared_ptr<Queue> make_queue(std::uint16_t qid, std::uint16_t depth)
    {
        auto q = std::make_shared<Queue>();
        q->qid = qid;
        q->depth = depth;
        q->accepts = qid != 0 && io_queue_accepts != 0 ? io_queue_accepts : depth;
        if (completion_fds) q->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        queues_[qid] = q;
        return q;
    }
    void kill_queues()
    {
        for (auto& [qid, q] : queues_)
            q->alive = false;
        queues_.clear();
    }

    std::expected<void, std::error_code> submit(Queue& q, const transport::Request& r)
    {
        auto l = lock();
        if (!q.alive) return std::unexpected(std::make_error_code(std::errc::not_connected));
        if (q.outstanding >= q.accepts)
            return std::unexpected(std::make_error_code(std::errc::resource_unavailable_try_again));
        submitted.push_back({q.qid, r.sqe});
        ++q.outstanding;
        if (q.qid == 0) {
            admin(q, r);
        } else if (io_mode == IoMode::hold) {
            q.held.push_back({r.sqe.cid, r.sqe, r.data});
        } else {
            if (!r.data.empty() && r.direction == nvme::DataTransfer::controller_to_host)
                std::memset(r.data.data(), 0xa5, r.data.size());
            push_completion(q, r.sqe.cid, {}, 0);
        }
        return {};
    }

    std::size_t reap(Queue& q, std::span<nvme::CompletionQueueEntry> out)
    {
        auto l = lock();
        if (q.efd >= 0) {
            std::uint64_t v;
            [[maybe_unused]] auto rd = ::read(q.efd, &v, sizeof v);
        }
        std::size_t n = 0;
        while (n < out.size() && !q.completions.empty()) {
            out[n++] = q.completions.front();
            q.completions.pop_front();
        }
        return n;
    }

private:
    std::shared_ptr<Queue> find(std::uint16_t qid)
    {
        auto it = queues_.find(qid);
        return it == queues_.end() ? nullptr : it->second;
    }

    void push_completion(Queue& q, std::uint16_t cid, nvme::Status st, std::uint32_t dw0)
    {
        nvme::CompletionQueueEntry cqe{};
        cqe.cid = cid;
        cqe.dw0 = dw0;
        cqe.sq_id = q.qid;
        cqe.status = st.to_cqe_status(true);
        q.completions.push_back(cqe);
        --q.outstanding;
        if (q.efd >= 0) {
            const std::uint64_t one = 1;
            [[maybe_unused]] auto w = ::write(q.efd, &one, sizeof one);
        }
    }

    void admin(Queue& q, const transport::Request& r)
    {
        using nvme::AdminOpcode;
        const auto& s = r.sqe;
        nvme::Status st{};
        std::uint32_t dw0 = 0;
        switch (static_cast<AdminOpcode>(s.opc)) {
        case AdminOpcode::identify: {
            std::memset(r.data.data(), 0, r.data.size());
            const auto cns = static_cast<nvme::Cns>(nvme::cmd::identify::Cns::get(s));
            if (cns == nvme::Cns::controller) {
                nvme::IdentifyController id{};
                id.aerl = aerl;
                id.acl = acl;
                id.oaes = oaes;
                id.nn = 32;
                nvme::set_padded(id.mn, "fake controller");
                std::memcpy(r.data.data(), &id, sizeof id);
            } else if (cns == nvme::Cns::active_namespace_list) {
                auto* list = reinterpret_cast<std::uint32_t*>(r.data.data());
                std::size_t i = 0;
                for (const auto& [nsid, nsze] : namespaces)
                    if (nsid > s.nsid && i < 1024) list[i++] = nsid;
            } else if (cns == nvme::Cns::namespace_) {
                auto it = namespaces.find(s.nsid);
                if (it != namespaces.end()) {
                    nvme::IdentifyNamespace ns{};
                    ns.nsze = ns.ncap = it->second;
                    ns.lbaf[0].lbads = 9;
                    std::memcpy(r.data.data(), &ns, sizeof ns);
                }
            } else {
                st = nvme::GenericStatus::invalid_field;
            }
            if (identify_hook) st = identify_hook(s, r.data, st);
            break;
        }
        case AdminOpcode::set_features:
            if (nvme::cmd::features::Fid::get(s) ==
                static_cast<std::uint32_t>(nvme::FeatureId::number_of_queues)) {
                const std::uint32_t g = granted_io_queues - 1u;
                dw0 = g | (g << 16);
            }
            break;
        case AdminOpcode::get_log_page: {
            std::memset(r.data.data(), 0, r.data.size());
            if (nvme::cmd::get_log_page::Lid::get(s) ==
                static_cast<std::uint32_t>(nvme::LogPageId::changed_namespace_list)) {
                auto* list = reinterpret_cast<std::uint32_t*>(r.data.data());
                for (std::size_t i = 0; i < changed_list.size() && i < 1024; ++i)
                    list[i] = changed_list[i];
            } else if (nvme::cmd::get_log_page::Lid::get(s) ==
                       static_cast<std::uint32_t>(nvme::LogPageId::discovery)) {
                copy_discovery_log(s, r.data);
            }
            break;
        }
        case AdminOpcode::async_event_request:
            q.held.push_back({s.cid, s, r.data});
            return;
        case AdminOpcode::keep_alive:
            if (hold_keep_alive) {
                q.held.push_back({s.cid, s, r.data});
                return;
            }
            break;
        case AdminOpcode::abort: {
            st = abort_status;
            dw0 = 1; // not aborted
            if (abort_completes_command) {
                auto target = find(static_cast<std::uint16_t>(nvme::cmd::abort::Sqid::get(s)));
                const auto cid = nvme::cmd::abort::Cid::get(s);
                if (target) {
                    for (auto it = target->held.begin(); it != target->held.end(); ++it) {
                        if (it->cid != cid) continue;
                        target->held.erase(it);
                        push_completion(*target, static_cast<std::uint16_t>(cid),
                                        nvme::GenericStatus::aborted_by_request, 0);
                        dw0 = 0;
                        break;
                    }
                }
            }
            break;
        }
        default:
            if (auto it = admin_status.find(s.opc); it != admin_status.end()) st = it->second;
            break;
        }
        push_completion(q, s.cid, st, dw0);
    }

    void copy_discovery_log(const nvme::SubmissionQueueEntry& s, std::span<std::byte> out)
    {
        nvme::DiscoveryLogHeader header{};
        header.genctr = discovery_genctr;
        header.numrec = discovery_log.size();
        std::vector<std::byte> page(sizeof header +
                                    discovery_log.size() * sizeof(nvme::DiscoveryLogEntry));
        std::memcpy(page.data(), &header, sizeof header);
        if (!discovery_log.empty())
            std::memcpy(page.data() + sizeof header, discovery_log.data(),
                        discovery_log.size() * sizeof(nvme::DiscoveryLogEntry));
        const auto offset = static_cast<std::size_t>(nvme::cmd::get_log_page::lpo(s));
        if (offset < page.size())
            std::memcpy(out.data(), page.data() + offset,
                        std::min(out.size(), page.size() - offset));
    }

    std::mutex mutex_;
    std::map<std::uint16_t, std::shared_ptr<Queue>> queues_;
    std::chrono::steady_clock::time_point ready_at_{};
};

class FakeQueuePair final : public transport::QueuePair {
public:
    FakeQueuePair(std::shared_ptr<FakeState> state, std::shared_ptr<FakeState::Queue> q)
        : state_(std::move(state)), q_(std::move(q))
    {
    }
    std::expected<void, std::error_code> submit(const transport::Request& r) override
    {
        return state_->submit(*q_, r);
    }
    std::size_t reap(std::span<nvme::CompletionQueueEntry> out) override
    {
        return state_->reap(*q_, out);
    }
    std::uint16_t depth() const override { return q_->depth; }
    int completion_fd() const override { return q_->efd; }

private:
    std::shared_ptr<FakeState> state_;
    std::shared_ptr<FakeState::Queue> q_;
};

class FakeTransport final : public transport::Transport {
public:
    explicit FakeTransport(std::shared_ptr<FakeState> state) : state_(std::move(state))
    {
        info_.name = "fake";
        info_.registers = transport::RegisterAccess::direct;
        info_.max_io_queues = state_->max_io_queues;
        info_.concurrent_queues = state_->concurrent_queues;
        info_.keep_alive_timeout = state_->keep_alive_timeout;
    }
    const transport::TransportInfo& info() const override { return info_; }
    std::uint64_t read_register(std::uint32_t offset) override
    {
        return state_->read_register(offset);
    }
    void write_register(std::uint32_t offset, std::uint64_t value) override
    {
        state_->write_register(offset, value);
    }
    std::expected<void, std::error_code> connect_admin() override
    {
        std::shared_ptr<FakeState::Queue> q;
        {
            auto l = state_->lock();
            ++state_->connects;
            q = state_->make_queue(0, 32);
        }
        admin_ = std::make_unique<FakeQueuePair>(state_, std::move(q));
        return {};
    }
    transport::QueuePair& admin_queue() override { return *admin_; }
    std::expected<std::unique_ptr<transport::QueuePair>, std::error_code>
    create_io_queue(std::uint16_t qid, std::uint16_t depth) override
    {
        auto l = state_->lock();
        ++state_->created_io_queues;
        auto q = state_->make_queue(qid, std::min(depth, state_->io_queue_depth));
        return std::make_unique<FakeQueuePair>(state_, std::move(q));
    }
    void disconnect() override
    {
        auto l = state_->lock();
        ++state_->disconnects;
        state_->kill_queues();
    }
    void fail_connection() override
    {
        auto l = state_->lock();
        ++state_->connection_failures;
    }

private:
    std::shared_ptr<FakeState> state_;
    transport::TransportInfo info_;
    std::unique_ptr<FakeQueuePair> admin_;
};

} // namespace nvmecuse::testing
