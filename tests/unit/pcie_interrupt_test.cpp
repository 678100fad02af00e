// The PCIe transport's interrupts and hot removal, against the in-process
// PCI function (fake_pci_function.hpp): a queue per MSI-X vector (IEN and
// IV in Create I/O CQ), an idle controller that sleeps until the
// completion's interrupt instead of polling, the fallback to polling
// without MSI-X, and the platform's request for the device back (vfio-pci's
// VFIO_PCI_REQ_IRQ_INDEX): the device is released, everything fails with
// no_such_device at once, and another controller keeps working. Serving
// threads drive I/O queue pairs of their own at once, each on its vector.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>

#include "nvmecuse/ctrlr/reactor.hpp"

#include "pcie_stack.hpp"

namespace nvmecuse::transport::pcie {
namespace {

using namespace test; // the fixture, its helpers and names (pcie_stack.hpp)

/// CPU time used so far by this process's threads named `name`
/// (/proc/self/task/*/schedstat: nanoseconds on a CPU).
std::chrono::nanoseconds cpu_time_of_threads(const std::string& name)
{
    std::chrono::nanoseconds total{0};
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::string comm;
        std::ifstream(task.path() / "comm") >> comm;
        if (comm != name) continue;
        std::int64_t ns = 0;
        std::ifstream(task.path() / "schedstat") >> ns;
        total += std::chrono::nanoseconds(ns);
    }
    return total;
}

/// A 4 KiB read of LBA `slba` whose result arrives in the future.
std::future<ctrlr::Result> read_async(Controller& ctrl, std::uint64_t slba)
{
    auto p = std::make_shared<std::promise<ctrlr::Result>>();
    auto f = p->get_future();
    auto buffer = ctrl.memory().allocate(4096);
    EXPECT_TRUE(buffer.has_value());
    ctrl.submit(QueueKind::io,
                Command::from_opcode(rw(nvme::NvmOpcode::read, slba, 4096), std::move(*buffer)),
                [p](ctrlr::Result&& r) { p->set_value(std::move(r)); });
    return f;
}

TEST_F(PcieStack, EachQueueInterruptsOnItsOwnVector)
{
    start();
    {
        auto l = function.lock();
        EXPECT_EQ(function.cq_vectors, (std::map<std::uint16_t, int>{{1, 1}, {2, 2}}))
            << "Create I/O CQ n: IEN set, IV n";
    }
    write_then_read(0, 8192, 1);
    write_then_read(16, 8192, 2); // the other I/O queue (round robin)
    auto l = function.lock();
    EXPECT_GE(function.interrupts, 4u);
}

TEST_F(PcieStack, AnIdleControllerSleepsUntilTheCompletionInterrupt)
{
    start({}, 10s);
    {
        auto l = function.lock();
        function.stalled = true; // the device holds the next command
    }
    auto pending = read_async(*ctrl, 0);
    std::this_thread::sleep_for(50ms); // submitted, the owner gone to sleep
    const auto before = cpu_time_of_threads("pcie-test");
    ASSERT_EQ(pending.wait_for(300ms), std::future_status::timeout);
    const auto burnt = cpu_time_of_threads("pcie-test") - before;
    // Polling the outstanding command would have kept the owner on a CPU
    // for most of those 300 ms.
    EXPECT_LT(burnt, 30ms) << "the owner thread polled instead of sleeping on the interrupt";
    function.resume(); // the completion and its interrupt come from this thread
    ASSERT_EQ(pending.wait_for(2s), std::future_status::ready) << "the interrupt did not wake the owner";
    EXPECT_TRUE(pending.get().ok());
}

TEST(PcieInterruptTest, WithoutMsixEveryQueueIsPolled)
{
    FakePciFunction function{{.config = config(), .msix_vectors = 0}};
    auto ctrl = start_controller(function, "pcie-polled");
    ASSERT_TRUE(ctrl.has_value()) << ctrl.error().message();
    for (std::uint64_t slba : {0u, 8u, 16u}) {
        auto r = read_async(**ctrl, slba);
        ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
        EXPECT_TRUE(r.get().ok());
    }
    auto l = function.lock();
    EXPECT_EQ(function.cq_vectors, (std::map<std::uint16_t, int>{{1, -1}, {2, -1}})) << "IEN clear";
    EXPECT_EQ(function.interrupts, 0u);
}

TEST(PcieInterruptTest, QueuesBeyondTheVectorsArePolled)
{
    FakePciFunction function{{.config = config(), .msix_vectors = 2}};
    auto ctrl = start_controller(function, "pcie-2vectors");
    ASSERT_TRUE(ctrl.has_value()) << ctrl.error().message();
    for (std::uint64_t slba : {0u, 8u, 16u, 24u}) { // both I/O queues, twice
        auto r = read_async(**ctrl, slba);
        ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
        EXPECT_TRUE(r.get().ok());
    }
    auto l = function.lock();
    EXPECT_EQ(function.cq_vectors, (std::map<std::uint16_t, int>{{1, 1}, {2, -1}}));
}

TEST(PcieInterruptTest, ServingThreadsDriveQueuePairsOfTheirOwnAtOnce)
{
    FakePciFunction function{{.config = config()}};
    std::vector<std::unique_ptr<ctrlr::Reactor>> reactors;
    for (unsigned i = 0; i < 2; ++i) {
        auto r = ctrlr::Reactor::start("pcie-r" + std::to_string(i), i);
        ASSERT_TRUE(r.has_value()) << r.error().message();
        reactors.push_back(std::move(*r));
    }
    Controller::Options co;
    co.name = "pcie-lanes";
    co.io_queue_depth = 8; // small: the lanes' overflow is exercised too
    for (auto& r : reactors)
        co.reactors.push_back(r.get());
    auto ctrl = Controller::start(make_transport(function), co);
    ASSERT_TRUE(ctrl.has_value()) << ctrl.error().message();
    {
        auto l = function.lock();
        EXPECT_EQ(function.cq_vectors, (std::map<std::uint16_t, int>{{1, 1}, {2, 2}, {3, 3}}))
            << "the owner's queue and one per serving thread, each on its vector";
    }
    // Both serving threads read at once, each through its own queue pair.
    constexpr int per_reactor = 64;
    struct Tally {
        std::atomic<int> completed{0}, ok{0}, on_reactor{0};
        std::promise<void> done;
    };
    std::array<Tally, 2> tallies;
    for (unsigned i = 0; i < reactors.size(); ++i) {
        reactors[i]->post([&, i] {
            for (int k = 0; k < per_reactor; ++k) {
                auto buffer = (*ctrl)->memory().allocate(4096);
                ASSERT_TRUE(buffer.has_value());
                (*ctrl)->submit(QueueKind::io,
                                Command::from_opcode(rw(nvme::NvmOpcode::read, 8u * k, 4096),
                                                     std::move(*buffer)),
                                [&, i](ctrlr::Result&& r) {
                                    Tally& t = tallies[i];
                                    if (r.ok()) ++t.ok;
                                    if (ctrlr::Reactor::current() == reactors[i].get()) ++t.on_reactor;
                                    if (++t.completed == per_reactor) t.done.set_value();
                                });
            }
        });
    }
    for (auto& t : tallies) {
        ASSERT_EQ(t.done.get_future().wait_for(10s), std::future_status::ready);
        EXPECT_EQ(t.ok, per_reactor);
        EXPECT_EQ(t.on_reactor, per_reactor) << "completed on the serving thread that submitted";
    }
    ctrl->reset(); // before the reactors it has lanes on
    reactors.clear();
}

TEST_F(PcieStack, ARemovalRequestReleasesTheDeviceAndFailsEverythingAtOnce)
{
    start({}, 10s);
    FakePciFunction other_function{{.config = config()}};
    auto other = start_controller(other_function, "pcie-other");
    ASSERT_TRUE(other.has_value()) << other.error().message();
    write_then_read(0, 4096, 3);
    {
        auto l = function.lock();
        function.stalled = true;
    }
    auto outstanding = read_async(*ctrl, 0);
    std::this_thread::sleep_for(50ms);
    const auto t0 = std::chrono::steady_clock::now();
    function.request_release();
    // Not after the 10 s timeout: the request fails it at once.
    ASSERT_EQ(outstanding.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(outstanding.get().error, std::errc::no_such_device);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    {
        auto l = function.lock();
        EXPECT_TRUE(function.released) << "the device handles were let go";
    }
    auto later = read_async(*ctrl, 0);
    ASSERT_EQ(later.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(later.get().error, std::errc::no_such_device);
    nvme::SubmissionQueueEntry keep_alive{};
    keep_alive.opc = static_cast<std::uint8_t>(nvme::AdminOpcode::keep_alive);
    auto admin = ctrl->execute(QueueKind::admin, Command::from_opcode(keep_alive));
    EXPECT_EQ(admin.error, std::errc::no_such_device);
    std::promise<std::error_code> reset;
    ctrl->reset([&](std::error_code ec) { reset.set_value(ec); });
    auto reset_done = reset.get_future();
    ASSERT_EQ(reset_done.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(reset_done.get(), std::errc::no_such_device) << "nothing brings it back";
    // The other controller is untouched.
    auto r = read_async(**other, 8);
    ASSERT_EQ(r.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(r.get().ok());
    const auto t1 = std::chrono::steady_clock::now();
    ctrl.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t1, 2s) << "stopping a removed controller";
}

TEST_F(PcieStack, ARemovalRequestWhileFailedStillReleasesTheDevice)
{
    start();
    {
        auto l = function.lock();
        function.removed = true; // CSTS reads all ones: the reset fails
    }
    std::promise<std::error_code> reset;
    ctrl->reset([&](std::error_code ec) { reset.set_value(ec); });
    auto reset_done = reset.get_future();
    ASSERT_EQ(reset_done.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(reset_done.get(), std::errc::no_such_device);
    function.request_release();
    for (int i = 0; i < 200; ++i) {
        {
            auto l = function.lock();
            if (function.released) break;
        }
        std::this_thread::sleep_for(10ms);
    }
    auto l = function.lock();
    EXPECT_TRUE(function.released) << "a failed controller must still let the device go";
}

} // namespace
} // namespace nvmecuse::transport::pcie
