// The NVMe/TCP host transport against the in-test target (tcp_test_target):
// connect, admin and I/O commands with in-capsule data, R2T/H2CData and
// C2HData, digests, disconnect, and a fault of each kind the target can
// inject (enable, Keep Alive, shutdown and discovery are the core's:
// tcp_controller_test). The test thread plays the
// controller's owner thread: it submits, polls completion_fd()/event_fd()
// and reaps, as ctrlr/owner_loop.cpp does.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <optional>
#include <thread>

#include "nvmecuse/spec/fabrics.hpp"
#include "nvmecuse/transport/connect.hpp"
#include "nvmecuse/spec/nvme.hpp"
#include "nvmecuse/transport/tcp/tcp_transport.hpp"

#include "tcp_test_target.hpp"

namespace {

using namespace std::chrono_literals;
using nvmecuse::transport::QueuePair;
using nvmecuse::transport::Request;
using nvmecuse::transport::Transport;
using nvmecuse::transport::TransportId;
using nvmecuse::transport::tcp::TcpOptions;
using tcp_test::Fault;
using tcp_test::TargetConfig;
using tcp_test::TestTarget;

constexpr std::string_view subnqn = "nqn.2026-11.io.nvmecuse:test";
const nvme::Status connection_lost{nvme::PathStatus::command_aborted_by_host};

TransportId id_for(const TestTarget& t, std::string_view nqn = subnqn)
{
    TransportId id;
    id.trtype = "tcp";
    id.adrfam = "ipv4";
    id.traddr = "127.0.0.1";
    id.trsvcid = t.port_string();
    id.subnqn = std::string(nqn);
    return id;
}

TcpOptions quick_options()
{
    TcpOptions o;
    o.connect_timeout = 2s;
    o.io_queues = 2;
    o.queue_size = 32;
    return o;
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed)
{
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::byte>((i * 31 + seed * 7 + (i >> 9)) & 0xff);
    return v;
}

/// Plays the owner thread: drives one queue (and the transport's event fd)
/// until the completion of `cid` arrives or `timeout` passes.
std::optional<nvme::CompletionQueueEntry> wait_for(Transport& t, QueuePair& q, std::uint16_t cid,
                                                   std::chrono::milliseconds timeout = 5s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::array<nvme::CompletionQueueEntry, 16> out{};
        const std::size_t n = q.reap(out);
        for (std::size_t i = 0; i < n; ++i)
            if (out[i].cid == cid) return out[i];
        std::array<pollfd, 2> p{{{q.completion_fd(), POLLIN, 0}, {t.event_fd(), POLLIN, 0}}};
        ::poll(p.data(), p.size(), 10);
        if ((p[1].revents & POLLIN) != 0) t.handle_event();
    }
    return std::nullopt;
}

std::optional<nvme::CompletionQueueEntry> run(Transport& t, QueuePair& q, const Request& r)
{
    auto submitted = q.submit(r);
    EXPECT_TRUE(submitted.has_value()) << submitted.error().message();
    if (!submitted) return std::nullopt;
    return wait_for(t, q, r.sqe.cid);
}

/// Property Get through the admin queue, as the core issues it.
std::optional<std::uint64_t> get_property(Transport& t, std::uint32_t offset)
{
    Request r;
    r.sqe = nvme::fabrics::property_get_sqe(offset);
    r.sqe.cid = 0x700;
    auto c = run(t, t.admin_queue(), r);
    if (!c || !nvme::status_of(*c).is_success()) return std::nullopt;
    return nvme::fabrics::property_value(*c);
}

/// The core's enable in its shortest form (ctrlr/controller_enable.cpp
/// is the real one, tested in tcp_controller_test): CC.EN=1 by Property
/// Set, then CSTS.RDY by Property Get. The transport tests need a live
/// controller, not the state machine.
bool enable(Transport& t)
{
    Request r;
    r.sqe = nvme::fabrics::property_set_sqe(nvme::reg_offset::cc, nvme::cc::En::set(0, true));
    r.sqe.cid = 0x701;
    auto c = run(t, t.admin_queue(), r);
    if (!c || !nvme::status_of(*c).is_success()) return false;
    auto csts = get_property(t, nvme::reg_offset::csts);
    if (!csts || !nvme::csts::Rdy::get(static_cast<std::uint32_t>(*csts))) return false;
    // Identify Controller, handed to the transport (IOCCSZ), as the core does.
    std::vector<std::byte> data(4096);
    Request id;
    id.sqe.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::identify);
    id.sqe.cid = 0x702;
    nvme::cmd::identify::Cns::set(id.sqe, 1);
    id.direction = nvme::DataTransfer::controller_to_host;
    id.data = data;
    c = run(t, t.admin_queue(), id);
    if (!c || !nvme::status_of(*c).is_success()) return false;
    nvme::IdentifyController ctrl;
    std::memcpy(&ctrl, data.data(), sizeof ctrl);
    t.controller_identified(ctrl);
    return true;
}

