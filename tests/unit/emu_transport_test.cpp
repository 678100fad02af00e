// The emulated transport (emu::make_transport): queue pairs over the
// in-process controller, and the whole stack ctrlr::Controller → transport →
// emulated controller. Label "concurrency": also runs under TSan.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::AdminOpcode;
using nvme::GenericStatus;
using nvme::NvmOpcode;
using nvme::Status;
using transport::QueuePair;
using transport::Request;

std::unique_ptr<transport::Transport> make(ControllerConfig config = default_test_config())
{
    auto t = make_transport(std::move(config));
    EXPECT_TRUE(t.has_value());
    return t ? std::move(*t) : nullptr;
}

Request request(std::uint8_t opc, std::uint32_t nsid, std::uint16_t cid,
                std::span<std::byte> data = {})
{
    Request r;
    r.sqe.opc = opc;
    r.sqe.nsid = nsid;
    r.sqe.cid = cid;
    r.data = data;
    r.direction = data.empty() ? nvme::DataTransfer::none : nvme::data_transfer(opc);
    return r;
}
Request keep_alive(std::uint16_t cid)
{
    return request(static_cast<std::uint8_t>(AdminOpcode::keep_alive), 0, cid);
}
Request flush(std::uint16_t cid)
{
    return request(static_cast<std::uint8_t>(NvmOpcode::flush), 1, cid);
}

/// What the core does to enable it (ctrlr/controller_enable.cpp), by hand:
/// the admin queue, then CC.EN=1; true once CSTS.RDY says ready.
bool enable(transport::Transport& t)
{
    if (!t.connect_admin()) return false;
    std::uint32_t cc = 0;
    cc = nvme::cc::Iosqes::set(cc, 6);
    cc = nvme::cc::Iocqes::set(cc, 4);
    t.write_register(nvme::reg_offset::cc, nvme::cc::En::set(cc, true));
    return nvme::csts::Rdy::get(static_cast<std::uint32_t>(t.read_register(nvme::reg_offset::csts)));
}

/// What the core does for a controller reset: CC.EN=0, then disconnect().
void disable(transport::Transport& t)
{
    const auto cc = static_cast<std::uint32_t>(t.read_register(nvme::reg_offset::cc));
    t.write_register(nvme::reg_offset::cc, nvme::cc::En::set(cc, false));
    EXPECT_FALSE(
        nvme::csts::Rdy::get(static_cast<std::uint32_t>(t.read_register(nvme::reg_offset::csts))));
    t.disconnect();
}

/// Submits and reaps exactly one completion.
nvme::CompletionQueueEntry run(QueuePair& q, const Request& r)
{
    EXPECT_TRUE(q.submit(r).has_value());
    nvme::CompletionQueueEntry cqe{};
    EXPECT_EQ(q.reap(std::span(&cqe, 1)), 1u);
    return cqe;
}

/// Set Features Number of Queues for `n` I/O queue pairs; returns dw0.
std::uint32_t set_number_of_queues(transport::Transport& t, std::uint16_t n)
{
    auto r = request(static_cast<std::uint8_t>(AdminOpcode::set_features), 0, 99);
    nvme::cmd::features::Fid::set(r.sqe,
                                  static_cast<std::uint8_t>(nvme::FeatureId::number_of_queues));
    r.sqe.cdw11 = nvme::feat::number_of_queues::make(n, n);
    const auto cqe = run(t.admin_queue(), r);
    EXPECT_TRUE(nvme::status_of(cqe).is_success()) << nvme::to_string(nvme::status_of(cqe));
    return cqe.dw0;
}

std::unique_ptr<QueuePair> io_queue(transport::Transport& t, std::uint16_t depth)
{
    set_number_of_queues(t, 2);
    auto q = t.create_io_queue(1, depth);
    EXPECT_TRUE(q.has_value()) << q.error().message();
    return q ? std::move(*q) : nullptr;
}

