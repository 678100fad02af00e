// The PCIe transport (transport/pcie) against an in-process NVMe PCI
// function whose commands the emulated controller runs
// (fake_pci_function.hpp): bring-up through the core (AQA/ASQ/ACQ, CC.EN,
// Create I/O CQ/SQ), PRPs at every boundary (one page, two pages, lists,
// chained lists, unaligned starts), bouncing of heap buffers, queue wrap,
// reset, a stalled device (timeout, abort, reset) and surprise removal.
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <numeric>
#include <vector>

#include "pcie_stack.hpp"

namespace nvmecuse::transport::pcie {
namespace {

using namespace test; // the fixture, its helpers and names (pcie_stack.hpp)

TEST_F(PcieStack, BringUpProgramsTheAdminQueueAndCreatesIoQueues)
{
    start();
    auto l = function.lock();
    EXPECT_EQ(function.enables, 1);
    EXPECT_EQ(function.aqa, (31u << 16) | 31u) << "32-entry admin queues, 0's based";
    EXPECT_NE(function.asq, 0u);
    EXPECT_EQ(function.asq % 4096, 0u);
    EXPECT_EQ(function.acq % 4096, 0u);
    EXPECT_TRUE(nvme::cc::En::get(function.cc));
    EXPECT_EQ(function.created_sqs, (std::set<std::uint16_t>{1, 2}));
    EXPECT_EQ(function.dma_faults, 0u);
    l.unlock();
    const auto info = ctrl->info();
    ASSERT_EQ(info->namespaces.size(), 1u);
    EXPECT_EQ(info->namespaces.at(1).lba_data_size, 512u);
    EXPECT_EQ(ctrl->transport_info().name, "pcie 0000:00:04.0");
    EXPECT_EQ(info->max_transfer, 2u << 20) << "MDTS allows 4 MiB, the PRP lists 2 MiB";
}

TEST_F(PcieStack, PrpsAtEveryBoundary)
{
    start(PcieOptions{.max_transfer = 4u << 20});
    // One page, exactly two, a list, a full list page (2 MiB: 512 list
    // entries), and past it (chained list pages).
    std::uint64_t slba = 0;
    for (std::size_t bytes : {512u, 4096u, 4608u, 8192u, 12288u, 1u << 20, 2u << 20, 4u << 20}) {
        SCOPED_TRACE(bytes);
        write_then_read(slba, bytes, static_cast<unsigned>(bytes));
        slba += bytes / 512;
    }
    auto l = function.lock();
    EXPECT_EQ(function.max_prp_entries, 1024u);
    EXPECT_GE(function.chained_lists, 2u) << "4 MiB needs two chained list pages";
    EXPECT_EQ(function.dma_faults, 0u);
}

TEST_F(PcieStack, HeapBuffersAreBouncedAndReadBackIdentical)
{
    start();
    const auto out = pattern(3 * 4096 + 512, 9);
    auto w = ctrl->execute(QueueKind::io, Command::from_opcode(rw(nvme::NvmOpcode::write, 7, out.size()),
                                                               DataBuffer::copy_of(out)));
    ASSERT_TRUE(w.ok());
    auto r = ctrl->execute(QueueKind::io, Command::from_opcode(rw(nvme::NvmOpcode::read, 7, out.size()),
                                                               DataBuffer::zeroed(out.size())));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::memcmp(r.data.data(), out.data(), out.size()), 0);
    EXPECT_EQ(r.data.device_address(), 0u) << "the caller's heap buffer, filled from the bounce";
}

TEST_F(PcieStack, QueuesWrapManyTimes)
{
    start();
    // 16-deep I/O queues (17 entries): 200 commands wrap each ring and
    // invert the phase tag many times; many in flight at once.
    std::vector<std::future<ctrlr::Result>> pending;
    for (int i = 0; i < 200; ++i) {
        auto p = std::make_shared<std::promise<ctrlr::Result>>();
        pending.push_back(p->get_future());
        auto buf = ctrl->memory().allocate(4096);
        ASSERT_TRUE(buf.has_value());
        ctrl->submit(QueueKind::io,
                     Command::from_opcode(rw(nvme::NvmOpcode::read, static_cast<std::uint64_t>(i) * 8, 4096),
                                          std::move(*buf)),
                     [p](ctrlr::Result&& r) { p->set_value(std::move(r)); });
    }
    for (auto& f : pending) {
        ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
        EXPECT_TRUE(f.get().ok());
    }
    auto l = function.lock();
    EXPECT_GE(function.commands, 200u);
}

TEST_F(PcieStack, ResetKeepsTheDataAndRecreatesTheQueues)
{
    start();
    write_then_read(100, 8192, 1);
    std::promise<std::error_code> done;
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(f.get());
    {
        auto l = function.lock();
        EXPECT_EQ(function.enables, 2);
    }
    auto in = ctrl->memory().allocate(8192);
    ASSERT_TRUE(in.has_value());
    auto r = ctrl->execute(QueueKind::io,
                           Command::from_opcode(rw(nvme::NvmOpcode::read, 100, 8192), std::move(*in)));
    ASSERT_TRUE(r.ok());
    const auto expected = pattern(8192, 1);
    EXPECT_EQ(std::memcmp(r.data.data(), expected.data(), expected.size()), 0);
}

TEST_F(PcieStack, AStalledDeviceTimesOutThenTheResetRecoversIt)
{
    start();
    {
        auto l = function.lock();
        function.stalled = true; // doorbells ignored until CC.EN=0
    }
    auto in = ctrl->memory().allocate(4096);
    ASSERT_TRUE(in.has_value());
    auto r = ctrl->execute(QueueKind::io,
                           Command::from_opcode(rw(nvme::NvmOpcode::read, 0, 4096), std::move(*in)));
    EXPECT_EQ(r.error, std::errc::timed_out);
    // The Abort is not answered either: the core resets, which revives it.
    for (int i = 0; i < 300; ++i) {
        {
            auto l = function.lock();
            if (function.enables >= 2) break;
        }
        std::this_thread::sleep_for(10ms);
    }
    {
        auto l = function.lock();
        EXPECT_GE(function.enables, 2);
    }
    write_then_read(3, 4096, 4);
}

TEST_F(PcieStack, SurpriseRemovalFailsCleanlyAndNothingHangs)
{
    start();
    write_then_read(0, 4096, 2);
    {
        auto l = function.lock();
        function.removed = true; // reads all ones from now on
    }
    std::promise<std::error_code> done;
    ctrl->reset([&](std::error_code ec) { done.set_value(ec); });
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(f.get(), std::errc::no_such_device);
    auto in = ctrl->memory().allocate(4096);
    ASSERT_TRUE(in.has_value());
    auto r = ctrl->execute(QueueKind::io,
                           Command::from_opcode(rw(nvme::NvmOpcode::read, 0, 4096), std::move(*in)));
    EXPECT_EQ(r.error, std::errc::no_such_device) << "what the CUSE nodes answer with ENODEV";
    const auto t0 = std::chrono::steady_clock::now();
    ctrl.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(PcieTransportTest, ARemovedDeviceIsNoSuchDeviceAtStart)
{
    FakePciFunction function{{.config = config()}};
    {
        auto l = function.lock();
        function.removed = true;
    }
    auto c = Controller::start(make_transport(function), {});
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), std::errc::no_such_device);
}

