// ctrlr::Controller over the NVMe/TCP host against the in-test target, end
// to end: start() (enable, Identify, Number of Queues, I/O queue
// connections, namespace scan, AERs, Keep Alive), admin and I/O commands
// with verified data (4 KiB in-capsule, 1 MiB through R2T), many commands
// in flight, reset, and the shutdown notification on destruction.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "nvmecuse/spec/status.hpp"

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/discovery.hpp"
#include "nvmecuse/ctrlr/reactor.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "lane_writer.hpp"
#include "nvm_command.hpp"
#include "tcp_test_target.hpp"

namespace {

using namespace std::chrono_literals;
using nvmecuse::ctrlr::Command;
using nvmecuse::ctrlr::Controller;
using nvmecuse::ctrlr::QueueKind;
using nvmecuse::ctrlr::Result;
using nvmecuse::transport::DataBuffer;
using tcp_test::TestTarget;

std::vector<std::byte> pattern(std::size_t n, unsigned seed)
{
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::byte>((i * 13 + seed * 101 + (i >> 12)) & 0xff);
    return v;
}

Command rw(nvme::NvmOpcode opc, std::uint64_t slba, DataBuffer data)
{
    return nvmecuse::testing::read_write(opc, slba, std::move(data));
}

struct TcpControllerTest : ::testing::Test {
    std::unique_ptr<TestTarget> target = std::make_unique<TestTarget>();
    std::unique_ptr<Controller> ctrl;

    void SetUp() override { start({}); }

    /// Connects and starts the controller with `co` (name, queues filled in).
    std::chrono::milliseconds connect_timeout = 2s; ///< TcpOptions::connect_timeout

    std::uint16_t transport_io_queues = 2; ///< TcpOptions::io_queues

    void start(Controller::Options co)
    {
        nvmecuse::transport::TransportId id;
        id.trtype = "tcp";
        id.traddr = "127.0.0.1";
        id.trsvcid = target->port_string();
        id.subnqn = "nqn.2026-11.io.nvmecuse:test";
        nvmecuse::transport::tcp::TcpOptions o;
        o.connect_timeout = connect_timeout;
        o.kato = 1s;
        o.io_queues = transport_io_queues;
        o.queue_size = 64;
        o.header_digest = true;
        o.data_digest = true;
        auto t = nvmecuse::transport::tcp::connect(id, o);
        ASSERT_TRUE(t.has_value()) << t.error().message();
        co.name = "tcptest";
        co.io_queues = 2;
        co.io_queue_depth = 64;
        auto c = Controller::start(std::move(*t), co);
        ASSERT_TRUE(c.has_value()) << c.error().message();
        ctrl = std::move(*c);
    }
    void TearDown() override
    {
        ctrl.reset();
        target.reset();
    }

    void write_then_read(std::uint64_t slba, std::size_t bytes, unsigned seed)
    {
        const auto out = pattern(bytes, seed);
        auto w = ctrl->execute(QueueKind::io,
                               rw(nvme::NvmOpcode::write, slba, DataBuffer::copy_of(out)));
        ASSERT_TRUE(w.ok()) << w.error.message() << " " << nvme::to_string(w.status);
        EXPECT_EQ(target->read_namespace(slba * 512, bytes), out);
        auto r = ctrl->execute(QueueKind::io, rw(nvme::NvmOpcode::read, slba, DataBuffer(bytes)));
        ASSERT_TRUE(r.ok()) << r.error.message() << " " << nvme::to_string(r.status);
        ASSERT_EQ(r.data.size(), bytes);
        EXPECT_TRUE(std::equal(out.begin(), out.end(), r.data.data()));
    }
};

TEST_F(TcpControllerTest, StartIdentifiesTheControllerAndItsNamespace)
{
    const auto info = ctrl->info();
    EXPECT_EQ(std::string(nvme::trimmed(info->id.sn)), "TCPTEST1");
    ASSERT_EQ(info->namespaces.size(), 1u);
    EXPECT_EQ(info->namespaces.begin()->first, 1u);
    EXPECT_EQ(target->io_connects.load(), 2); // granted 4, asked for 2
    EXPECT_EQ(target->io_sqsize.load(), 63u);
    EXPECT_TRUE(target->header_digest_used.load());
    EXPECT_TRUE(target->data_digest_used.load());
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::identify);
    nvme::cmd::identify::Cns::set(s, 1);
    auto r = ctrl->execute(QueueKind::admin, Command::from_opcode(s, DataBuffer::zeroed(4096)));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.data.as<nvme::IdentifyController>().cntlid, 1);
}