TEST(EmuTransportTest, InvalidConfigIsInvalidArgument)
{
    auto config = default_test_config();
    config.namespaces[1].nsid = 1;
    auto t = make_transport(config);
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error(), std::make_error_code(std::errc::invalid_argument));
}

TEST(EmuTransportTest, InfoDescribesThePlausibleController)
{
    auto t = make();
    const auto& info = t->info();
    EXPECT_EQ(info.name, "emu");
    EXPECT_EQ(info.registers, transport::RegisterAccess::direct);
    const auto cap = t->read_register(nvme::reg_offset::cap);
    EXPECT_EQ(nvme::cap::Mqes::get(cap), 1023u);
    EXPECT_TRUE(nvme::cap::Cqr::get(cap));
    EXPECT_EQ(nvme::cap::Css::get(cap) & nvme::cap::css_nvm, nvme::cap::css_nvm);
    EXPECT_EQ(nvme::cap::min_page_size(cap), 4096u);
    EXPECT_FALSE(nvme::cap::Nssrs::get(cap));
    EXPECT_GT(nvme::cap::timeout_ms(cap), 0u);
    EXPECT_EQ(t->read_register(nvme::reg_offset::vs), nvme::make_version(2, 0, 0));
    EXPECT_EQ(info.max_io_queues, 8);
    EXPECT_EQ(info.keep_alive_timeout.count(), 0);
}

TEST(EmuTransportTest, RegistersFollowTheSpecsStateMachine)
{
    auto t = make();
    const auto csts = [&] { return static_cast<std::uint32_t>(t->read_register(nvme::reg_offset::csts)); };
    EXPECT_EQ(csts(), 0u);
    t->write_register(nvme::reg_offset::aqa, 0x001f001f);
    t->write_register(nvme::reg_offset::asq, 0x10000);
    EXPECT_EQ(t->read_register(nvme::reg_offset::aqa), 0x001f001fu);
    EXPECT_EQ(t->read_register(nvme::reg_offset::asq), 0x10000u);
    ASSERT_TRUE(enable(*t));
    EXPECT_TRUE(nvme::cc::En::get(static_cast<std::uint32_t>(t->read_register(nvme::reg_offset::cc))));
    // CC.SHN: the shutdown completes at once (the cache is written back).
    const auto cc = static_cast<std::uint32_t>(t->read_register(nvme::reg_offset::cc));
    t->write_register(nvme::reg_offset::cc,
                      nvme::cc::Shn::set(cc, static_cast<std::uint32_t>(
                                                 nvme::cc::ShutdownNotification::normal)));
    EXPECT_EQ(nvme::csts::Shst::get(csts()),
              static_cast<std::uint32_t>(nvme::csts::ShutdownStatus::complete));
    // NSSR has no effect where CAP.NSSRS is 0.
    t->write_register(nvme::reg_offset::nssr, nvme::nssr_reset_value);
    EXPECT_TRUE(nvme::csts::Rdy::get(csts()));
    disable(*t);
    EXPECT_EQ(csts(), 0u);
}

TEST(EmuTransportTest, AdminQueueWorksOnlyAfterEnable)
{
    auto t = make();
    EXPECT_EQ(t->admin_queue().submit(keep_alive(1)).error(),
              std::make_error_code(std::errc::not_connected));
    ASSERT_TRUE(enable(*t));
    auto& q = t->admin_queue();
    EXPECT_EQ(q.completion_fd(), -1);
    EXPECT_EQ(q.depth(), 32);
    const auto cqe = run(q, keep_alive(7));
    EXPECT_EQ(cqe.cid, 7);
    EXPECT_EQ(cqe.sq_id, 0);
    EXPECT_EQ(cqe.sq_head, 1);
    EXPECT_TRUE(nvme::phase(cqe));
    EXPECT_TRUE(nvme::status_of(cqe).is_success());

    const auto bad = run(q, request(0x01 /*create I/O SQ*/, 0, 8));
    EXPECT_EQ(nvme::status_of(bad), Status(GenericStatus::invalid_opcode).with_dnr());

    // Data comes back in the request's span.
    Bytes id(4096);
    auto identify = request(static_cast<std::uint8_t>(AdminOpcode::identify), 0, 9, id);
    nvme::cmd::identify::Cns::set(identify.sqe, 1);
    ASSERT_TRUE(nvme::status_of(run(q, identify)).is_success());
    nvme::IdentifyController ic;
    std::memcpy(&ic, id.data(), sizeof ic);
    EXPECT_EQ(ic.vid, 0x1b36);
}

