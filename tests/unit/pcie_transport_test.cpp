// The PCIe transport (transport/pcie) against an in-process NVMe PCI
// function whose commands the emulated controller runs
// (fake_pci_function.hpp): bring-up through the core (AQA/ASQ/ACQ, CC.EN,
// Create I/O CQ/SQ), PRPs at every boundary (one page, two pages, lists,
// chained lists, unaligned starts), SGLs where Identify SGLS allows them
// (Data Blocks at every size, byte-aligned buffers, chained segments of
// memory in pieces), bouncing of heap buffers, queue wrap, reset, a
// controller left enabled by a killed owner, a stalled device (timeout,
// abort, reset) and surprise removal.
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
    EXPECT_EQ(function.sgl_commands, 0u) << "Identify SGLS 0: PRPs";
    EXPECT_EQ(function.dma_faults, 0u);
}

TEST_F(PcieStack, HeapBuffersAreBouncedAndReadBackIdentical)
{
    start();
    heap_write_then_read(7, 3 * 4096 + 512, 9);
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
    auto q = enable_by_hand(*t); // as the core does (tested above through the core)
    ASSERT_NE(q, nullptr);
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
        EXPECT_TRUE(run_polled(*q, w).is_success());
        std::memset(buffer->data(), 0, buffer->size());
        Request r = w;
        r.sqe = rw(nvme::NvmOpcode::read, 64, bytes);
        r.sqe.cid = cid++;
        r.direction = nvme::DataTransfer::controller_to_host;
        EXPECT_TRUE(run_polled(*q, r).is_success());
        EXPECT_EQ(std::memcmp(buffer->data() + offset, out.data(), bytes), 0);
        cid %= 7;
    }
    auto l = function.lock();
    EXPECT_EQ(function.dma_faults, 0u);
    EXPECT_EQ(function.max_prp_entries, 3u);
    EXPECT_EQ(function.sgl_commands, 0u) << "Identify SGLS 0: PRPs";
}

TEST(PcieTransportTest, ARepeatedCompletionLeavesTheSlotsCurrentCommandAlone)
{
    FakePciFunction function{{.config = config()}};
    auto t = make_transport(function, PcieOptions{});
    auto q = enable_by_hand(*t);
    ASSERT_NE(q, nullptr);
    // Heap buffers: bounced through DMA memory the slot holds until its
    // command completes.
    auto out = pattern(4096, 3);
    Request w;
    w.sqe = rw(nvme::NvmOpcode::write, 8, 4096);
    w.sqe.cid = 0x0000; // slot 0, generation 0
    w.direction = nvme::DataTransfer::host_to_controller;
    w.data = out;
    ASSERT_TRUE(run_polled(*q, w).is_success());

    {
        auto l = function.lock();
        function.stalled = true;
    }
    std::vector<std::byte> in(4096);
    Request r;
    r.sqe = rw(nvme::NvmOpcode::read, 8, 4096);
    r.sqe.cid = 0x1000; // slot 0 again, generation 1
    r.direction = nvme::DataTransfer::controller_to_host;
    r.data = in;
    ASSERT_TRUE(q->submit(r).has_value());
    function.repeat_completion(1, 0x0000);
    std::array<nvme::CompletionQueueEntry, 4> cqes{};
    ASSERT_EQ(q->reap(cqes), 1u) << "passed up: the core drops it";
    EXPECT_EQ(cqes[0].cid, 0x0000);
    Request again = r;
    again.sqe.cid = 0x2000;
    EXPECT_EQ(q->submit(again).error(), std::errc::invalid_argument)
        << "slot 0 still holds the read";

    function.resume();
    std::size_t n = 0;
    for (int i = 0; i < 1000 && n == 0; ++i)
        n = q->reap(cqes);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(cqes[0].cid, 0x1000);
    EXPECT_EQ(in, out) << "the read's bounce buffer was kept until its own completion";
}