Request io(nvme::NvmOpcode opc, std::uint16_t cid, std::uint64_t slba, std::span<std::byte> data)
{
    Request r;
    r.sqe.opc = static_cast<std::uint8_t>(opc);
    r.sqe.cid = cid;
    r.sqe.nsid = 1;
    r.sqe.cdw10 = static_cast<std::uint32_t>(slba);
    r.sqe.cdw11 = static_cast<std::uint32_t>(slba >> 32);
    nvme::cmd::rw::Nlb::set(r.sqe, static_cast<std::uint32_t>(data.size() / 512 - 1));
    r.direction = opc == nvme::NvmOpcode::write ? nvme::DataTransfer::host_to_controller
                                                : nvme::DataTransfer::controller_to_host;
    r.data = data;
    return r;
}

bool is_success(const std::optional<nvme::CompletionQueueEntry>& c)
{
    return c && nvme::status_of(*c).is_success();
}

struct TcpTransportTest : ::testing::Test {
    TargetConfig config;
    std::unique_ptr<TestTarget> target;
    std::unique_ptr<Transport> transport;
    std::unique_ptr<QueuePair> ioq;

    void start_target() { target = std::make_unique<TestTarget>(config); }

    void connect(TcpOptions o = quick_options())
    {
        if (!target) start_target();
        auto t = nvmecuse::transport::tcp::connect(id_for(*target), o);
        ASSERT_TRUE(t.has_value()) << t.error().message();
        transport = std::move(*t);
    }
    void bring_up(TcpOptions o = quick_options())
    {
        connect(o);
        ASSERT_NE(transport, nullptr);
        ASSERT_TRUE(enable(*transport));
        auto q = transport->create_io_queue(1, 16);
        ASSERT_TRUE(q.has_value()) << q.error().message();
        ioq = std::move(*q);
    }
    void TearDown() override
    {
        ioq.reset();
        transport.reset();
        target.reset();
    }
};

TEST_F(TcpTransportTest, ConnectSendsTheConnectCapsuleAndPropertiesAnswer)
{
    connect();
    const auto& info = transport->info();
    EXPECT_EQ(info.registers, nvmecuse::transport::RegisterAccess::fabrics_property);
    EXPECT_EQ(info.keep_alive_timeout, 5000ms);
    const auto cap = get_property(*transport, nvme::reg_offset::cap);
    ASSERT_TRUE(cap.has_value());
    EXPECT_EQ(nvme::cap::Mqes::get(*cap), 127u);
    EXPECT_EQ(nvme::cap::To::get(*cap), 2u);
    EXPECT_EQ(get_property(*transport, nvme::reg_offset::vs), 0x00010300u);
    EXPECT_EQ(info.max_io_queues, 2);
    EXPECT_NE(info.name.find(subnqn), std::string::npos);
    EXPECT_EQ(target->admin_connects.load(), 1);
    EXPECT_EQ(target->kato.load(), 5000u);
    EXPECT_EQ(target->admin_sqsize.load(), 31u);
    EXPECT_EQ(target->host_nqn().rfind("nqn.2014-08.org.nvmexpress:uuid:", 0), 0u);
    EXPECT_EQ(target->cc.load(), 0u); // the core sets CC, connect() does not
    ASSERT_TRUE(transport->connect_admin().has_value());
    EXPECT_EQ(target->admin_connects.load(), 1) << "a live association is kept";
}

TEST_F(TcpTransportTest, EnabledAdminQueueServesIdentify)
{
    connect();
    ASSERT_TRUE(enable(*transport));
    std::vector<std::byte> data(4096);
    Request r;
    r.sqe.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::identify);
    r.sqe.cid = 3;
    nvme::cmd::identify::Cns::set(r.sqe, 1);
    r.direction = nvme::DataTransfer::controller_to_host;
    r.data = data;
    auto c = run(*transport, transport->admin_queue(), r);
    ASSERT_TRUE(is_success(c));
    nvme::IdentifyController id;
    std::memcpy(&id, data.data(), sizeof id);
    EXPECT_EQ(std::string(nvme::trimmed(id.sn)), "TCPTEST1");
    EXPECT_EQ(id.ioccsz, (64u + 4096u) / 16u);
    EXPECT_EQ(transport->admin_queue().depth(), 30);
}

