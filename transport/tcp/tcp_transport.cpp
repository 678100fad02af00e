// The NVMe/TCP host's Transport and connect(): admin queue connection,
// Fabrics Connect, I/O queue connections (NVMe Base 2.0, 3.5.2 "Controller
// Initialization (Fabrics)", 6.3). CC/CSTS (through Property Get/Set) and
// Keep Alive are the core's (ctrlr/controller_enable.cpp). See tcp_controller.hpp.
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>

#include "nvmecuse/errno.hpp"
#include "nvmecuse/spec/fabrics.hpp"

#include "fabrics_commands.hpp"
#include "log.hpp"
#include "tcp_controller.hpp"

namespace nvmecuse::transport::tcp {

namespace {

std::unexpected<std::error_code> fail(std::errc e) noexcept
{
    return std::unexpected(std::make_error_code(e));
}

/// Wraps an I/O queue for the core: keeps it registered in its association
/// while it lives.
class IoQueue final : public QueuePair {
public:
    IoQueue(std::unique_ptr<TcpQueue> q, std::shared_ptr<Association> a)
        : queue_(std::move(q)), association_(std::move(a))
    {
        association_->add(*queue_, association_);
    }
    ~IoQueue() override { association_->remove(queue_.get()); }
    IoQueue(const IoQueue&) = delete;
    IoQueue& operator=(const IoQueue&) = delete;

    [[nodiscard]] std::expected<void, std::error_code> submit(const Request& r) override
    {
        return queue_->submit(r);
    }
    [[nodiscard]] std::size_t reap(std::span<nvme::CompletionQueueEntry> out) override
    {
        return queue_->reap(out);
    }
    [[nodiscard]] std::uint16_t depth() const override { return queue_->depth(); }
    [[nodiscard]] int completion_fd() const override { return queue_->completion_fd(); }

private:
    std::unique_ptr<TcpQueue> queue_;
    std::shared_ptr<Association> association_;
};

std::string status_text(const nvme::CompletionQueueEntry& c)
{
    return std::string(nvme::to_string(nvme::status_of(c)));
}

} // namespace

// ---------------------------------------------------------------------------
// Association
// ---------------------------------------------------------------------------

void Association::fail(std::error_code reason)
{
    if (failed.exchange(true)) return;
    if (reason != std::errc::operation_canceled) {
        lost = true;
        const std::uint64_t one = 1;
        if (lost_fd >= 0) {
            [[maybe_unused]] const auto r = ::write(lost_fd, &one, sizeof one);
        }
    }
    std::lock_guard lock(mutex);
    const auto all = queues; // drop() calls back into remove()/fail()
    for (TcpQueue* q : all)
        q->drop(reason);
}

void Association::add(TcpQueue& q, const std::shared_ptr<Association>& self)
{
    {
        std::lock_guard lock(mutex);
        queues.push_back(&q);
    }
    q.on_failure([weak = std::weak_ptr<Association>(self)](std::error_code reason) {
        if (auto a = weak.lock()) a->fail(reason);
    });
    if (failed) q.drop(std::make_error_code(std::errc::not_connected));
}

void Association::remove(const TcpQueue* q)
{
    std::lock_guard lock(mutex);
    std::erase(queues, q);
}

namespace {

/// The host identifier and Host NQN a connection uses: the transport ID's
/// own fields, then the options', then the process's; empty when the
/// transport ID's hostid does not parse.
std::optional<std::pair<std::array<std::uint8_t, 16>, std::string>>
host_identity(const TransportId& id, const TcpOptions& options)
{
    std::array<std::uint8_t, 16> hostid = options.hostid;
    if (!id.hostid.empty()) {
        auto parsed = parse_host_id(id.hostid);
        if (!parsed) return std::nullopt;
        hostid = *parsed;
    }
    if (hostid == std::array<std::uint8_t, 16>{}) hostid = process_host_id();
    std::string hostnqn = !id.hostnqn.empty()        ? id.hostnqn
                          : !options.hostnqn.empty() ? options.hostnqn
                                                     : host_nqn_of(hostid);
    return std::pair{hostid, std::move(hostnqn)};
}

} // namespace

std::string effective_host_nqn(const TransportId& id, const TcpOptions& options)
{
    auto identity = host_identity(id, options);
    return identity ? std::move(identity->second) : std::string();
}

// ---------------------------------------------------------------------------
// TcpController
// ---------------------------------------------------------------------------

std::expected<std::unique_ptr<TcpController>, std::error_code>
TcpController::create(const TransportId& id, const TcpOptions& options)
{
    if (id.trtype != "tcp" || id.traddr.empty()) return fail(std::errc::invalid_argument);
    std::unique_ptr<TcpController> t(new TcpController());
    t->id_ = id;
    t->options_ = options;
    const bool discovery = id.subnqn.empty() || id.subnqn == discovery_nqn;
    const std::string port = !id.trsvcid.empty() ? id.trsvcid : discovery ? "8009" : "4420";
    auto address = resolve(id.traddr, port, id.adrfam);
    if (!address) return std::unexpected(address.error());
    t->address_ = *address;
    t->subnqn_ = id.subnqn.empty() ? std::string(discovery_nqn) : id.subnqn;
    auto identity = host_identity(id, options);
    if (!identity) return fail(std::errc::invalid_argument);
    std::tie(t->hostid_, t->hostnqn_) = std::move(*identity);
    if (t->subnqn_.size() > 223 || t->hostnqn_.size() > 223)
        return fail(std::errc::invalid_argument);
    for (auto [text, key, option] :
         {std::tuple{&options.dhchap_secret, &t->dhchap_.host, "dhchap_secret"},
          std::tuple{&options.dhchap_ctrl_secret, &t->dhchap_.controller, "dhchap_ctrl_secret"}}) {
        if (text->empty()) continue;
        auto parsed = dhchap::parse_secret(*text);
        if (!parsed) {
            log().error("{}: {}: {}", id.traddr, option, parsed.error());
            return fail(std::errc::invalid_argument);
        }
        *key = std::move(*parsed);
    }
    if (!t->dhchap_.controller.empty() && t->dhchap_.host.empty()) {
        log().error("{}: dhchap_ctrl_secret needs dhchap_secret too", id.traddr);
        return fail(std::errc::invalid_argument);
    }
    t->info_.name = "tcp " + t->address_.to_string() + " " + t->subnqn_;
    t->info_.registers = RegisterAccess::fabrics_property;
    t->info_.max_io_queues = options.io_queues;
    t->info_.keep_alive_timeout = options.kato;
    t->info_.fills_host_buffers = true; // TcpQueue::Inflight::zero_unreceived()
    t->info_.concurrent_queues = true;  // TcpQueue's lock, Association
    t->lost_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!t->lost_.valid()) return std::unexpected(last_errno());
    t->new_association();
    return t;
}