TEST(PcieTransportTest, UnalignedStartsNeedNoBounce)
{
    FakePciFunction function{{.config = config()}};
    auto t = make_transport(function, PcieOptions{});
    // Enabled by hand, as the core does (tested above through the core).
    ASSERT_TRUE(t->connect_admin().has_value());
    const auto aq = t->admin_queue_registers();
    ASSERT_TRUE(aq.has_value());
    t->write_register(nvme::reg_offset::aqa, aq->aqa);
    t->write_register(nvme::reg_offset::asq, aq->asq);
    t->write_register(nvme::reg_offset::acq, aq->acq);
    t->write_register(nvme::reg_offset::cc, nvme::cc::En::set(0, true));
    ASSERT_TRUE(nvme::csts::Rdy::get(static_cast<std::uint32_t>(t->read_register(nvme::reg_offset::csts))));
    // Number of Queues, then one I/O queue.
    Request nq;
    nq.sqe.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::set_features);
    nq.sqe.cdw10 = static_cast<std::uint32_t>(nvme::FeatureId::number_of_queues);
    ASSERT_TRUE(t->admin_queue().submit(nq).has_value());
    std::array<nvme::CompletionQueueEntry, 4> cqes{};
    ASSERT_EQ(t->admin_queue().reap(cqes), 1u);
    auto q = t->create_io_queue(1, 8);
    ASSERT_TRUE(q.has_value()) << q.error().message();
    auto buffer = t->memory().allocate(3 * 4096);
    ASSERT_TRUE(buffer.has_value());
    std::uint16_t cid = 0;
    for (std::size_t offset : {4u, 512u, 2048u, 4092u - 508u}) {
        SCOPED_TRACE(offset);
        const std::size_t bytes = 2 * 4096; // crosses two or three pages
        const auto out = pattern(bytes, static_cast<unsigned>(offset));
        std::memcpy(buffer->data() + offset, out.data(), bytes);
        Request w;
        w.sqe = rw(nvme::NvmOpcode::write, 64, bytes);
        w.sqe.cid = cid++;
        w.direction = nvme::DataTransfer::host_to_controller;
        w.data = buffer->span().subspan(offset, bytes);
        ASSERT_TRUE((*q)->submit(w).has_value());
        ASSERT_EQ((*q)->reap(cqes), 1u);
        EXPECT_TRUE(nvme::status_of(cqes[0]).is_success());
        std::memset(buffer->data(), 0, buffer->size());
        Request r = w;
        r.sqe = rw(nvme::NvmOpcode::read, 64, bytes);
        r.sqe.cid = cid++;
        r.direction = nvme::DataTransfer::controller_to_host;
        ASSERT_TRUE((*q)->submit(r).has_value());
        ASSERT_EQ((*q)->reap(cqes), 1u);
        EXPECT_TRUE(nvme::status_of(cqes[0]).is_success());
        EXPECT_EQ(std::memcmp(buffer->data() + offset, out.data(), bytes), 0);
        cid %= 8;
    }
    auto l = function.lock();
    EXPECT_EQ(function.dma_faults, 0u);
    EXPECT_EQ(function.max_prp_entries, 3u);
}

} // namespace
} // namespace nvmecuse::transport::pcie