TEST_F(TcpTransportTest, SmallWriteGoesInCapsuleAndReadsBack)
{
    bring_up();
    EXPECT_EQ(target->io_connects.load(), 1);
    EXPECT_EQ(target->io_sqsize.load(), 15u);
    auto out = pattern(4096, 1);
    ASSERT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::write, 0, 8, out))));
    EXPECT_EQ(target->in_capsule_writes.load(), 1);
    EXPECT_EQ(target->r2t_writes.load(), 0);
    EXPECT_EQ(target->read_namespace(8 * 512, 4096), out);
    std::vector<std::byte> in(4096);
    ASSERT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::read, 1, 8, in))));
    EXPECT_EQ(in, out);
}

TEST_F(TcpTransportTest, OneMebibyteWriteFollowsR2TsInMaxh2cdataChunks)
{
    bring_up();
    auto out = pattern(1 << 20, 2);
    ASSERT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::write, 5, 0, out))));
    EXPECT_EQ(target->r2t_writes.load(), 1);
    EXPECT_EQ(target->h2c_pdus.load(), (1 << 20) / 8192);
    EXPECT_EQ(target->largest_h2c.load(), 8192u);
    EXPECT_EQ(target->read_namespace(0, 1 << 20), out);
    std::vector<std::byte> in(1 << 20);
    ASSERT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::read, 6, 0, in))));
    EXPECT_EQ(in, out);
}

TEST_F(TcpTransportTest, ManyCommandsInFlightAtOnce)
{
    bring_up();
    auto image = pattern(16 * 65536, 9);
    target->fill_namespace(0, image);
    std::vector<std::vector<std::byte>> bufs(16, std::vector<std::byte>(65536));
    for (std::uint16_t i = 0; i < 16; ++i)
        ASSERT_TRUE(ioq->submit(io(nvme::NvmOpcode::read, i, i * 128u, bufs[i])).has_value());
    // The queue is full now: the core would have to retry.
    std::vector<std::byte> extra(512);
    auto refused = ioq->submit(io(nvme::NvmOpcode::read, 99, 0, extra));
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error(), std::errc::resource_unavailable_try_again);
    int done = 0;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (done < 16 && std::chrono::steady_clock::now() < deadline) {
        std::array<nvme::CompletionQueueEntry, 4> out{};
        const auto n = ioq->reap(out);
        for (std::size_t k = 0; k < n; ++k) {
            EXPECT_TRUE(nvme::status_of(out[k]).is_success());
            ++done;
        }
        pollfd p{ioq->completion_fd(), POLLIN, 0};
        if (n == 0) ::poll(&p, 1, 10);
    }
    ASSERT_EQ(done, 16);
    for (std::size_t i = 0; i < 16; ++i)
        EXPECT_TRUE(std::equal(bufs[i].begin(), bufs[i].end(), image.begin() + i * 65536))
            << "buffer " << i;
}

TEST_F(TcpTransportTest, CompletionFdStaysReadableWhileCompletionsWait)
{
    // A core that reaps a queue only when its fd polls readable, three
    // completions at a time, must still get all sixteen.
    bring_up();
    std::vector<std::vector<std::byte>> bufs(16, std::vector<std::byte>(4096));
    for (std::uint16_t i = 0; i < 16; ++i)
        ASSERT_TRUE(ioq->submit(io(nvme::NvmOpcode::read, i, i * 8u, bufs[i])).has_value());
    std::this_thread::sleep_for(50ms); // let them all arrive before the first reap
    std::size_t done = 0;
    while (done < 16) {
        pollfd p{ioq->completion_fd(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 2000), 1) << "stuck after " << done << " completions";
        std::array<nvme::CompletionQueueEntry, 3> out{};
        done += ioq->reap(out);
    }
    EXPECT_EQ(done, 16u);
    pollfd p{ioq->completion_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0); // and quiet once they are all out
}

