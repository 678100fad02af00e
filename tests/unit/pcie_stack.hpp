// The core over the PCIe transport over the in-process PCI function
// (fake_pci_function.hpp), and the helpers the PCIe tests share.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <expected>
#include <string>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/transport/pcie/pcie_transport.hpp"

#include "fake_pci_function.hpp"

namespace nvmecuse::transport::pcie::test {

using namespace std::chrono_literals;
using ctrlr::Command;
using ctrlr::Controller;
using ctrlr::QueueKind;
using testing::FakePciFunction;

inline emu::ControllerConfig config(std::uint8_t mdts = 10, bool sgls = false)
{
    emu::ControllerConfig c;
    c.mdts = mdts; // 4 MiB
    c.sgls = sgls;
    emu::NamespaceConfig ns;
    ns.nsid = 1;
    ns.size_bytes = 64ull << 20;
    ns.lba_data_size = 512;
    c.namespaces = {ns};
    return c;
}

inline std::vector<std::byte> pattern(std::size_t n, unsigned seed)
{
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::byte>((i * 131 + seed * 17 + (i >> 12)) & 0xff);
    return v;
}

inline nvme::SubmissionQueueEntry rw(nvme::NvmOpcode opc, std::uint64_t slba, std::size_t bytes)
{
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(opc);
    s.nsid = 1;
    nvme::cmd::rw::set_slba(s, slba);
    nvme::cmd::rw::set_num_blocks(s, static_cast<std::uint32_t>(bytes / 512));
    return s;
}

/// The core with two 16-deep I/O queues over the PCIe transport over `function`.
inline std::expected<std::unique_ptr<Controller>, std::error_code>
start_controller(PciFunction& function, const std::string& name, PcieOptions o = {},
                 std::chrono::milliseconds timeout = 300ms)
{
    Controller::Options co;
    co.name = name;
    co.io_queues = 2;
    co.io_queue_depth = 16;
    co.io_timeout = timeout;
    co.admin_timeout = timeout;
    return Controller::start(make_transport(function, o), co);
}

/// The core over the PCIe transport over the fake function.
struct PcieStack : ::testing::Test {
    explicit PcieStack(emu::ControllerConfig c = config())
        : function{{.mqes = 255, .dstrd = 1, .config = std::move(c)}}
    {
    }
    FakePciFunction function;
    std::unique_ptr<Controller> ctrl;

    void start(PcieOptions o = {}, std::chrono::milliseconds timeout = 300ms)
    {
        auto c = start_controller(function, "pcie-test", o, timeout);
        ASSERT_TRUE(c.has_value()) << c.error().message();
        ctrl = std::move(*c);
    }

    /// A buffer from the transport's DMA memory holding `bytes`.
    DataBuffer dma_copy(std::span<const std::byte> bytes)
    {
        auto b = ctrl->memory().allocate(bytes.size());
        EXPECT_TRUE(b.has_value());
        std::memcpy(b->data(), bytes.data(), bytes.size());
        return std::move(*b);
    }

    void write_then_read(std::uint64_t slba, std::size_t bytes, unsigned seed)
    {
        const auto out = pattern(bytes, seed);
        auto w = ctrl->execute(QueueKind::io,
                               Command::from_opcode(rw(nvme::NvmOpcode::write, slba, bytes),
                                                    dma_copy(out)));
        ASSERT_TRUE(w.ok()) << w.error.message() << " " << nvme::to_string(w.status);
        auto in = ctrl->memory().allocate(bytes);
        ASSERT_TRUE(in.has_value());
        auto r = ctrl->execute(QueueKind::io, Command::from_opcode(
                                                  rw(nvme::NvmOpcode::read, slba, bytes), std::move(*in)));
        ASSERT_TRUE(r.ok()) << r.error.message() << " " << nvme::to_string(r.status);
        EXPECT_EQ(std::memcmp(r.data.data(), out.data(), bytes), 0) << bytes << " bytes";
    }

    /// The same from heap buffers (not DMA memory: the transport bounces them).
    void heap_write_then_read(std::uint64_t slba, std::size_t bytes, unsigned seed)
    {
        const auto out = pattern(bytes, seed);
        auto w = ctrl->execute(QueueKind::io, Command::from_opcode(rw(nvme::NvmOpcode::write, slba, bytes),
                                                                   DataBuffer::copy_of(out)));
        ASSERT_TRUE(w.ok()) << w.error.message() << " " << nvme::to_string(w.status);
        auto r = ctrl->execute(QueueKind::io, Command::from_opcode(rw(nvme::NvmOpcode::read, slba, bytes),
                                                                   DataBuffer::zeroed(bytes)));
        ASSERT_TRUE(r.ok()) << r.error.message() << " " << nvme::to_string(r.status);
        EXPECT_EQ(std::memcmp(r.data.data(), out.data(), bytes), 0);
        EXPECT_EQ(r.data.device_address(), 0u) << "the caller's heap buffer, filled from the bounce";
    }
};

/// The same over a controller whose Identify SGLS says it takes SGLs.
struct PcieSglStack : PcieStack {
    PcieSglStack() : PcieStack(config(10, true)) {}
};

/// What the core does to bring `t` up, by hand: CC.EN with the admin
/// queue, Number of Queues, then I/O queue 1 of `entries`.
inline std::unique_ptr<QueuePair> enable_by_hand(Transport& t, std::uint16_t entries = 8)
{
    EXPECT_TRUE(t.connect_admin().has_value());
    const auto aq = t.admin_queue_registers();
    EXPECT_TRUE(aq.has_value());
    if (!aq) return nullptr;
    t.write_register(nvme::reg_offset::aqa, aq->aqa);
    t.write_register(nvme::reg_offset::asq, aq->asq);
    t.write_register(nvme::reg_offset::acq, aq->acq);
    t.write_register(nvme::reg_offset::cc, nvme::cc::En::set(0, true));
    EXPECT_TRUE(nvme::csts::Rdy::get(static_cast<std::uint32_t>(t.read_register(nvme::reg_offset::csts))));
    Request nq;
    nq.sqe.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::set_features);
    nq.sqe.cdw10 = static_cast<std::uint32_t>(nvme::FeatureId::number_of_queues);
    EXPECT_TRUE(t.admin_queue().submit(nq).has_value());
    std::array<nvme::CompletionQueueEntry, 4> cqes{};
    EXPECT_EQ(t.admin_queue().reap(cqes), 1u);
    auto q = t.create_io_queue(1, entries);
    EXPECT_TRUE(q.has_value()) << q.error().message();
    return q ? std::move(*q) : nullptr;
}

/// `request` on `q`, polled to its completion's status.
inline nvme::Status run_polled(QueuePair& q, const Request& request)
{
    EXPECT_TRUE(q.submit(request).has_value());
    std::array<nvme::CompletionQueueEntry, 4> cqes{};
    std::size_t n = 0;
    for (int i = 0; i < 1000 && n == 0; ++i)
        n = q.reap(cqes);
    EXPECT_EQ(n, 1u);
    return n == 0 ? nvme::Status(nvme::GenericStatus::internal_error) : nvme::status_of(cqes[0]);
}

} // namespace nvmecuse::transport::pcie::test