TEST(PcieTransportTest, AControllerLeftEnabledWithLiveQueuesIsTakenOver)
{
    // The previous owner (a daemon SIGKILLed) enabled the controller,
    // created an I/O queue, wrote, and vanished: no CC.EN=0, no Delete.
    FakePciFunction function{{.config = config()}};
    const auto out = pattern(8192, 11);
    {
        auto t = make_transport(function, PcieOptions{});
        auto q = enable_by_hand(*t);
        ASSERT_NE(q, nullptr);
        auto buffer = t->memory().allocate(out.size());
        ASSERT_TRUE(buffer.has_value());
        std::memcpy(buffer->data(), out.data(), out.size());
        Request w;
        w.sqe = rw(nvme::NvmOpcode::write, 40, out.size());
        w.direction = nvme::DataTransfer::host_to_controller;
        w.data = buffer->span();
        EXPECT_TRUE(run_polled(*q, w).is_success());
    }
    {
        auto l = function.lock();
        ASSERT_TRUE(nvme::cc::En::get(function.cc)) << "left enabled";
        ASSERT_EQ(function.created_sqs, (std::set<std::uint16_t>{1}));
    }
    auto c = start_controller(function, "taken-over");
    ASSERT_TRUE(c.has_value()) << c.error().message();
    {
        auto l = function.lock();
        EXPECT_EQ(function.enables, 2) << "disabled, then enabled again";
        EXPECT_EQ(function.dma_faults, 0u);
    }
    auto in = (*c)->memory().allocate(out.size());
    ASSERT_TRUE(in.has_value());
    auto r = (*c)->execute(QueueKind::io,
                           Command::from_opcode(rw(nvme::NvmOpcode::read, 40, out.size()), std::move(*in)));
    ASSERT_TRUE(r.ok()) << r.error.message() << " " << nvme::to_string(r.status);
    EXPECT_EQ(std::memcmp(r.data.data(), out.data(), out.size()), 0);
}

// ---- SGLs ------------------------------------------------------------------

TEST_F(PcieSglStack, DataBlocksFromTheThresholdOnPrpsBelow)
{
    start(PcieOptions{.max_transfer = 4u << 20});
    // Below 32 KiB PRPs, as the kernel's driver sends them; from 32 KiB
    // on one Data Block in SGL1 (DMA buffers are contiguous), whatever the
    // size up to MDTS (4 MiB), no list.
    std::uint64_t slba = 0;
    const std::vector<std::size_t> sizes{512u, 4096u, 4608u, 12288u, 32256u, 32768u, 1u << 20, 4u << 20};
    for (std::size_t bytes : sizes) {
        SCOPED_TRACE(bytes);
        write_then_read(slba, bytes, static_cast<unsigned>(bytes));
        slba += bytes / 512;
    }
    auto l = function.lock();
    EXPECT_EQ(function.sgl_commands, 2 * 3u) << "32 KiB, 1 MiB, 4 MiB";
    EXPECT_EQ(function.max_prp_entries, 8u) << "32256 bytes from a page start";
    EXPECT_EQ(function.max_sgl_data_blocks, 1u);
    EXPECT_EQ(function.sgl_segments, 0u);
    EXPECT_EQ(function.dma_faults, 0u);
}

TEST_F(PcieSglStack, PrpsWhenSglsAreTurnedOff)
{
    start(PcieOptions{.sgls = false});
    write_then_read(0, 3 * 4096, 5);
    auto l = function.lock();
    EXPECT_EQ(function.sgl_commands, 0u);
    EXPECT_EQ(function.max_prp_entries, 3u);
}

TEST_F(PcieSglStack, HeapBuffersAreBouncedIntoOneDataBlock)
{
    start();
    heap_write_then_read(9, 9 * 4096 + 512, 6);
    auto l = function.lock();
    EXPECT_EQ(function.sgl_commands, 2u);
    EXPECT_EQ(function.max_sgl_data_blocks, 1u);
}

/// A write then a read of `bytes` at `offset` into a DMA buffer through
/// `q` (SGLs told by hand), the data compared.
void unaligned_round_trip(Transport& t, QueuePair& q, std::size_t offset, std::size_t bytes,
                          std::uint16_t& cid)
{
    SCOPED_TRACE(::testing::Message() << bytes << " bytes at offset " << offset);
    auto buffer = t.memory().allocate(offset + bytes);
    ASSERT_TRUE(buffer.has_value());
    const auto out = pattern(bytes, static_cast<unsigned>(offset + bytes));
    std::memcpy(buffer->data() + offset, out.data(), bytes);
    Request w;
    w.sqe = rw(nvme::NvmOpcode::write, 128, bytes);
    w.sqe.cid = cid;
    cid = static_cast<std::uint16_t>((cid + 1) % 7);
    w.direction = nvme::DataTransfer::host_to_controller;
    w.data = buffer->span().subspan(offset, bytes);
    EXPECT_TRUE(run_polled(q, w).is_success());
    std::memset(buffer->data(), 0, buffer->size());
    Request r = w;
    r.sqe = rw(nvme::NvmOpcode::read, 128, bytes);
    r.sqe.cid = cid;
    cid = static_cast<std::uint16_t>((cid + 1) % 7);
    r.direction = nvme::DataTransfer::controller_to_host;
    EXPECT_TRUE(run_polled(q, r).is_success());
    EXPECT_EQ(std::memcmp(buffer->data() + offset, out.data(), bytes), 0);
}

/// The transport over `function`, told that the controller takes SGLs
/// without alignment, with I/O queue 1 (4 MiB per command).
struct SglByHand {
    std::unique_ptr<Transport> t;
    std::unique_ptr<QueuePair> q;
    explicit SglByHand(FakePciFunction& function)
        : t(make_transport(function, PcieOptions{.max_transfer = 4u << 20}))
    {
        nvme::IdentifyController id{};
        id.sgls = 1;
        t->controller_identified(id);
        q = enable_by_hand(*t);
    }
};