TEST_F(TcpTransportTest, HeaderAndDataDigestsWhenBothSidesWantThem)
{
    auto o = quick_options();
    o.header_digest = true;
    o.data_digest = true;
    bring_up(o);
    EXPECT_TRUE(target->header_digest_used.load());
    EXPECT_TRUE(target->data_digest_used.load());
    auto out = pattern(256 * 1024, 3);
    ASSERT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::write, 1, 64, out))));
    std::vector<std::byte> in(out.size());
    ASSERT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::read, 2, 64, in))));
    EXPECT_EQ(in, out);
}

TEST_F(TcpTransportTest, DigestsStayOffWhenTheTargetDeclines)
{
    config.header_digest = false;
    config.data_digest = false;
    auto o = quick_options();
    o.header_digest = true;
    o.data_digest = true;
    bring_up(o);
    EXPECT_FALSE(target->header_digest_used.load());
    std::vector<std::byte> in(4096);
    EXPECT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::read, 2, 0, in))));
}

TEST_F(TcpTransportTest, C2HDataWithSuccessCompletesWithoutACapsuleResp)
{
    config.c2h_success = true;
    bring_up();
    auto image = pattern(128 * 1024, 4);
    target->fill_namespace(4096, image);
    std::vector<std::byte> in(image.size());
    auto c = run(*transport, *ioq, io(nvme::NvmOpcode::read, 7, 8, in));
    ASSERT_TRUE(is_success(c));
    EXPECT_EQ(c->cid, 7);
    EXPECT_EQ(c->sq_id, 1);
    EXPECT_EQ(in, image);
}

/// A read buffer with guard bytes on both sides: the host must write the
/// command's bytes and nothing around them.
struct GuardedBuffer {
    static constexpr std::size_t guard = 4096;
    static constexpr std::byte fill{0xa5};
    std::vector<std::byte> memory;
    explicit GuardedBuffer(std::size_t n) : memory(n + 2 * guard, fill) {}
    [[nodiscard]] std::span<std::byte> span()
    {
        return std::span(memory).subspan(guard, memory.size() - 2 * guard);
    }
    [[nodiscard]] bool guards_intact() const
    {
        const auto is_fill = [](std::byte b) { return b == fill; };
        return std::all_of(memory.begin(), memory.begin() + guard, is_fill) &&
               std::all_of(memory.end() - guard, memory.end(), is_fill);
    }
};

TEST_F(TcpTransportTest, LargeReadInManyC2HDataPdusArrivesByteExact)
{
    // 100000-byte PDUs: headers, data and digests straddle the host's 64 KiB
    // receive buffer and its direct reads into the command's buffer.
    const auto image = pattern(1 << 20, 12);
    for (const bool digests : {false, true})
        for (const bool success : {false, true}) {
            SCOPED_TRACE(testing::Message() << "digests " << digests << " success " << success);
            ioq.reset();
            transport.reset();
            target.reset();
            config.c2h_chunk = 100000;
            config.c2h_success = success;
            auto o = quick_options();
            o.header_digest = digests;
            o.data_digest = digests;
            ASSERT_NO_FATAL_FAILURE(bring_up(o));
            EXPECT_EQ(target->data_digest_used.load(), digests);
            target->fill_namespace(0, image);
            for (const std::uint16_t cid : {std::uint16_t{1}, std::uint16_t{2}}) { // twice: in step
                GuardedBuffer in(image.size());
                auto c = run(*transport, *ioq, io(nvme::NvmOpcode::read, cid, 0, in.span()));
                ASSERT_TRUE(is_success(c));
                EXPECT_TRUE(std::equal(image.begin(), image.end(), in.span().begin()));
                EXPECT_TRUE(in.guards_intact());
            }
            // A small read after the large ones lands at its own place.
            GuardedBuffer small(4096);
            ASSERT_TRUE(
                is_success(run(*transport, *ioq, io(nvme::NvmOpcode::read, 3, 16, small.span()))));
            EXPECT_TRUE(std::equal(image.begin() + 16 * 512, image.begin() + 16 * 512 + 4096,
                                   small.span().begin()));
            EXPECT_TRUE(small.guards_intact());
        }
}