TEST(EmuTransportTest, IoQueuesNeedNumberOfQueuesFirst)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    EXPECT_EQ(t->create_io_queue(1, 64).error(), std::make_error_code(std::errc::invalid_argument));
    const auto dw0 = set_number_of_queues(*t, 4);
    EXPECT_EQ(nvme::feat::number_of_queues::Nsqa::get(dw0), 3u);
    auto q1 = t->create_io_queue(1, 64);
    ASSERT_TRUE(q1.has_value());
    EXPECT_EQ((*q1)->depth(), 64);
    EXPECT_TRUE(t->create_io_queue(4, 16).has_value());
    EXPECT_EQ(t->create_io_queue(5, 16).error(), std::make_error_code(std::errc::invalid_argument));
    EXPECT_EQ(t->create_io_queue(1, 16).error(), std::make_error_code(std::errc::invalid_argument))
        << "qid 1 exists";
    EXPECT_EQ(t->create_io_queue(2, 1025).error(),
              std::make_error_code(std::errc::invalid_argument))
        << "deeper than CAP.MQES";
    q1->reset(); // destroying a queue frees its qid
    EXPECT_TRUE(t->create_io_queue(1, 16).has_value());
}

TEST(EmuTransportTest, ReadAndWriteThroughAnIoQueue)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    auto q = io_queue(*t, 16);
    Bytes data = pattern(4 * 512, 1);
    auto w = request(static_cast<std::uint8_t>(NvmOpcode::write), 1, 1, data);
    nvme::cmd::rw::set_slba(w.sqe, 100);
    nvme::cmd::rw::set_num_blocks(w.sqe, 4);
    const auto wc = run(*q, w);
    EXPECT_TRUE(nvme::status_of(wc).is_success());
    EXPECT_EQ(wc.sq_id, 1);

    Bytes out(4 * 512);
    auto r = request(static_cast<std::uint8_t>(NvmOpcode::read), 1, 2, out);
    nvme::cmd::rw::set_slba(r.sqe, 100);
    nvme::cmd::rw::set_num_blocks(r.sqe, 4);
    EXPECT_TRUE(nvme::status_of(run(*q, r)).is_success());
    EXPECT_EQ(out, data);

    nvme::cmd::rw::set_slba(r.sqe, 1ull << 40);
    EXPECT_EQ(nvme::status_of(run(*q, r)), Status(GenericStatus::lba_out_of_range).with_dnr());
}

