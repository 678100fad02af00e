#include "nvmecuse/cuse/device.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <type_traits>
#include <variant>

#include "nvmecuse/errno.hpp"
#include "nvmecuse/ctrlr/limits.hpp"
#include "nvmecuse/cuse/caller_memory.hpp"
#include "nvmecuse/cuse/completion.hpp"
#include "nvmecuse/cuse/fast_path.hpp"
#include "nvmecuse/cuse/path_gate.hpp"
#include "nvmecuse/cuse/retry.hpp"
#include "nvmecuse/cuse/split.hpp"

#include "session.hpp"
#include "stack_arena.hpp"

namespace nvmecuse::cuse {
namespace {

template <class... F> struct Overloaded : F... {
    using F::operator()...;
};
template <class... F> Overloaded(F...) -> Overloaded<F...>;

void answer_error(Session& s, std::uint64_t req, int e)
{
    s.counters().ioctls_answered.fetch_add(1);
    s.counters().errors.fetch_add(1, std::memory_order_relaxed);
    s.reply_error(req, e);
}

void answer_value(Session& s, std::uint64_t req, int value, std::span<const std::byte> out = {})
{
    s.counters().ioctls_answered.fetch_add(1);
    s.reply_ioctl(req, value, out);
}

/// How the result of an executed command reaches the caller.
enum class Delivery : std::uint8_t {
    fast,  ///< process_vm_writev into the caller, then an empty reply
    reply, ///< in the FUSE reply, into the out iovecs the retry named
};

/// A command's outcome in the node's counters: its data by direction
/// (also with an error status: the kernel copies whatever arrived), and an
/// NVMe error status as an error.
void count_completed(SessionCounters& c, const IoctlCommand& plan, const IoctlOutcome& outcome)
{
    if (outcome.value > 0) c.errors.fetch_add(1, std::memory_order_relaxed);
    if (plan.writes_to_caller())
        c.bytes_read.fetch_add(plan.data_len, std::memory_order_relaxed);
    else if (plan.reads_from_caller())
        c.bytes_written.fetch_add(plan.data_len, std::memory_order_relaxed);
}

/// The sampled start (LatencySampler::start()) of the ioctl this thread is
/// working on, for as long as it is in on_ioctl(); 0 outside it.
class MeasuredIoctl {
public:
    MeasuredIoctl() noexcept { current_ = LatencySampler::start(); }
    ~MeasuredIoctl() { current_ = 0; }
    MeasuredIoctl(const MeasuredIoctl&) = delete;
    MeasuredIoctl& operator=(const MeasuredIoctl&) = delete;
    [[nodiscard]] static std::uint64_t start() noexcept { return current_; }

private:
    static thread_local std::uint64_t current_;
};
thread_local std::uint64_t MeasuredIoctl::current_ = 0;

/// Completion path (controller owner thread): map, deliver, answer.
void finish(Session& s, std::uint64_t req, const IoctlCommand& plan, const ctrlr::Result& r,
            Delivery delivery, pid_t pid)
{
    // An interrupt changes nothing, as in the kernel driver, whose passthrough
    // waits uninterruptibly: a caller that caught a signal still gets the
    // command's outcome and data (an EINTR would hide a write that happened),
    // and a killed one waits in the kernel until this answer (FUSE's
    // request_wait_answer), which the controller's command timeout bounds.
    const IoctlOutcome outcome = map_completion(r, plan.result);
    if (outcome.is_errno()) return answer_error(s, req, -outcome.value);
    count_completed(s.counters(), plan, outcome);
    StackArena<4 * sizeof(UserWrite)> arena;
    const ReplyPlan reply =
        build_reply(plan, outcome, r.data.span(), r.metadata.span(), arena.resource());
    if (delivery == Delivery::fast) {
        ProcessVmMemory memory(pid);
        // The command ran: no falling back now (see fast_deliver()).
        if (fast_deliver(reply, memory)) return answer_error(s, req, EFAULT);
        s.counters().fast_path.fetch_add(1);
        return answer_value(s, req, reply.value);
    }
    const std::vector<std::byte> out = reply.flatten();
    answer_value(s, req, reply.value, out);
}

/// The largest SUBMIT_IO / I/O passthrough the session accepts and splits
/// into MDTS-sized commands (nblocks is 16 bits: 32 MiB is well inside).
constexpr std::uint64_t max_split_bytes = 32u << 20;

/// PRINFO.PRCHK bit 0 (CDW12 bit 26): the reference tag is checked, so the
/// ILBRT of each part advances with its starting LBA (NVMe NVM 1.0, 5.3).
constexpr std::uint32_t cdw12_prchk_reftag = 1u << 26;

/// Puts a read part's bytes at [off, off + len) of the whole buffer, or
/// zeroes when the part has none to give (it never completed; timed out).
void place_part(ctrlr::DataBuffer& whole, std::size_t off, std::size_t len,
                std::span<const std::byte> part) noexcept
{
    if (off >= whole.size()) return;
    len = std::min(len, whole.size() - off);
    if (part.size() >= len)
        std::memcpy(whole.data() + off, part.data(), len);
    else
        std::memset(whole.data() + off, 0, len);
}

/// The parts of a split command, combined into one Result when the last
/// completes (all on the owner thread): the first failing part, in LBA
/// order, decides the status; read data is gathered at its offsets.
struct SplitState {
    struct Part {
        std::error_code error;
        nvme::Status status{};
        std::uint32_t dw0 = 0;
        std::uint32_t dw1 = 0;
    };
    std::vector<Part> parts;
    std::size_t remaining = 0;
    ctrlr::DataBuffer data;
    ctrlr::DataBuffer metadata;
    ctrlr::CompletionHandler done;