TEST_F(TcpTransportTest, WhatTheTargetDidNotSendIsZeroedNotLeftAsItWas)
{
    // TransportInfo::fills_host_buffers: the CUSE layer hands this transport
    // uninitialised buffers (GuardedBuffer's 0xA5 stands for the daemon's
    // old heap), so a read answered with less data than asked for, or cut
    // off by a lost connection, must not hand any of it back.
    const auto image = pattern(65536, 21);
    for (const Fault fault : {Fault::c2h_short, Fault::disconnect_mid_c2h}) {
        SCOPED_TRACE(testing::Message() << "fault " << static_cast<int>(fault));
        ioq.reset();
        transport.reset();
        target.reset();
        ASSERT_NO_FATAL_FAILURE(bring_up());
        EXPECT_TRUE(transport->info().fills_host_buffers);
        target->fill_namespace(0, image);
        target->inject(fault);
        GuardedBuffer in(image.size());
        auto c = run(*transport, *ioq, io(nvme::NvmOpcode::read, 1, 0, in.span()));
        ASSERT_TRUE(c.has_value());
        EXPECT_EQ(is_success(c), fault == Fault::c2h_short);
        const auto half = image.size() / 2;
        EXPECT_TRUE(std::equal(image.begin(), image.begin() + half, in.span().begin()));
        EXPECT_TRUE(std::all_of(in.span().begin() + half, in.span().end(),
                                [](std::byte b) { return b == std::byte{0}; }));
        EXPECT_TRUE(in.guards_intact());
    }
}

TEST_F(TcpTransportTest, C2HDataOutsideTheBufferDropsTheConnectionBeforeItsDataIsTaken)
{
    // Small enough for the target's whole reply to fit in the socket
    // buffers: it then reads the TermReq sent before the host closes.
    const std::size_t bytes = 8192;
    const auto image = pattern(bytes, 13);
    for (const Fault fault : {Fault::c2h_beyond_length, Fault::c2h_second_beyond_length,
                              Fault::c2h_offset_beyond_length}) {
        SCOPED_TRACE(static_cast<int>(fault));
        ioq.reset();
        transport.reset();
        target.reset();
        auto o = quick_options();
        o.header_digest = true;
        o.data_digest = true;
        ASSERT_NO_FATAL_FAILURE(bring_up(o));
        target->fill_namespace(0, image);
        target->inject(fault);
        GuardedBuffer in(bytes);
        auto c = run(*transport, *ioq, io(nvme::NvmOpcode::read, 4, 0, in.span()));
        ASSERT_TRUE(c.has_value());
        EXPECT_EQ(nvme::status_of(*c), connection_lost);
        EXPECT_TRUE(in.guards_intact()) << "nothing written outside the buffer";
        // The offending PDU's data was never taken; only a valid first PDU's
        // was, and the rest is zeroes (TransportInfo::fills_host_buffers).
        const std::size_t valid = fault == Fault::c2h_second_beyond_length ? bytes / 2 : 0;
        const auto data = in.span();
        EXPECT_TRUE(std::equal(image.begin(), image.begin() + valid, data.begin()));
        EXPECT_TRUE(std::all_of(data.begin() + valid, data.end(),
                                [](std::byte b) { return b == std::byte{0}; }));
        for (int i = 0; i < 100 && target->term_reqs.load() == 0; ++i)
            std::this_thread::sleep_for(10ms);
        EXPECT_EQ(target->term_reqs.load(), 1);
        // 512 bytes over the largest read is a PLEN above what the parser takes
        // (Invalid PDU Header Field); the others fail the command's range.
        EXPECT_EQ(target->last_term_fes.load(), fault == Fault::c2h_beyond_length ? 0x01u : 0x04u);
        auto again = ioq->submit(io(nvme::NvmOpcode::read, 5, 0, in.span()));
        ASSERT_FALSE(again.has_value());
        EXPECT_EQ(again.error(), std::errc::not_connected);
    }
}

TEST_F(TcpTransportTest, MetadataBuffersAreRefused)
{
    bring_up();
    std::vector<std::byte> data(512), md(8);
    auto r = io(nvme::NvmOpcode::read, 1, 0, data);
    r.metadata = md;
    auto s = ioq->submit(r);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error(), std::errc::invalid_argument);
}

// ---- faults ---------------------------------------------------------------

struct FaultCase {
    Fault fault;
    nvme::NvmOpcode opc;
    std::size_t bytes;
    bool term_req_expected; ///< the host reports the error to the target
};