TEST(EmuTransportTest, EveryCompletionLeavesItsHostBuffersWrittenInFull)
{
    // TransportInfo::fills_host_buffers: the CUSE layer hands this transport
    // uninitialised buffers, so nothing a command leaves unwritten may keep
    // what was there before (here 0xA5 stands for the daemon's old heap).
    auto t = make();
    EXPECT_TRUE(t->info().fills_host_buffers);
    ASSERT_TRUE(enable(*t));
    auto q = io_queue(*t, 16);
    const auto stale = std::byte{0xa5};
    Bytes data = pattern(2 * 512, 3);
    auto w = request(static_cast<std::uint8_t>(NvmOpcode::write), 1, 1, data);
    nvme::cmd::rw::set_slba(w.sqe, 10);
    nvme::cmd::rw::set_num_blocks(w.sqe, 2);
    ASSERT_TRUE(nvme::status_of(run(*q, w)).is_success());

    // A Read into a buffer larger than its blocks: the blocks, then zeroes.
    Bytes out(3 * 512, stale);
    auto r = request(static_cast<std::uint8_t>(NvmOpcode::read), 1, 2, out);
    nvme::cmd::rw::set_slba(r.sqe, 10);
    nvme::cmd::rw::set_num_blocks(r.sqe, 2);
    ASSERT_TRUE(nvme::status_of(run(*q, r)).is_success());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin()));
    EXPECT_EQ(std::count(out.begin() + 1024, out.end(), std::byte{0}), 512);

    // A failed Read writes nothing of the media: all zeroes.
    std::ranges::fill(out, stale);
    nvme::cmd::rw::set_slba(r.sqe, 1ull << 40);
    EXPECT_EQ(nvme::status_of(run(*q, r)), Status(GenericStatus::lba_out_of_range).with_dnr());
    EXPECT_EQ(std::count(out.begin(), out.end(), std::byte{0}), 3 * 512);

    // Separate metadata past the blocks' share (namespace 2: 4096 + 8).
    Bytes block(4096, stale);
    Bytes metadata(64, stale);
    auto rm = request(static_cast<std::uint8_t>(NvmOpcode::read), 2, 3, block);
    rm.metadata = metadata;
    nvme::cmd::rw::set_num_blocks(rm.sqe, 1);
    ASSERT_TRUE(nvme::status_of(run(*q, rm)).is_success());
    EXPECT_EQ(std::count(block.begin(), block.end(), std::byte{0}), 4096); // never written
    EXPECT_EQ(std::count(metadata.begin(), metadata.end(), std::byte{0}), 64);

    // Any other command that returns data: a log page shorter than the buffer.
    Bytes log(8192, stale);
    auto glp = request(static_cast<std::uint8_t>(AdminOpcode::get_log_page), 0xffffffff, 4, log);
    glp.sqe.cdw10 = 0x02 | ((8192 / 4 - 1) << 16); // SMART / Health, NUMDL
    ASSERT_TRUE(nvme::status_of(run(t->admin_queue(), glp)).is_success());
    EXPECT_EQ(std::count(log.begin(), log.end(), stale), 0);
}

TEST(EmuTransportTest, AFullQueueAnswersTryAgainUntilReaped)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    auto q = io_queue(*t, 4);
    for (std::uint16_t cid = 0; cid < 4; ++cid)
        ASSERT_TRUE(q->submit(flush(cid)).has_value());
    EXPECT_EQ(q->submit(flush(4)).error(),
              std::make_error_code(std::errc::resource_unavailable_try_again));
    nvme::CompletionQueueEntry cqe[8];
    ASSERT_EQ(q->reap(std::span(cqe, 1)), 1u);
    EXPECT_EQ(cqe[0].cid, 0);
    EXPECT_TRUE(q->submit(flush(4)).has_value());
    ASSERT_EQ(q->reap(cqe), 4u);
    for (std::uint16_t i = 0; i < 4; ++i)
        EXPECT_EQ(cqe[i].cid, i + 1); // in submission order
    EXPECT_EQ(q->reap(cqe), 0u);
}

TEST(EmuTransportTest, PhaseTagInvertsEachTimeTheCompletionQueueWraps)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    auto q = io_queue(*t, 4);
    std::vector<bool> phases;
    std::vector<std::uint16_t> heads;
    for (std::uint16_t cid = 0; cid < 9; ++cid) {
        const auto cqe = run(*q, flush(cid));
        phases.push_back(nvme::phase(cqe));
        heads.push_back(cqe.sq_head);
    }
    EXPECT_EQ(phases,
              (std::vector<bool>{true, true, true, true, false, false, false, false, true}));
    EXPECT_EQ(heads, (std::vector<std::uint16_t>{1, 2, 3, 0, 1, 2, 3, 0, 1}));
}