TEST_F(TcpControllerTest, FourKibAndOneMibWritesReadBackIdentical)
{
    write_then_read(0, 4096, 1);    // in-capsule (IOCCSZ allows 4 KiB)
    write_then_read(8, 1 << 20, 2); // R2T + 128 H2CData PDUs
    write_then_read(4096, 512, 3);
    EXPECT_EQ(target->in_capsule_writes.load(), 2);
    EXPECT_EQ(target->r2t_writes.load(), 1);
}

TEST_F(TcpControllerTest, ManyConcurrentCommandsOnTwoQueues)
{
    const auto image = pattern(2 << 20, 4);
    target->fill_namespace(0, image);
    std::vector<std::future<Result>> results;
    std::vector<std::uint64_t> slbas;
    for (int i = 0; i < 200; ++i) {
        const std::uint64_t slba = static_cast<std::uint64_t>(i * 37 % 4000);
        slbas.push_back(slba);
        auto p = std::make_shared<std::promise<Result>>();
        results.push_back(p->get_future());
        ctrl->submit(QueueKind::io, rw(nvme::NvmOpcode::read, slba, DataBuffer(8192)),
                     [p](Result&& r) { p->set_value(std::move(r)); });
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
        ASSERT_EQ(results[i].wait_for(10s), std::future_status::ready);
        Result r = results[i].get();
        ASSERT_TRUE(r.ok()) << i;
        EXPECT_TRUE(std::equal(r.data.data(), r.data.data() + 8192,
                               image.begin() + static_cast<std::ptrdiff_t>(slbas[i] * 512)))
            << "command " << i;
    }
}

TEST_F(TcpControllerTest, EnabledThroughPropertySetAsTheSpecSays)
{
    const std::uint32_t cc = target->cc.load();
    EXPECT_TRUE(nvme::cc::En::get(cc));
    EXPECT_EQ(nvme::cc::Iosqes::get(cc), 6u);
    EXPECT_EQ(nvme::cc::Iocqes::get(cc), 4u);
    EXPECT_EQ(nvme::cc::Mps::get(cc), 0u);
}

TEST_F(TcpControllerTest, KeepAliveFlowsWhileIdle)
{
    std::this_thread::sleep_for(1200ms);
    EXPECT_GE(target->keep_alives.load(), 2);
}

TEST_F(TcpControllerTest, ResetReconnectsAndIoWorksAfterwards)
{
    std::promise<std::error_code> done;
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(f.get());
    EXPECT_EQ(target->admin_connects.load(), 2);
    write_then_read(100, 64 * 1024, 5);
}

TEST_F(TcpControllerTest, DestructionSendsTheShutdownNotification)
{
    ctrl.reset();
    EXPECT_TRUE(target->shutdown_seen.load());
}

// ---- connection loss and reconnect (Linux nvme-fabrics semantics) --------

struct TcpReconnectTest : TcpControllerTest {
    void SetUp() override {} // each test starts with its own recovery options

    static Controller::Options recovery(std::chrono::milliseconds fast_io_fail,
                                        std::chrono::milliseconds ctrl_loss)
    {
        Controller::Options co;
        co.reconnect_delay = 200ms;
        co.fast_io_fail_tmo = fast_io_fail;
        co.ctrl_loss_tmo = ctrl_loss;
        return co;
    }

    std::future<Result> submit_read(std::uint64_t slba, std::size_t bytes)
    {
        auto p = std::make_shared<std::promise<Result>>();
        auto f = p->get_future();
        ctrl->submit(QueueKind::io, rw(nvme::NvmOpcode::read, slba, DataBuffer(bytes)),
                     [p](Result&& r) { p->set_value(std::move(r)); });
        return f;
    }

    /// A reconnect attempt met the refusing target: the loss was handled
    /// (a command submitted now is not in flight on the dead connection).
    bool wait_for_refused_attempt()
    {
        for (int i = 0; i < 2000 && target->refused.load() == 0; ++i)
            std::this_thread::sleep_for(10ms);
        return target->refused.load() > 0;
    }