class TcpFaultTest : public TcpTransportTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(TcpFaultTest, DropsTheAssociationAndFailsOutstandingCommands)
{
    const FaultCase fc = GetParam();
    auto o = quick_options();
    o.header_digest = true;
    bring_up(o);
    // An admin command outstanding elsewhere in the association (an AER).
    Request aer;
    aer.sqe.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::async_event_request);
    aer.sqe.cid = 11;
    ASSERT_TRUE(transport->admin_queue().submit(aer).has_value());

    target->inject(fc.fault);
    std::vector<std::byte> buf = pattern(fc.bytes, 5);
    auto c = run(*transport, *ioq, io(fc.opc, 4, 0, buf));
    ASSERT_TRUE(c.has_value()) << "no completion: the command must fail promptly";
    EXPECT_EQ(nvme::status_of(*c), connection_lost);
    EXPECT_EQ(target->pending_fault(), Fault::none);

    // The whole association is gone: the AER failed too, and new commands are refused.
    auto a = wait_for(*transport, transport->admin_queue(), 11, 1s);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(nvme::status_of(*a), connection_lost);
    auto again = ioq->submit(io(nvme::NvmOpcode::read, 5, 0, buf));
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error(), std::errc::not_connected);
    EXPECT_EQ(transport->admin_queue().submit(aer).error(), std::errc::not_connected);

    if (fc.term_req_expected) {
        for (int i = 0; i < 100 && target->term_reqs.load() == 0; ++i)
            std::this_thread::sleep_for(10ms);
        EXPECT_EQ(target->term_reqs.load(), 1);
    }

    // reset() + enable() bring the controller back on new connections.
    transport->disconnect();
    ASSERT_TRUE(transport->connect_admin().has_value());
    ASSERT_TRUE(enable(*transport));
    EXPECT_EQ(target->admin_connects.load(), 2);
    auto q = transport->create_io_queue(1, 16);
    ASSERT_TRUE(q.has_value());
    std::vector<std::byte> in(4096);
    EXPECT_TRUE(is_success(run(*transport, **q, io(nvme::NvmOpcode::read, 1, 0, in))));
}

INSTANTIATE_TEST_SUITE_P(
    Faults, TcpFaultTest,
    ::testing::Values(FaultCase{Fault::disconnect_mid_c2h, nvme::NvmOpcode::read, 65536, false},
                      FaultCase{Fault::r2t_bad_offset, nvme::NvmOpcode::write, 65536, true},
                      FaultCase{Fault::r2t_beyond_length, nvme::NvmOpcode::write, 65536, true},
                      FaultCase{Fault::corrupt_header_digest, nvme::NvmOpcode::read, 4096, true},
                      FaultCase{Fault::c2h_beyond_length, nvme::NvmOpcode::read, 4096, true},
                      FaultCase{Fault::c2h_unknown_cid, nvme::NvmOpcode::read, 4096, true},
                      FaultCase{Fault::capsule_resp_unknown_cid, nvme::NvmOpcode::read, 4096, true},
                      FaultCase{Fault::unknown_pdu_type, nvme::NvmOpcode::read, 4096, true},
                      FaultCase{Fault::c2h_term_req, nvme::NvmOpcode::read, 4096, false}),
    [](const auto& test) {
        switch (test.param.fault) {
        case Fault::disconnect_mid_c2h:
            return std::string("DisconnectMidTransfer");
        case Fault::r2t_bad_offset:
            return std::string("R2TAtWrongOffset");
        case Fault::r2t_beyond_length:
            return std::string("R2TBeyondLength");
        case Fault::corrupt_header_digest:
            return std::string("CorruptHeaderDigest");
        case Fault::c2h_beyond_length:
            return std::string("C2HBeyondLength");
        case Fault::c2h_unknown_cid:
            return std::string("C2HForUnknownCid");
        case Fault::capsule_resp_unknown_cid:
            return std::string("CapsuleRespForUnknownCid");
        case Fault::c2h_term_req:
            return std::string("TerminatedByTheController");
        default:
            return std::string("UnknownPduType");
        }
    });

TEST_F(TcpTransportTest, DataDigestErrorFailsTheCommandButKeepsTheConnection)
{
    auto o = quick_options();
    o.data_digest = true;
    bring_up(o);
    target->inject(Fault::corrupt_data_digest);
    std::vector<std::byte> in(4096);
    auto c = run(*transport, *ioq, io(nvme::NvmOpcode::read, 1, 0, in));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(nvme::status_of(*c), nvme::Status(nvme::GenericStatus::transient_transport_error));
    EXPECT_TRUE(is_success(run(*transport, *ioq, io(nvme::NvmOpcode::read, 2, 0, in))));
    EXPECT_EQ(target->term_reqs.load(), 0);
}