    void complete()
    {
        ctrlr::Result r;
        r.dw0 = parts.front().dw0;
        r.dw1 = parts.front().dw1;
        for (const Part& p : parts) {
            if (!p.error && p.status.is_success()) continue;
            r.error = p.error;
            r.status = p.status;
            r.dw0 = p.dw0;
            r.dw1 = p.dw1;
            break;
        }
        r.data = std::move(data);
        r.metadata = std::move(metadata);
        done(std::move(r));
    }
};

} // namespace

std::expected<int, std::error_code> open_cuse_channel()
{
    const int fd = ::open("/dev/cuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::unexpected(last_errno());
    return fd;
}

class Device::Impl final : public SessionHandler {
public:
    /// What execute() needs to know about the node when the ioctl arrived.
    struct Bounds {
        std::optional<NamespaceShape> ns; ///< the namespace I/O is bound to
        std::uint64_t mdts = 0;           ///< bytes; 0 = no limit
    };

    Impl(ctrlr::Controller& controller, DeviceOptions options)
        : controller_(controller), options_(std::move(options))
    {
        if (!options_.credentials) options_.credentials = read_caller_credentials;
    }

    void on_ioctl(const Request& request, unsigned int cmd, std::uint64_t arg,
                  std::uint32_t flags, std::span<const std::byte> in, std::size_t out_size,
                  std::uint32_t open_flags) override
    {
        const std::uint64_t req = request.unique;
        // Read by submit_tracked() below, on this thread, if the ioctl
        // reaches the controller: sampled latency, from here to the answer.
        const MeasuredIoctl measured;
        const ctrlr::Controller::PathState path = controller_.path_state();
        if (const auto answer = path_down_answer(options_.kind, cmd, path)) {
            if (*answer < 0) return answer_error(*session_, req, -*answer);
            return answer_value(*session_, req, *answer);
        }
        const pid_t pid = request.pid;
        std::uint64_t mdts = 0;
        IoctlContext ctx = context(cmd, pid, mdts, open_for_write(open_flags));
        const Bounds bounds{ctx.node.ns, mdts};
        // A restricted ioctl brings its argument struct along and has no
        // retry protocol to fall back on. The first request of an
        // unrestricted one carries no buffers; retries do, and stay on the
        // retry protocol. The daemon reaches into the memory of root's
        // callers only (uid 0 of the initial user namespace): any other
        // caller's buffers are copied by the kernel, in the caller's own
        // context, where a buffer whose page faults it controls (an unserved
        // userfaultfd range, a mapping of its own FUSE file) stalls only
        // itself, killably, never a thread that serves others. Restricted
        // ioctls are only chosen where only root can open the node
        // (service/served_controller.cpp).
        const bool root_caller = request.uid == 0;
        if (restricted() || (options_.fast_path && root_caller && in.empty() && out_size == 0)) {
            ProcessVmMemory caller(pid);
            KernelCopiedArgument memory(arg, in, caller);
            FastStep step = fast_prepare(ctx, cmd, arg, flags, memory);
            const auto* fallback = std::get_if<Fallback>(&step);
            if (fallback == nullptr) return on_fast_step(req, pid, bounds, std::move(step));
            if (restricted())
                return answer_error(*session_, req, unreachable_caller(fallback->why, pid));
        }
        const IoctlRequest ioctl{cmd, arg, flags, in, out_size};
        on_step(req, pid, bounds, advance(ctx, ioctl), ctx);
    }

    [[nodiscard]] bool restricted() const noexcept
    {
        return options_.fast_path && options_.restricted_ioctls;
    }

    /// The errno of a restricted ioctl whose buffers process_vm_* could not
    /// reach: EFAULT for an unmapped buffer (what the kernel's own copy
    /// would report); anything else is EIO, and unless the caller is gone
    /// (an LSM's refusal), logged once.
    int unreachable_caller(std::error_code why, pid_t pid)
    {
        if (why == std::errc::bad_address) return EFAULT;
        if (why != std::errc::no_such_process && !warned_unreachable_.exchange(true))
            spdlog::warn(
                "cuse: /dev/{}: cannot access the memory of task {} ({}); such ioctls fail "
                "with EIO (nvmecused --ioctl-protocol unrestricted falls back instead)",
                options_.devname, pid, why.message());
        return EIO;
    }

    int on_open() override { return open_errno(options_.kind, controller_.path_state()); }

    void on_init_done() override
    {
        const NodePermissions& p = options_.permissions;
        if (!p.apply) return;
        const std::string path = "/dev/" + options_.devname;
        if (::chmod(path.c_str(), p.mode) != 0 || ::chown(path.c_str(), p.uid, p.gid) != 0)
            spdlog::warn("cuse: cannot set owner/mode of {}: {}", path, std::strerror(errno));
    }

    /// The node as the ioctl sees it, the limits from MDTS, and the
    /// caller's privileges (read only when the ioctl needs them).
    IoctlContext context(unsigned int cmd, pid_t pid, std::uint64_t& mdts, bool for_write) const
    {
        const auto info = controller_.info();
        IoctlContext ctx;
        ctx.open_for_write = for_write;
        ctx.node.kind = options_.kind;
        if (options_.kind == NodeKind::namespace_node) {
            if (auto it = info->namespaces.find(options_.nsid); it != info->namespaces.end())
                ctx.node.ns = NamespaceShape::from(it->second, info->id.awupf);
            if (ctx.node.ns && capacity_gone(controller_.path_state())) ctx.node.ns->size_bytes = 0;
        } else {
            ctx.node.active_namespaces = info->namespaces.size();
            if (info->namespaces.size() == 1)
                ctx.node.ns = NamespaceShape::from(info->namespaces.begin()->second, info->id.awupf);
        }
        // From the core (MDTS in CAP.MPSMIN units, clamped): a hostile MDTS
        // cannot overflow a shift
        // or make a single command allocate gigabytes.
        mdts = info->max_transfer;
        ctx.decode_limits = DecodeLimits::for_mdts(mdts);
        ctx.mdts_bytes = mdts;
        ctx.transport_fills_buffers = controller_.transport_info().fills_host_buffers;
        ctx.memory = &controller_.memory();
        ctx.rules = options_.kernel_rules;
        ctx.effects = info->effects;
        const auto route = classify(cmd, ctx.node);
        if (route && route->queue == ctrlr::QueueKind::io && mdts != 0) {
            // Reads/writes past MDTS are split (execute() refuses the rest).
            ctx.decode_limits.max_data_bytes = std::max(mdts, max_split_bytes);
            ctx.decode_limits.max_submit_io_bytes = std::max(mdts, max_split_bytes);
        }
        // 6.2+: a SUBMIT_IO write (or LBCC command) through a handle not
        // open for writing is left to CAP_SYS_ADMIN (nvme_cmd_allowed()).
        const bool submit_io_needs_check = route && route->op == IoctlOp::submit_io &&
                                           ctx.rules == KernelRules::linux_6_2 && !for_write;
        if (route && (route->needs_sys_admin || submit_io_needs_check)) {
            const auto creds = options_.credentials(pid);
            ctx.caller_has_sys_admin = creds && creds->has_sys_admin();
        }
        return ctx;
    }

    void on_fast_step(std::uint64_t req, pid_t pid, const Bounds& bounds, FastStep step)
    {
        Session& s = *session_;
        std::visit(
            Overloaded{
                [&](FastExecute& e) {
                    execute(req, pid, bounds, std::move(e.plan), std::move(e.command),
                            Delivery::fast);
                },
                [&](Control& c) { control(req, c.op); },
                [&](Reply& r) {
                    s.counters().fast_path.fetch_add(1);
                    answer_value(s, req, r.value);
                },
                [&](Error& e) { answer_error(s, req, e.errno_value); },
                [&](Fallback&) { answer_error(s, req, EIO); }, // not reached: the caller falls back
            },
            step);
    }

    void on_step(std::uint64_t req, pid_t pid, const Bounds& bounds, Step step,
                 const IoctlContext& ctx)
    {
        Session& s = *session_;
        std::visit(Overloaded{
                       [&](Retry& r) { retry(req, r); },
                       [&](Execute& e) {
                           auto command = command_for(e, ctx);
                           if (!command) return answer_error(s, req, ENOMEM);
                           execute(req, pid, bounds, std::move(e.command), std::move(*command),
                                   Delivery::reply);
                       },
                       [&](Control& c) { control(req, c.op); },
                       [&](Reply& r) { answer_value(s, req, r.value, r.out); },
                       [&](Error& e) { answer_error(s, req, e.errno_value); },
                   },
                   step);
    }

    void retry(std::uint64_t req, const Retry& r)
    {
        session_->counters().retries.fetch_add(1);
        session_->reply_retry(req, r.in, r.out);
    }

    /// Posts the command (split into MDTS-sized parts where it must be);
    /// the completion handler answers. Never blocks.
    void execute(std::uint64_t req, pid_t pid, const Bounds& bounds, IoctlCommand plan,
                 ctrlr::Command command, Delivery delivery)
    {
        if (const int e = check_transfer_size(plan, bounds.ns, bounds.mdts); e != 0)
            return answer_error(*session_, req, e);
        auto charge = budget_.charge(pid, command.data.size() + command.metadata.size());
        if (!charge) {
            over_budget_.fetch_add(1, std::memory_order_relaxed);
            return answer_error(*session_, req, EAGAIN);
        }
        std::optional<SplitShape> split;
        if (bounds.mdts != 0 && plan.data_len > bounds.mdts) split = split_shape(plan, bounds.ns);
        session_->track(req);
        try {
            submit_tracked(req, pid, bounds, split, std::move(plan), std::move(command), delivery,
                           std::move(*charge));
        } catch (const std::bad_alloc&) {
            // Tracked: whoever claims it answers (a part that completed
            // already, stop(), or this).
            if (const auto claimed = session_->claim(req)) answer_error(*session_, req, ENOMEM);
        }
    }

    void submit_tracked(std::uint64_t req, pid_t pid, const Bounds& bounds,
                        const std::optional<SplitShape>& split, IoctlCommand plan,
                        ctrlr::Command command, Delivery delivery, InflightCharge charge)
    {
        const ctrlr::QueueKind queue = plan.queue;
        auto on_completion = [session = session_, req, plan = std::move(plan), delivery, pid,
                              charge = std::move(charge),
                              start = MeasuredIoctl::start()](ctrlr::Result&& r) mutable {
            // Returned before the answer: the caller's next command may
            // come as soon as it has it.
            charge = InflightCharge{};
            const auto claimed = session->claim(req);
            if (!claimed) return; // stop() answered it already
            finish(*session, req, plan, r, delivery, pid);
            session->latency().finish(start);
        };
        static_assert(sizeof(on_completion) <= ctrlr::node_pool::block_size,
                      "an ioctl's completion state must fit a node_pool block (no allocation)");
        ctrlr::CompletionHandler done = ctrlr::pooled_handler(std::move(on_completion));
        if (!split) {
            session_->counters().commands.fetch_add(1);
            return controller_.submit(queue, std::move(command), std::move(done));
        }
        submit_split(queue, *split, bounds.mdts, std::move(command), std::move(done));
    }

    /// Posts the parts of a read/write/compare larger than MDTS together.
    void submit_split(ctrlr::QueueKind queue, const SplitShape& shape, std::uint64_t mdts,
                      ctrlr::Command command, ctrlr::CompletionHandler done)
    {
        const std::uint64_t per_part = mdts / shape.block_bytes;
        const std::size_t parts =
            static_cast<std::size_t>((shape.blocks + per_part - 1) / per_part);
        const bool reads = command.direction == nvme::DataTransfer::controller_to_host;
        auto state = std::make_shared<SplitState>();
        state->parts.resize(parts);
        state->remaining = parts;
        state->done = std::move(done);
        const bool filled = controller_.transport_info().fills_host_buffers;
        if (reads) {
            // Uninitialised: split_shape() matched the buffers to the blocks,
            // so the parts cover every byte (place_part()).
            state->data = ctrlr::DataBuffer(command.data.size());
            state->metadata = ctrlr::DataBuffer(command.metadata.size());
        }
        const std::uint64_t slba = nvme::cmd::rw::slba(command.sqe);
        for (std::size_t i = 0; i < parts; ++i) {
            const std::uint64_t first = i * per_part;
            const std::uint64_t count = std::min(per_part, shape.blocks - first);
            const std::size_t off = static_cast<std::size_t>(first * shape.block_bytes);
            const std::size_t len = static_cast<std::size_t>(count * shape.block_bytes);
            const std::size_t moff = static_cast<std::size_t>(first * shape.meta_bytes);
            const std::size_t mlen = static_cast<std::size_t>(count * shape.meta_bytes);
            ctrlr::Command part;
            part.sqe = command.sqe;
            nvme::cmd::rw::set_slba(part.sqe, slba + first);
            part.sqe.cdw12 =
                (command.sqe.cdw12 & 0xffff0000u) | static_cast<std::uint32_t>(count - 1);
            if ((command.sqe.cdw12 & cdw12_prchk_reftag) != 0)
                part.sqe.cdw14 = command.sqe.cdw14 + static_cast<std::uint32_t>(first);
            part.direction = command.direction;
            part.timeout = command.timeout;
            // Each part in device memory: the controller reads and writes
            // it directly; the whole command's buffers are the caller's side.
            transport::DeviceMemory& memory = controller_.memory();
            std::expected<ctrlr::DataBuffer, std::error_code> data{}, metadata{};
            if (reads) {
                data = transport::allocate_for_controller_data(memory, len, filled);
                metadata = transport::allocate_for_controller_data(memory, mlen, filled);
            } else {
                data = memory.allocate(len);
                metadata = memory.allocate(mlen);
                if (data && len != 0)
                    std::memcpy(data->data(), command.data.span().subspan(off, len).data(), len);
                if (metadata && mlen != 0)
                    std::memcpy(metadata->data(), command.metadata.span().subspan(moff, mlen).data(),
                                mlen);
            }
            if (!data || !metadata) { // this part fails; the others run
                state->parts[i].error = std::make_error_code(std::errc::not_enough_memory);
                if (--state->remaining == 0) state->complete();
                continue;
            }
            part.data = std::move(*data);
            part.metadata = std::move(*metadata);
            session_->counters().commands.fetch_add(1);
            controller_.submit(
                queue, std::move(part), [state, i, off, len, moff, mlen](ctrlr::Result&& r) {
                    // A part that never completed brings back buffers nobody wrote.
                    const bool completed = r.completed();
                    const std::span<std::byte> none;
                    place_part(state->data, off, len, completed ? r.data.span() : none);
                    place_part(state->metadata, moff, mlen, completed ? r.metadata.span() : none);
                    state->parts[i] = {r.error, r.status, r.dw0, r.dw1};
                    if (--state->remaining == 0) state->complete();
                });
        }
    }

    /// RESET / SUBSYS_RESET / RESCAN through the Controller (asynchronous).
    void control(std::uint64_t req, IoctlOp op)
    {
        session_->track(req);
        auto done = [session = session_, req](std::error_code ec) {
            const auto claimed = session->claim(req);
            if (!claimed) return;
            if (ec) return answer_error(*session, req, errno_of(ec));
            answer_value(*session, req, 0);
        };
        switch (op) {
        case IoctlOp::reset:
            return controller_.reset(std::move(done));
        case IoctlOp::subsystem_reset:
            // nvme_reset_subsystem(): a controller without NVM Subsystem
            // Reset is ENOTTY, never EOPNOTSUPP (CAP.NSSRS clear here).
            return controller_.subsystem_reset([done = std::move(done)](std::error_code ec) {
                if (ec == std::errc::operation_not_supported)
                    ec = std::make_error_code(std::errc::inappropriate_io_control_operation);
                done(ec);
            });
        case IoctlOp::rescan:
            return controller_.rescan(std::move(done));
        default:
            done(std::make_error_code(std::errc::inappropriate_io_control_operation));
        }
    }

    ctrlr::Controller& controller_;
    DeviceOptions options_;
    InflightBudget budget_{options_.inflight};
    std::atomic<std::uint64_t> over_budget_{0};
    std::shared_ptr<Session> session_;
    std::optional<ctrlr::Controller::WatchId> watch_; ///< served on the owner thread
    /// Served on serving threads: each reactor's watch of the channel.
    std::vector<std::pair<ctrlr::Reactor*, ctrlr::Reactor::WatchId>> reactor_watches_;
    std::atomic<bool> warned_unreachable_{false};
};

std::expected<std::unique_ptr<Device>, std::error_code>
Device::start(ctrlr::Controller& controller, DeviceOptions options, int channel)
{
    auto impl = std::make_unique<Impl>(controller, std::move(options));
    auto session = Session::create({.devname = impl->options_.devname,
                                    .reader_threads = impl->options_.reader_threads,
                                    .restricted_ioctls = impl->restricted()},
                                   channel, *impl);
    if (!session) return std::unexpected(session.error());
    impl->session_ = std::move(*session);
    if (!impl->options_.reactors.empty()) {
        impl->session_->run_external();
        for (ctrlr::Reactor* r : impl->options_.reactors) {
            auto id = r->watch(impl->session_->channel_fd(),
                               [s = impl->session_.get()] { return s->serve_ready(1) != 0; });
            if (!id) {
                Device(std::move(impl)).stop();
                return std::unexpected(id.error());
            }
            impl->reactor_watches_.emplace_back(r, *id);
        }
    } else if (impl->options_.serve_on_owner_thread) {
        impl->session_->run_external();
        // One request per readiness: the owner loop polls the channel again
        // on its next iteration (level-triggered), so reading on until
        // EAGAIN would only add a failing read(2) to every ioctl.
        impl->watch_ =
            controller.watch_fd(impl->session_->channel_fd(),
                                [s = impl->session_.get()] { return s->serve_ready(1) != 0; });
    } else {
        impl->session_->run();
    }
    return std::unique_ptr<Device>(new Device(std::move(impl)));
}

Device::Device(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Device::~Device()
{
    stop();
}

void Device::stop()
{
    if (!impl_ || !impl_->session_) return;
    if (impl_->watch_) {
        impl_->controller_.unwatch_fd(*impl_->watch_);
        impl_->watch_.reset();
    }
    for (const auto& [reactor, id] : impl_->reactor_watches_)
        reactor->unwatch(id);
    impl_->reactor_watches_.clear();
    impl_->session_->stop(ENODEV);
}

const std::string& Device::devname() const noexcept
{
    return impl_->options_.devname;
}
std::uint32_t Device::nsid() const noexcept
{
    return impl_->options_.nsid;
}

DeviceStats Device::stats() const
{
    const SessionCounters& c = impl_->session_->counters();
    DeviceStats s;
    s.fuse_requests = c.fuse_requests.load();
    s.ioctl_requests = c.ioctl_requests.load();
    s.ioctls_answered = c.ioctls_answered.load();
    s.fast_path = c.fast_path.load();
    s.retries = c.retries.load();
    s.interrupts = c.interrupts.load();
    s.commands = c.commands.load();
    s.errors = c.errors.load(std::memory_order_relaxed);
    s.bytes_read = c.bytes_read.load(std::memory_order_relaxed);
    s.bytes_written = c.bytes_written.load(std::memory_order_relaxed);
    s.in_flight = impl_->session_->in_flight();
    s.in_flight_bytes = impl_->budget_.node_bytes();
    s.over_budget = impl_->over_budget_.load(std::memory_order_relaxed);
    s.latency = impl_->session_->latency().percentiles();
    return s;
}

} // namespace nvmecuse::cuse