TEST(EmuTransportTest, ResetKillsEveryQueueButKeepsTheData)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    auto q = io_queue(*t, 8);
    Bytes data = pattern(512, 2);
    auto w = request(static_cast<std::uint8_t>(NvmOpcode::write), 1, 1, data);
    ASSERT_TRUE(nvme::status_of(run(*q, w)).is_success());

    disable(*t);
    const auto dead = std::make_error_code(std::errc::not_connected);
    EXPECT_EQ(q->submit(flush(2)).error(), dead);
    EXPECT_EQ(t->admin_queue().submit(keep_alive(3)).error(), dead);
    EXPECT_EQ(t->create_io_queue(2, 8).error(), dead);

    ASSERT_TRUE(enable(*t));
    EXPECT_TRUE(nvme::status_of(run(t->admin_queue(), keep_alive(4))).is_success());
    EXPECT_EQ(q->submit(flush(5)).error(), dead) << "queues from before the reset stay dead";
    // Number of Queues is negotiated afresh after a Controller Level Reset.
    EXPECT_EQ(t->create_io_queue(1, 8).error(), std::make_error_code(std::errc::invalid_argument));
    auto q2 = io_queue(*t, 8);
    ASSERT_NE(q2, nullptr);
    Bytes out(512);
    auto r = request(static_cast<std::uint8_t>(NvmOpcode::read), 1, 6, out);
    ASSERT_TRUE(nvme::status_of(run(*q2, r)).is_success());
    EXPECT_EQ(out, data);
}

TEST(EmuTransportTest, AsyncEventCompletesLaterOnTheAdminQueue)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    auto& q = t->admin_queue();
    auto aec = request(static_cast<std::uint8_t>(AdminOpcode::set_features), 0, 1);
    nvme::cmd::features::Fid::set(
        aec.sqe, static_cast<std::uint8_t>(nvme::FeatureId::async_event_configuration));
    aec.sqe.cdw11 = nvme::feat::async_event_configuration::NamespaceAttributeNotices::mask;
    ASSERT_TRUE(nvme::status_of(run(q, aec)).is_success());

    ASSERT_TRUE(
        q.submit(request(static_cast<std::uint8_t>(AdminOpcode::async_event_request), 0, 50))
            .has_value());
    nvme::CompletionQueueEntry cqe[4];
    EXPECT_EQ(q.reap(cqe), 0u) << "an AER completes only when an event happens";

    // Detaching namespace 2 is such an event.
    Bytes list(4096);
    nvme::ControllerList ctrl_list{};
    ctrl_list.num = 1;
    ctrl_list.ids[0] = 1;
    std::memcpy(list.data(), &ctrl_list, sizeof ctrl_list);
    auto detach =
        request(static_cast<std::uint8_t>(AdminOpcode::namespace_attachment), 2, 51, list);
    nvme::cmd::namespace_attachment::SelField::set(detach.sqe, 1);
    ASSERT_TRUE(q.submit(detach).has_value());
    ASSERT_EQ(q.reap(cqe), 2u);
    EXPECT_EQ(cqe[0].cid, 50);
    EXPECT_EQ(nvme::aer_result::type(cqe[0].dw0), nvme::AsyncEventType::notice);
    EXPECT_EQ(nvme::aer_result::log_page(cqe[0].dw0), 0x04);
    EXPECT_EQ(cqe[1].cid, 51);
    EXPECT_TRUE(nvme::status_of(cqe[1]).is_success());
}

TEST(EmuTransportTest, AQueueOutlivingItsTransportIsDead)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    auto q = io_queue(*t, 4);
    t.reset();
    EXPECT_EQ(q->submit(flush(1)).error(), std::make_error_code(std::errc::not_connected));
}

TEST(EmuTransportTest, ShutdownNotificationFlushesAndKeepsWorking)
{
    auto t = make();
    ASSERT_TRUE(enable(*t));
    const auto cc = static_cast<std::uint32_t>(t->read_register(nvme::reg_offset::cc));
    t->write_register(nvme::reg_offset::cc,
                      nvme::cc::Shn::set(cc, static_cast<std::uint32_t>(
                                                 nvme::cc::ShutdownNotification::normal)));
    EXPECT_TRUE(nvme::status_of(run(t->admin_queue(), keep_alive(1))).is_success());
}

// ---- the whole stack: ctrlr::Controller over the emulated transport ----