TEST_F(TcpTransportTest, SubmitAndReapNeverBlockWhileTheTargetIsNotReading)
{
    config.receive_buffer = 64 * 1024;
    config.r2t_chunk = 4u << 20;
    bring_up();
    target->inject(Fault::stall_after_r2t);
    auto out = pattern(4u << 20, 8);
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    // A call that blocked would wait out the target's stall (300 ms and
    // more, below); half of it leaves room for a loaded, sanitized run.
    constexpr auto never_blocked = 150ms;
    ASSERT_TRUE(ioq->submit(io(nvme::NvmOpcode::write, 3, 0, out)).has_value());
    EXPECT_LT(Clock::now() - t0, never_blocked);
    std::optional<nvme::CompletionQueueEntry> done;
    auto slowest = Clock::duration::zero();
    while (!done && Clock::now() - t0 < 3s) {
        // Only the completion fd: buffered PDUs must wake us (EPOLLOUT) on their own.
        pollfd p{ioq->completion_fd(), POLLIN, 0};
        ::poll(&p, 1, 2000);
        std::array<nvme::CompletionQueueEntry, 4> cqes{};
        const auto r0 = Clock::now();
        const auto n = ioq->reap(cqes);
        slowest = std::max(slowest, Clock::now() - r0);
        if (n > 0) done = cqes[0];
    }
    ASSERT_TRUE(is_success(done));
    EXPECT_LT(Clock::now() - t0, 2s);
    EXPECT_GE(Clock::now() - t0, 300ms); // the target really stalled
    EXPECT_LT(slowest, never_blocked);
    EXPECT_EQ(target->read_namespace(0, out.size()), out);
}

TEST_F(TcpTransportTest, RandomHostilePdusNeverCrashOrHang)
{
    start_target();
    for (std::uint32_t seed = 1; seed <= 200; ++seed) {
        SCOPED_TRACE(seed);
        ioq.reset();
        transport.reset();
        ASSERT_NO_FATAL_FAILURE(bring_up());
        target->seed(seed);
        target->inject(Fault::random_pdus);
        std::vector<std::byte> in(4096);
        auto c = run(*transport, *ioq, io(nvme::NvmOpcode::read, 1, 0, in));
        // Whatever the bytes were, the command ends (the target closes after them).
        ASSERT_TRUE(c.has_value());
    }
}

// ---- Keep Alive, connect errors, reset, shutdown ----------------------------

TEST_F(TcpTransportTest, NothingListeningIsConnectionRefused)
{
    start_target();
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s); // bound, never listened: the port refuses
    auto id = id_for(*target);
    id.trsvcid = std::to_string(ntohs(a.sin_port));
    auto t = nvmecuse::transport::tcp::connect(id, quick_options());
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error(), std::errc::connection_refused);
}

// Connect Invalid Host with DNR: final (EIO, as the kernel's nvme connect),
// not a refusal that a later attempt could overcome.
TEST_F(TcpTransportTest, FabricsConnectRefusedWithDnrIsAnIoError)
{
    start_target();
    target->inject(Fault::reject_connect);
    auto t = nvmecuse::transport::tcp::connect(id_for(*target), quick_options());
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error(), std::errc::io_error);
}

TEST_F(TcpTransportTest, Ipv6Loopback)
{
    config.ipv6 = true;
    start_target();
    auto id = id_for(*target);
    id.adrfam = "ipv6";
    id.traddr = "::1";
    auto t = nvmecuse::transport::tcp::connect(id, quick_options());
    ASSERT_TRUE(t.has_value()) << t.error().message();
    EXPECT_NE((*t)->info().name.find("[::1]:" + target->port_string()), std::string::npos);
    EXPECT_TRUE(enable(**t));
}

TEST_F(TcpTransportTest, MalformedIdentitiesAreInvalid)
{
    start_target();
    auto bad_port = id_for(*target);
    bad_port.trsvcid = "44x20";
    auto bad_family = id_for(*target);
    bad_family.adrfam = "ib";
    auto bad_hostid = id_for(*target);
    bad_hostid.hostid = "not-a-uuid";
    auto long_nqn = id_for(*target, std::string(224, 'n'));
    for (const auto& id : {bad_port, bad_family, bad_hostid, long_nqn}) {
        auto t = nvmecuse::transport::tcp::connect(id, quick_options());
        ASSERT_FALSE(t.has_value()) << id.trsvcid << " " << id.adrfam << " " << id.hostid;
        EXPECT_EQ(t.error(), std::errc::invalid_argument);
    }
    EXPECT_EQ(target->connections.load(), 0);
}