void TcpController::new_association()
{
    association_ = std::make_shared<Association>();
    association_->lost_fd = lost_.get();
}

TcpController::~TcpController()
{
    association_->fail(std::make_error_code(std::errc::operation_canceled));
}

std::expected<void, std::error_code> TcpController::connect_queue(TcpQueue& q, std::uint16_t qid,
                                                                  std::uint16_t sqsize)
{
    ConnectParams p;
    p.qid = qid;
    p.sqsize = sqsize;
    p.kato_ms = qid == 0 ? static_cast<std::uint32_t>(options_.kato.count()) : 0;
    p.cntlid = qid == 0 ? nvme::fabrics::cntlid_dynamic : cntlid_;
    p.hostid = hostid_;
    p.subnqn = subnqn_;
    p.hostnqn = hostnqn_;
    auto data = connect_data(p);
    auto cqe = q.execute(connect_command(p), nvme::DataTransfer::host_to_controller,
                         std::as_writable_bytes(std::span(&data, 1)), command_deadline());
    if (!cqe) return std::unexpected(cqe.error());
    if (const nvme::Status st = nvme::status_of(*cqe); !st.is_success()) {
        log().error("{}: Connect of qid {} refused: {} (dw0 {:#x})", info_.name, qid,
                    status_text(*cqe), cqe->dw0);
        // With DNR (a wrong subsystem NQN, a host the target does not
        // allow) trying again cannot help: EIO, what the kernel's
        // `nvme connect` fails with then (nvme_tcp_create_ctrl() turns the
        // NVMe status into -EIO), and the kernel does not reconnect either
        // (nvmf_should_reconnect()). Without DNR the target may take the
        // host later: like a closed port.
        return fail(st.dnr ? std::errc::io_error : std::errc::connection_refused);
    }
    if (qid == 0)
        cntlid_ =
            static_cast<std::uint16_t>(nvme::fabrics::connect_response::Cntlid::get(cqe->dw0));
    const auto authreq = nvme::fabrics::connect_response::Authreq::get(cqe->dw0);
    if ((authreq & nvme::fabrics::authreq_ascr) != 0) {
        log().error("{}: the controller requires secure channel concatenation (TLS), which is "
                    "not supported",
                    info_.name);
        return fail(std::errc::operation_not_supported);
    }
    if ((authreq & nvme::fabrics::authreq_atr) != 0)
        return authenticate(q, dhchap_, {hostnqn_, subnqn_, info_.name}, auth_transaction_++,
                            command_deadline());
    return {};
}