ctrlr::Command rw_command(NvmOpcode op, std::uint64_t slba, std::uint32_t blocks,
                          ctrlr::DataBuffer data)
{
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(op);
    s.nsid = 1;
    nvme::cmd::rw::set_slba(s, slba);
    nvme::cmd::rw::set_num_blocks(s, blocks);
    return ctrlr::Command::from_opcode(s, std::move(data));
}

std::unique_ptr<ctrlr::Controller> start(ctrlr::Controller::Options options = {})
{
    auto t = make_transport(default_test_config());
    if (!t) return nullptr;
    options.name = "emu-test";
    auto c = ctrlr::Controller::start(std::move(*t), options);
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return c ? std::move(*c) : nullptr;
}

TEST(EmuControllerStackTest, StartScansTheEmulatedNamespaces)
{
    auto c = start();
    ASSERT_NE(c, nullptr);
    const auto info = c->info();
    ASSERT_EQ(info->namespaces.size(), 2u);
    EXPECT_EQ(info->namespaces.at(1).lba_data_size, 512u);
    EXPECT_EQ(info->namespaces.at(2).lba_data_size, 4096u);
    EXPECT_EQ(info->namespaces.at(2).metadata_size, 8);
    EXPECT_EQ(info->namespaces.at(1).size_bytes(), 64ull << 20);
    EXPECT_EQ(c->transport_info().name, "emu");
}

TEST(EmuControllerStackTest, ReadsAndWritesFromManyThreads)
{
    ctrlr::Controller::Options options;
    options.io_queues = 2;
    options.io_queue_depth = 8;
    auto c = start(options);
    ASSERT_NE(c, nullptr);
    constexpr int threads = 4, per_thread = 50;
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const auto lba = static_cast<std::uint64_t>(t * 1000 + i * 8);
                const auto data = pattern(4096, static_cast<unsigned>(t * 100 + i));
                auto w =
                    c->execute(ctrlr::QueueKind::io, rw_command(NvmOpcode::write, lba, 8,
                                                                ctrlr::DataBuffer::copy_of(data)));
                if (!w.ok()) {
                    ++failures;
                    continue;
                }
                auto r = c->execute(ctrlr::QueueKind::io,
                                    rw_command(NvmOpcode::read, lba, 8, ctrlr::DataBuffer(4096)));
                if (!r.ok() || std::memcmp(r.data.data(), data.data(), data.size()) != 0)
                    ++failures;
            }
        });
    }
    for (auto& th : pool)
        th.join();
    EXPECT_EQ(failures.load(), 0);
}

TEST(EmuControllerStackTest, ControllerStatusesArriveUnchanged)
{
    auto c = start();
    ASSERT_NE(c, nullptr);
    auto r = c->execute(ctrlr::QueueKind::io,
                        rw_command(NvmOpcode::read, 1ull << 40, 1, ctrlr::DataBuffer(512)));
    ASSERT_TRUE(r.completed()) << r.error.message();
    EXPECT_EQ(r.status, Status(GenericStatus::lba_out_of_range).with_dnr());
}

TEST(EmuControllerStackTest, DataSurvivesAControllerReset)
{
    auto c = start();
    ASSERT_NE(c, nullptr);
    const auto data = pattern(512, 42);
    ASSERT_TRUE(c->execute(ctrlr::QueueKind::io,
                           rw_command(NvmOpcode::write, 5, 1, ctrlr::DataBuffer::copy_of(data)))
                    .ok());
    std::promise<std::error_code> done;
    c->reset([&](std::error_code ec) { done.set_value(ec); });
    auto fut = done.get_future();
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_FALSE(fut.get());
    auto r =
        c->execute(ctrlr::QueueKind::io, rw_command(NvmOpcode::read, 5, 1, ctrlr::DataBuffer(512)));
    ASSERT_TRUE(r.ok()) << r.error.message() << " " << nvme::to_string(r.status);
    EXPECT_EQ(std::memcmp(r.data.data(), data.data(), data.size()), 0);
}

} // namespace
} // namespace nvmecuse::emu::testing