TEST_F(TcpTransportTest, ConfiguredHostIdentityIsWhatConnectSends)
{
    start_target();
    auto id = id_for(*target);
    id.hostid = "5e1f7c52-8e0b-4bd8-a0a5-0d3e5b7a1c11";
    auto t = nvmecuse::transport::tcp::connect(id, quick_options());
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(target->host_nqn(),
              "nqn.2014-08.org.nvmexpress:uuid:5e1f7c52-8e0b-4bd8-a0a5-0d3e5b7a1c11");
    auto o = quick_options();
    o.hostnqn = "nqn.2026-11.io.nvmecuse:host";
    t = nvmecuse::transport::tcp::connect(id_for(*target), o);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(target->host_nqn(), "nqn.2026-11.io.nvmecuse:host");
}

TEST_F(TcpTransportTest, WrongTransportTypeIsInvalid)
{
    start_target();
    auto id = id_for(*target);
    id.trtype = "rdma";
    auto t = nvmecuse::transport::tcp::connect(id, quick_options());
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error(), std::errc::invalid_argument);
}

TEST_F(TcpTransportTest, TheFactoryChoosesByTrtype)
{
    start_target();
    nvmecuse::transport::ConnectOptions o{.tcp = quick_options()};
    auto t = nvmecuse::transport::connect(id_for(*target), o);
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ((*t)->info().registers, nvmecuse::transport::RegisterAccess::fabrics_property);
    EXPECT_EQ(target->admin_connects.load(), 1);
    auto id = id_for(*target);
    id.trtype = "rdma";
    auto none = nvmecuse::transport::connect(id, o);
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().code, std::errc::protocol_not_supported);
    EXPECT_NE(none.error().message.find("rdma"), std::string::npos);
    EXPECT_EQ(target->admin_connects.load(), 1);
}

TEST_F(TcpTransportTest, DisconnectClosesEveryQueueAndConnectAdminStartsOver)
{
    bring_up();
    transport->disconnect();
    EXPECT_FALSE(transport->connection_lost()) << "a teardown, not a loss";
    std::vector<std::byte> in(512);
    EXPECT_EQ(ioq->submit(io(nvme::NvmOpcode::read, 1, 0, in)).error(), std::errc::not_connected);
    ASSERT_TRUE(transport->connect_admin().has_value());
    ASSERT_TRUE(enable(*transport));
    EXPECT_EQ(target->admin_connects.load(), 2);
    ioq.reset();
    auto q = transport->create_io_queue(1, 16);
    ASSERT_TRUE(q.has_value());
    EXPECT_TRUE(is_success(run(*transport, **q, io(nvme::NvmOpcode::read, 1, 0, in))));
}

TEST_F(TcpTransportTest, TargetGoneConnectAdminFailsCleanly)
{
    bring_up();
    target.reset(); // closes every connection, stops listening
    std::vector<std::byte> in(512);
    auto c = wait_for(*transport, *ioq, 0xeeee, 200ms); // notices the close
    EXPECT_FALSE(c.has_value());
    EXPECT_TRUE(transport->connection_lost());
    EXPECT_EQ(ioq->submit(io(nvme::NvmOpcode::read, 1, 0, in)).error(), std::errc::not_connected);
    transport->disconnect();
    auto e = transport->connect_admin();
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error(), std::errc::connection_refused);
    Request r;
    r.sqe.cid = 1;
    EXPECT_EQ(transport->admin_queue().submit(r).error(), std::errc::not_connected);
    EXPECT_FALSE(transport->create_io_queue(1, 16).has_value());
    transport->disconnect(); // nothing to close, nothing to crash on
}

TEST_F(TcpTransportTest, FailConnectionIsALoss)
{
    bring_up();
    transport->fail_connection();
    EXPECT_TRUE(transport->connection_lost());
    pollfd p{transport->event_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 1000), 1) << "the core learns of it through event_fd()";
    transport->handle_event();
    std::vector<std::byte> in(512);
    EXPECT_EQ(ioq->submit(io(nvme::NvmOpcode::read, 1, 0, in)).error(), std::errc::not_connected);
}

} // namespace