std::expected<void, std::error_code> TcpController::connect_admin()
{
    // Connected already (connect() does it eagerly, so that an unreachable
    // target is an error before the core starts): keep that association.
    if (admin_ && admin_->ready() && !association_->failed) return {};
    association_->fail(std::make_error_code(std::errc::operation_canceled));
    new_association();
    QueueConfig qc;
    qc.qid = 0;
    qc.depth = admin_core_depth;
    qc.digests = {options_.header_digest, options_.data_digest};
    qc.in_capsule_limit = 8192; // the admin capsule is 8 KiB + 64 (TCP 1.0, 3.1)
    qc.name = info_.name + " q0";
    auto q = TcpQueue::open(address_, qc, Clock::now() + options_.connect_timeout);
    if (!q) {
        log().error("{}: connecting the admin queue: {}", info_.name, q.error().message());
        return std::unexpected(q.error());
    }
    if (auto r = connect_queue(**q, 0, admin_sqsize); !r) return r;
    admin_ = std::move(*q);
    association_->add(*admin_, association_);
    io_in_capsule_ = 0;
    log().info("{}: admin queue connected, cntlid {}", info_.name, cntlid_);
    return {};
}

void TcpController::controller_identified(const nvme::IdentifyController& ctrl)
{
    // IOCCSZ (Identify Controller, 16-byte units, the 64-byte SQE included)
    // bounds in-capsule data on I/O queues (NVMe Base 2.0, Figure 275).
    const std::uint64_t capsule = std::uint64_t{ctrl.ioccsz} * 16;
    io_in_capsule_ = 0;
    if (capsule > sizeof(nvme::SubmissionQueueEntry))
        io_in_capsule_ = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(capsule - sizeof(nvme::SubmissionQueueEntry), 1u << 20));
}

void TcpController::handle_event()
{
    std::uint64_t count = 0;
    [[maybe_unused]] const auto lost = ::read(lost_.get(), &count, sizeof count);
}

void TcpController::fail_connection()
{
    if (admin_) admin_->drop(std::make_error_code(std::errc::timed_out));
}

std::expected<std::unique_ptr<QueuePair>, std::error_code>
TcpController::create_io_queue(std::uint16_t qid, std::uint16_t depth)
{
    if (!admin_ || !admin_->ready() || association_->failed) return fail(std::errc::not_connected);
    if (qid == 0 || qid > options_.io_queues) return fail(std::errc::invalid_argument);
    const auto d = std::min<std::uint16_t>({depth, options_.queue_size, max_io_queue_depth});
    if (d < 2) return fail(std::errc::invalid_argument);
    QueueConfig qc;
    qc.qid = qid;
    qc.depth = d;
    qc.digests = {options_.header_digest, options_.data_digest};
    qc.in_capsule_limit = io_in_capsule_;
    qc.name = info_.name + " q" + std::to_string(qid);
    auto q = TcpQueue::open(address_, qc, command_deadline());
    if (!q) {
        log().error("{}: connecting I/O queue {}: {}", info_.name, qid, q.error().message());
        return std::unexpected(q.error());
    }
    // Linux sets SQSIZE to queue_size - 1 and uses all queue_size entries.
    if (auto r = connect_queue(**q, qid, static_cast<std::uint16_t>(d - 1)); !r)
        return std::unexpected(r.error());
    return std::make_unique<IoQueue>(std::move(*q), association_);
}

void TcpController::disconnect()
{
    association_->fail(std::make_error_code(std::errc::operation_canceled));
    new_association();
}

std::expected<void, std::string> check_dhchap_secret(std::string_view text)
{
    auto parsed = dhchap::parse_secret(text);
    if (!parsed) return std::unexpected(parsed.error());
    return {};
}

// ---------------------------------------------------------------------------
// connect()
// ---------------------------------------------------------------------------

std::expected<std::unique_ptr<Transport>, std::error_code> connect(const TransportId& id,
                                                                   const TcpOptions& options)
{
    auto t = TcpController::create(id, options);
    if (!t) return std::unexpected(t.error());
    if (auto r = (*t)->connect_admin(); !r) return std::unexpected(r.error());
    return std::unique_ptr<Transport>(std::move(*t));
}

} // namespace nvmecuse::transport::tcp