TEST(PcieSglTest, ByteAlignedBuffersTakeSglsAsTheyAre)
{
    FakePciFunction function{{.config = config(10, true)}};
    SglByHand s(function);
    ASSERT_NE(s.q, nullptr);
    std::uint16_t cid = 0;
    // SGLS 01b: no alignment, so odd addresses take SGLs below the
    // threshold too and need no bounce (PRPs could not describe them).
    for (std::size_t offset : {1u, 3u, 511u, 4095u})
        unaligned_round_trip(*s.t, *s.q, offset, 2 * 4096, cid);
    // Dword aligned and below the threshold: PRPs.
    unaligned_round_trip(*s.t, *s.q, 4, 2 * 4096, cid);
    auto l = function.lock();
    EXPECT_EQ(function.sgl_commands, 8u);
    EXPECT_EQ(function.max_prp_entries, 3u);
    EXPECT_EQ(function.max_sgl_data_blocks, 1u);
    EXPECT_EQ(function.dma_faults, 0u);
}

TEST(PcieSglTest, MemoryInPiecesTakesChainedSegments)
{
    FakePciFunction function{{.config = config(10, true)}};
    SglByHand s(function);
    ASSERT_NE(s.q, nullptr);
    std::uint16_t cid = 0;
    {
        auto l = function.lock();
        function.identity_dma().contiguity = 4096; // every page its own piece
    }
    // 48 KiB at offset 512: 13 pieces, one Last Segment.
    unaligned_round_trip(*s.t, *s.q, 512, 48u << 10, cid);
    {
        auto l = function.lock();
        EXPECT_EQ(function.max_sgl_data_blocks, 13u);
        EXPECT_EQ(function.sgl_segments, 2u) << "one per command";
    }
    // 1 MiB page aligned: 256 pieces, exactly one full Last Segment page.
    unaligned_round_trip(*s.t, *s.q, 0, 1u << 20, cid);
    {
        auto l = function.lock();
        EXPECT_EQ(function.max_sgl_data_blocks, 256u);
        EXPECT_EQ(function.sgl_segments, 4u);
    }
    // 2 MiB at offset 512: 513 pieces, a Segment of 255 chaining to
    // another, then a Last Segment of 3.
    unaligned_round_trip(*s.t, *s.q, 512, 2u << 20, cid);
    {
        auto l = function.lock();
        EXPECT_EQ(function.max_sgl_data_blocks, 513u);
        EXPECT_EQ(function.sgl_segments, 4u + 2 * 3u);
    }
    // MDTS-sized, 4 MiB in 64 KiB pieces: 64 Data Blocks.
    function.identity_dma().contiguity = 64u << 10;
    unaligned_round_trip(*s.t, *s.q, 0, 4u << 20, cid);
    auto l = function.lock();
    EXPECT_EQ(function.sgl_segments, 4u + 6u + 2u);
    EXPECT_EQ(function.sgl_commands, 8u);
    EXPECT_EQ(function.dma_faults, 0u);
}

TEST(PcieSglTest, MorePiecesThanTheSegmentsHoldAreBounced)
{
    FakePciFunction function{{.config = config(10, true)}};
    SglByHand s(function);
    ASSERT_NE(s.q, nullptr);
    function.identity_dma().contiguity = 512; // 8192 pieces in 4 MiB: more than 3 pages hold
    std::uint16_t cid = 0;
    unaligned_round_trip(*s.t, *s.q, 0, 4u << 20, cid);
    auto l = function.lock();
    EXPECT_EQ(function.sgl_commands, 2u);
    EXPECT_EQ(function.max_sgl_data_blocks, 1u) << "one bounce buffer";
    EXPECT_EQ(function.sgl_segments, 0u);
}

TEST(PcieSglTest, ADeviceWithoutSglsRefusesThem)
{
    // The double honours Identify SGLS: told wrongly that it takes SGLs,
    // the transport's command fails rather than moving data.
    FakePciFunction function{{.config = config(10, false)}};
    SglByHand s(function);
    ASSERT_NE(s.q, nullptr);
    auto buffer = s.t->memory().allocate(32768);
    ASSERT_TRUE(buffer.has_value());
    Request r;
    r.sqe = rw(nvme::NvmOpcode::read, 0, 32768);
    r.direction = nvme::DataTransfer::controller_to_host;
    r.data = buffer->span();
    const auto status = run_polled(*s.q, r);
    EXPECT_EQ(status.sc, static_cast<std::uint8_t>(nvme::GenericStatus::invalid_field));
}

} // namespace
} // namespace nvmecuse::transport::pcie