    /// Reads until one succeeds (the controller is live again), at most `bound`.
    bool read_succeeds_within(std::chrono::seconds bound)
    {
        const auto end = std::chrono::steady_clock::now() + bound;
        while (std::chrono::steady_clock::now() < end) {
            auto f = submit_read(0, 4096);
            if (f.wait_for(bound) != std::future_status::ready) return false;
            if (f.get().ok()) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
};

TEST_F(TcpReconnectTest, InFlightIsAbortedByHostNewCommandsFailAtOnceThenReconnects)
{
    start(recovery(-1ms, 60s));
    if (HasFatalFailure()) return;
    EXPECT_EQ(ctrl->path_state(), Controller::PathState::live);
    // A 1 MiB write the target holds (300 ms stall after its R2T) is in
    // flight when every connection drops.
    const auto image = pattern(1 << 20, 7);
    target->inject(tcp_test::Fault::stall_after_r2t);
    auto p = std::make_shared<std::promise<Result>>();
    auto inflight = p->get_future();
    ctrl->submit(QueueKind::io, rw(nvme::NvmOpcode::write, 64, DataBuffer::copy_of(image)),
                 [p](Result&& r) { p->set_value(std::move(r)); });
    for (int i = 0; i < 1000 && target->r2t_writes.load() == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_EQ(target->r2t_writes.load(), 1);
    target->refuse_connections(true);
    target->drop_connections();
    ASSERT_EQ(inflight.wait_for(10s), std::future_status::ready);
    const Result failed = inflight.get();
    EXPECT_FALSE(failed.ok());
    // Linux cancels it (nvme_cancel_request()); the CUSE layer reports EINTR.
    EXPECT_TRUE(failed.status.same_code(nvme::PathStatus::command_aborted_by_host))
        << failed.error.message() << " " << nvme::to_string(failed.status);
    ASSERT_TRUE(wait_for_refused_attempt());
    EXPECT_EQ(ctrl->path_state(), Controller::PathState::reconnecting);

    // New commands, I/O and admin, fail at once with a host path error
    // (passthrough is REQ_FAILFAST_DRIVER in Linux), fast_io_fail_tmo off.
    const auto t0 = std::chrono::steady_clock::now();
    auto read = submit_read(8, 4096);
    auto admin = std::make_shared<std::promise<Result>>();
    auto identify = admin->get_future();
    nvme::SubmissionQueueEntry id{};
    id.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::identify);
    id.cdw10 = 1;
    ctrl->submit(QueueKind::admin, Command::from_opcode(id, DataBuffer(4096)),
                 [admin](Result&& r) { admin->set_value(std::move(r)); });
    ASSERT_EQ(read.wait_for(1s), std::future_status::ready);
    ASSERT_EQ(identify.wait_for(1s), std::future_status::ready);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    const Result r1 = read.get();
    const Result r2 = identify.get();
    EXPECT_FALSE(r1.error);
    EXPECT_TRUE(r1.status.same_code(nvme::PathStatus::host_pathing_error)) << nvme::to_string(r1.status);
    EXPECT_FALSE(r2.error);
    EXPECT_TRUE(r2.status.same_code(nvme::PathStatus::host_pathing_error)) << nvme::to_string(r2.status);
    const int admin_connects_before = target->admin_connects.load();

    const auto before = pattern(4096, 8);
    target->fill_namespace(8 * 512, before);
    target->refuse_connections(false);
    EXPECT_TRUE(read_succeeds_within(20s));
    EXPECT_EQ(ctrl->path_state(), Controller::PathState::live);
    Result r = submit_read(8, 4096).get();
    ASSERT_TRUE(r.ok()) << r.error.message() << " " << nvme::to_string(r.status);
    EXPECT_TRUE(std::equal(before.begin(), before.end(), r.data.data()));
    EXPECT_EQ(target->admin_connects.load(), admin_connects_before + 1);
    EXPECT_EQ(target->io_connects.load(), 4); // both I/O queues again
    // Works as before: data written now reads back intact.
    write_then_read(64, 1 << 20, 9);
    write_then_read(2000, 4096, 10);
}

TEST_F(TcpReconnectTest, FastIoFailTmoChangesNothingForPassthrough)
{
    // As in Linux, where fast_io_fail_tmo holds block I/O only: a command
    // fails at once before the timeout as after it.
    start(recovery(2s, 60s));
    if (HasFatalFailure()) return;
    target->refuse_connections(true);
    target->drop_connections();
    ASSERT_TRUE(wait_for_refused_attempt());
    for (int i = 0; i < 2; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto f = submit_read(0, 4096);
        ASSERT_EQ(f.wait_for(1s), std::future_status::ready);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
        EXPECT_TRUE(f.get().status.same_code(nvme::PathStatus::host_pathing_error));
        if (i == 0) std::this_thread::sleep_for(2s); // past fast_io_fail_tmo
    }
    target->refuse_connections(false);
    EXPECT_TRUE(read_succeeds_within(20s));
    write_then_read(300, 8192, 11);
}

TEST_F(TcpReconnectTest, CtrlLossTmoGivesUpAndAResetRecovers)
{
    start(recovery(-1ms, 1s));
    if (HasFatalFailure()) return;
    target->refuse_connections(true);
    target->drop_connections();
    ASSERT_TRUE(wait_for_refused_attempt());
    for (int i = 0; i < 300 && ctrl->path_state() != Controller::PathState::lost; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_EQ(ctrl->path_state(), Controller::PathState::lost);
    auto next = submit_read(0, 4096);
    ASSERT_EQ(next.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(next.get().error, std::errc::not_connected);
    const int refused = target->refused.load();
    EXPECT_GE(refused, 1);
    std::this_thread::sleep_for(600ms); // no more attempts after giving up
    EXPECT_EQ(target->refused.load(), refused);
    // Failed, not gone: an explicit reset reconnects.
    target->refuse_connections(false);
    std::promise<std::error_code> done;
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    EXPECT_FALSE(f.get());
    EXPECT_EQ(ctrl->path_state(), Controller::PathState::live);
    write_then_read(500, 4096, 12);
}

TEST_F(TcpReconnectTest, KeepAliveTimeoutIsALossToo)
{
    start(recovery(-1ms, 60s));
    if (HasFatalFailure()) return;
    const int admin_connects = target->admin_connects.load();
    target->inject(tcp_test::Fault::ignore_keep_alive); // KATO 1 s
    for (int i = 0; i < 2000 && target->admin_connects.load() == admin_connects; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_GT(target->admin_connects.load(), admin_connects);
    target->inject(tcp_test::Fault::none);
    EXPECT_TRUE(read_succeeds_within(20s));
}

// A reconnect attempt's connect runs off the owner loop: while the host
// waits for a target that accepted and never answers, the controller's
// loop keeps serving: its watched fds (the CUSE nodes) and its commands.
TEST_F(TcpReconnectTest, AHangingConnectAttemptDoesNotStopTheOwnerLoop)
{
    connect_timeout = 5s;
    start(recovery(0ms, 60s)); // fast_io_fail_tmo 0: commands fail at once
    if (HasFatalFailure()) return;
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
    std::atomic<int> served{0};
    const auto watch = ctrl->watch_fd(pipe_fds[0], [&] {
        char byte;
        if (::read(pipe_fds[0], &byte, 1) != 1) return false;
        ++served;
        return true;
    });
    target->silence_connections(true);
    target->drop_connections();
    for (int i = 0; i < 2000 && target->silenced.load() == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_EQ(target->silenced.load(), 1) << "no attempt reached the hanging target";
    // The attempt now waits up to 5 s for ICResp. The loop answers at once
    // meanwhile (1 s is far above a loop iteration, far below the wait).
    const auto t0 = std::chrono::steady_clock::now();
    auto failed = submit_read(0, 4096);
    ASSERT_EQ(failed.wait_for(1s), std::future_status::ready) << "the owner loop is blocked";
    EXPECT_TRUE(failed.get().status.same_code(nvme::PathStatus::host_pathing_error));
    ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);
    for (int i = 0; i < 100 && served.load() == 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(served.load(), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
    EXPECT_EQ(target->silenced.load(), 1); // still the same attempt
    // The target answers again: the next attempt reconnects.
    target->silence_connections(false);
    EXPECT_TRUE(read_succeeds_within(30s));
    ctrl->unwatch_fd(watch);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

// Stopping while a connect step runs waits for it (bounded by the connect
// timeout), then disconnects: nothing is left behind, nothing crashes.
TEST_F(TcpReconnectTest, DestroyingTheControllerDuringAHangingConnectAttempt)
{
    start(recovery(-1ms, 60s));
    if (HasFatalFailure()) return;
    target->silence_connections(true);
    target->drop_connections();
    for (int i = 0; i < 2000 && target->silenced.load() == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_EQ(target->silenced.load(), 1);
    const auto t0 = std::chrono::steady_clock::now();
    ctrl.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s); // connect_timeout 2 s
}

// ---- bring-up failures and discovery, through the core --------------------

TEST(TcpControllerStartTest, UnansweredPropertySetFailsTheStartWithinCapTo)
{
    TestTarget target;
    nvmecuse::transport::TransportId id;
    id.trtype = "tcp";
    id.traddr = "127.0.0.1";
    id.trsvcid = target.port_string();
    id.subnqn = "nqn.2026-11.io.nvmecuse:test";
    nvmecuse::transport::tcp::TcpOptions o;
    o.connect_timeout = 300ms;
    auto t = nvmecuse::transport::tcp::connect(id, o);
    ASSERT_TRUE(t.has_value());
    target.inject(tcp_test::Fault::ignore_property_set);
    const auto t0 = std::chrono::steady_clock::now();
    auto c = Controller::start(std::move(*t), {});
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), std::errc::timed_out);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "CAP.TO is 2: 1 s";
}

nvme::DiscoveryLogEntry entry(std::string_view traddr, std::string_view port, std::string_view nqn,
                              nvme::DiscoverySubsystemType type)
{
    nvme::DiscoveryLogEntry e{};
    e.trtype = static_cast<std::uint8_t>(nvme::TransportType::tcp);
    e.adrfam = static_cast<std::uint8_t>(nvme::AddressFamily::ipv4);
    e.subtype = static_cast<std::uint8_t>(type);
    e.cntlid = 0xffff;
    e.asqsz = 32;
    nvme::set_padded(e.trsvcid, port);
    nvme::set_padded(e.traddr, traddr);
    nvme::set_nul_padded(e.subnqn, nqn);
    return e;
}

/// What nvmecused does for a discovery controller: connect without Keep
/// Alive or I/O queues, start the core, read the log, let go.
std::expected<nvmecuse::ctrlr::DiscoveryLog, std::error_code> discover(TestTarget& target)
{
    nvmecuse::transport::TransportId id;
    id.trtype = "tcp";
    id.traddr = "127.0.0.1";
    id.trsvcid = target.port_string();
    id.subnqn = std::string(nvmecuse::transport::discovery_nqn);
    nvmecuse::transport::tcp::TcpOptions o;
    o.kato = 0ms;
    o.io_queues = 0;
    auto t = nvmecuse::transport::tcp::connect(id, o);
    if (!t) return std::unexpected(t.error());
    Controller::Options co;
    co.io_queues = 0;
    auto c = Controller::start(std::move(*t), co);
    if (!c) return std::unexpected(c.error());
    return nvmecuse::ctrlr::read_discovery_log(**c);
}

TEST(TcpDiscoveryTest, ReadsEveryEntryOfTheLogPage)
{
    tcp_test::TargetConfig config;
    auto first = entry("127.0.0.1", "4420", "nqn.2026-11.io.nvmecuse:a", nvme::DiscoverySubsystemType::nvm);
    first.treq = nvme::treq::secure_channel_not_required | nvme::treq::sq_flow_control_disable;
    first.portid = 3;
    first.eflags = nvme::eflags::epcsd;
    first.tsas[0] = static_cast<std::uint8_t>(nvme::TcpSecurityType::tls13);
    config.discovery = {
        first,
        entry("10.0.0.2", "4421", "nqn.2026-11.io.nvmecuse:b", nvme::DiscoverySubsystemType::nvm),
        entry("127.0.0.1", "8009", std::string(nvmecuse::transport::discovery_nqn),
              nvme::DiscoverySubsystemType::current_discovery),
    };
    TestTarget target(config);
    auto found = discover(target);
    ASSERT_TRUE(found.has_value()) << found.error().message();
    EXPECT_EQ(found->genctr, 7u);
    const auto& records = found->records;
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].subtype, 2);
    EXPECT_EQ(records[0].id.traddr, "127.0.0.1");
    EXPECT_EQ(records[0].id.trsvcid, "4420");
    EXPECT_EQ(records[0].id.subnqn, "nqn.2026-11.io.nvmecuse:a");
    // What nvme discover prints besides the transport ID, as listed.
    EXPECT_EQ(records[0].adrfam, static_cast<std::uint8_t>(nvme::AddressFamily::ipv4));
    EXPECT_EQ(records[0].treq, 0x6);
    EXPECT_EQ(records[0].portid, 3);
    EXPECT_EQ(records[0].eflags, nvme::eflags::epcsd);
    EXPECT_EQ(records[0].sectype, static_cast<std::uint8_t>(nvme::TcpSecurityType::tls13));
    EXPECT_EQ(records[1].id.traddr, "10.0.0.2");
    EXPECT_EQ(records[1].id.trsvcid, "4421");
    EXPECT_EQ(records[1].treq, 0);
    EXPECT_EQ(records[2].subtype, 3);
    EXPECT_EQ(target.kato.load(), 0u);          // a discovery association without Keep Alive
    EXPECT_GE(target.log_page_reads.load(), 3); // header, page, header again
    EXPECT_TRUE(target.shutdown_seen.load());
}

TEST(TcpDiscoveryTest, AnEmptyLogIsEmpty)
{
    TestTarget target;
    auto found = discover(target);
    ASSERT_TRUE(found.has_value()) << found.error().message();
    EXPECT_TRUE(found->records.empty());
}

// ---- serving threads with NVMe/TCP queue pairs of their own ---------------

struct TcpLanesTest : TcpReconnectTest {
    std::vector<std::unique_ptr<nvmecuse::ctrlr::Reactor>> reactors;

    void SetUp() override
    {
        for (unsigned i = 0; i < 2; ++i) {
            auto r = nvmecuse::ctrlr::Reactor::start("tcp-r" + std::to_string(i), i);
            ASSERT_TRUE(r.has_value()) << r.error().message();
            reactors.push_back(std::move(*r));
        }
        transport_io_queues = 3; // the owner's queue and one per reactor
        auto co = recovery(-1ms, 60s);
        for (auto& r : reactors)
            co.reactors.push_back(r.get());
        start(co);
    }
    void TearDown() override
    {
        ctrl.reset(); // before the reactors it has lanes on
        reactors.clear();
        target.reset();
    }
};

// Each serving thread drives its own connection: its commands complete on
// it, concurrently with the other's, and the data lands where it should.
TEST_F(TcpLanesTest, EachServingThreadDrivesAConnectionOfItsOwn)
{
    using nvmecuse::testing::Writer;
    if (HasFatalFailure()) return;
    EXPECT_EQ(target->io_connects.load(), 3);
    constexpr int count = 300;
    Writer a{*ctrl, *reactors[0], 0, 0, count};
    Writer b{*ctrl, *reactors[1], 1, 1000, count};
    ASSERT_TRUE(run_both(a, b, 16));
    EXPECT_EQ(a.failed, 0);
    EXPECT_EQ(b.failed, 0);
    EXPECT_EQ(a.on_reactor, count);
    EXPECT_EQ(b.on_reactor, count);
    nvmecuse::testing::expect_written(*ctrl, 0, 0, count);
    nvmecuse::testing::expect_written(*ctrl, 1, 1000, count);
}

// The association drops every connection from whichever thread sees its
// own fail first; every command completes exactly once, and after the
// reconnect the serving threads get connections again.
TEST_F(TcpLanesTest, ALostAssociationUnderLoadFromTwoThreadsLosesNoCompletion)
{
    using nvmecuse::testing::Writer;
    if (HasFatalFailure()) return;
    // The target's namespace is 8192 blocks.
    Writer a{*ctrl, *reactors[0], 0, 0, INT32_MAX};
    Writer b{*ctrl, *reactors[1], 1, 4000, INT32_MAX};
    a.span = b.span = 2000;
    a.start(8);
    b.start(8);
    const auto deadline = std::chrono::steady_clock::now() + nvmecuse::testing::lane_bound;
    while ((a.completed < 100 || b.completed < 100) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    ASSERT_GE(a.completed, 100);
    EXPECT_EQ(a.failed + b.failed, 0) << a.first_failure << " / " << b.first_failure;
    target->drop_connections();
    ASSERT_TRUE(read_succeeds_within(20s));
    ASSERT_TRUE(a.stop_and_drain());
    ASSERT_TRUE(b.stop_and_drain());
    EXPECT_GT(a.failed + b.failed, 0) << "the drop caught commands in flight";

    constexpr int count = 100;
    Writer c{*ctrl, *reactors[0], 0, 2000, count};
    Writer d{*ctrl, *reactors[1], 1, 6000, count};
    ASSERT_TRUE(run_both(c, d, 8));
    EXPECT_EQ(c.failed + d.failed, 0) << c.first_failure << " / " << d.first_failure;
    EXPECT_EQ(c.on_reactor, count) << "lent again after the reconnect";
    EXPECT_EQ(d.on_reactor, count);
    EXPECT_EQ(target->io_connects.load(), 6);
    nvmecuse::testing::expect_written(*ctrl, 0, 2000, count);
    nvmecuse::testing::expect_written(*ctrl, 1, 6000, count);
}

} // namespace
