// Serving threads with I/O queue pairs of their own (Controller::Options::
// reactors): commands submitted on a reactor go to its lane and complete
// there, concurrently with other reactors; resets take the queues back and
// lend them again; nothing is lost on the way.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/reactor.hpp"
#include "nvmecuse/transport/emu/emulated_transport.hpp"

#include "emu_fixture.hpp"
#include "fake_transport.hpp"
#include "lane_writer.hpp"
#include "nvm_command.hpp"

namespace nvmecuse::ctrlr {
namespace {

using namespace std::chrono_literals;
using nvmecuse::testing::FakeState;
using nvmecuse::testing::FakeTransport;
using nvmecuse::testing::expect_written;
using nvmecuse::testing::Writer;
constexpr auto bounded = nvmecuse::testing::lane_bound;
constexpr std::uint32_t block = nvmecuse::testing::lane_block; // namespace 1 of the emulated test config

struct Lanes : ::testing::Test {
    std::vector<std::unique_ptr<Reactor>> reactors;
    std::unique_ptr<Controller> ctrl;

    void SetUp() override
    {
        for (unsigned i = 0; i < 2; ++i) {
            auto r = Reactor::start("test-r" + std::to_string(i), i);
            ASSERT_TRUE(r.has_value()) << r.error().message();
            reactors.push_back(std::move(*r));
        }
    }
    void TearDown() override
    {
        ctrl.reset(); // before the reactors it has lanes on
        reactors.clear();
    }

    Controller::Options options()
    {
        Controller::Options o;
        o.name = "lanes";
        o.io_queue_depth = 8; // small: the lanes' overflow is exercised
        for (auto& r : reactors)
            o.reactors.push_back(r.get());
        return o;
    }
    void start_emulated(std::uint16_t max_io_queues)
    {
        auto config = emu::testing::default_test_config();
        config.max_io_queues = max_io_queues;
        auto t = emu::make_transport(std::move(config));
        ASSERT_TRUE(t.has_value());
        auto c = Controller::start(std::move(*t), options());
        ASSERT_TRUE(c.has_value()) << c.error().message();
        ctrl = std::move(*c);
    }
};

TEST_F(Lanes, EachReactorIssuesOnItsOwnQueuePairConcurrently)
{
    start_emulated(8);
    constexpr int count = 400;
    Writer a{*ctrl, *reactors[0], 0, 0, count};
    Writer b{*ctrl, *reactors[1], 1, 1000, count};
    auto fa = a.done.get_future();
    auto fb = b.done.get_future();
    a.start(16); // twice the queue depth: some wait in the lane's overflow
    b.start(16);
    ASSERT_EQ(fa.wait_for(bounded), std::future_status::ready);
    ASSERT_EQ(fb.wait_for(bounded), std::future_status::ready);
    EXPECT_EQ(a.failed, 0);
    EXPECT_EQ(b.failed, 0);
    // End to end on the submitting thread: no completion went via the owner.
    EXPECT_EQ(a.on_reactor, count);
    EXPECT_EQ(b.on_reactor, count);
    expect_written(*ctrl, 0, 0, count);
    expect_written(*ctrl, 1, 1000, count);
}

TEST_F(Lanes, AReactorWithoutAQueuePairGoesThroughTheOwner)
{
    start_emulated(2); // queue 1 for the owner, queue 2 for reactor 0's lane
    constexpr int count = 50;
    Writer a{*ctrl, *reactors[0], 0, 0, count};
    Writer b{*ctrl, *reactors[1], 1, 1000, count};
    ASSERT_TRUE(run_both(a, b, 4));
    EXPECT_EQ(a.on_reactor, count);
    EXPECT_EQ(b.on_reactor, 0); // completed on the owner thread
    EXPECT_EQ(b.failed, 0);
    expect_written(*ctrl, 1, 1000, count);
}

TEST_F(Lanes, ResetsUnderLoadLoseNoCompletionAndLendTheQueuesAgain)
{
    start_emulated(8);
    Writer a{*ctrl, *reactors[0], 0, 0, INT32_MAX};
    Writer b{*ctrl, *reactors[1], 1, 40000, INT32_MAX};
    a.start(8);
    b.start(8);
    const auto deadline = std::chrono::steady_clock::now() + bounded;
    while ((a.completed < 100 || b.completed < 100) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    for (int i = 0; i < 3; ++i) {
        std::promise<std::error_code> reset;
        auto f = reset.get_future();
        ctrl->reset([&](std::error_code ec) { reset.set_value(ec); });
        ASSERT_EQ(f.wait_for(bounded), std::future_status::ready);
        EXPECT_FALSE(f.get());
    }
    // Every handler ran exactly once, whether a reset canceled its command
    // or not, and the writers went on through the resets.
    ASSERT_TRUE(a.stop_and_drain()) << a.submitted << " submitted, " << a.completed << " completed";
    ASSERT_TRUE(b.stop_and_drain()) << b.submitted << " submitted, " << b.completed << " completed";
    // After the resets the lanes have queues again: a new round completes
    // on the reactors.
    Writer c{*ctrl, *reactors[0], 0, 0, 20};
    auto fc = c.done.get_future();
    c.start(1);
    ASSERT_EQ(fc.wait_for(bounded), std::future_status::ready);
    EXPECT_EQ(c.on_reactor, 20);
    EXPECT_EQ(c.failed, 0);
}

TEST(LanesTimeout, ALaneCommandTimesOutAndIsAborted)
{
    auto fake = std::make_shared<FakeState>();
    fake->concurrent_queues = true;
    fake->completion_fds = true;
    fake->granted_io_queues = 4;
    fake->io_mode = FakeState::IoMode::hold;
    auto reactor = Reactor::start("test-r0", 0);
    ASSERT_TRUE(reactor.has_value());
    Controller::Options o;
    o.name = "lanes";
    o.io_timeout = 200ms;
    o.reactors = {reactor->get()};
    auto c = Controller::start(std::make_unique<FakeTransport>(fake), std::move(o));
    ASSERT_TRUE(c.has_value()) << c.error().message();
    std::promise<std::pair<std::error_code, bool>> outcome;
    auto f = outcome.get_future();
    Reactor* r = reactor->get();
    r->post([&] {
        (*c)->submit(QueueKind::io, nvmecuse::testing::read_write(nvme::NvmOpcode::read, 0, DataBuffer::zeroed(block)),
                     [&](Result&& res) { outcome.set_value({res.error, Reactor::current() == r}); });
    });
    ASSERT_EQ(f.wait_for(bounded), std::future_status::ready);
    const auto [error, on_reactor] = f.get();
    EXPECT_EQ(error, std::errc::timed_out);
    EXPECT_TRUE(on_reactor);
    // The owner aborts it on the lane's queue (the highest qid: lanes get
    // the last queues).
    const auto deadline = std::chrono::steady_clock::now() + bounded;
    bool aborted = false;
    while (!aborted && std::chrono::steady_clock::now() < deadline) {
        {
            auto l = fake->lock();
            for (const auto& s : fake->submitted)
                aborted |= s.qid == 0 && s.sqe.opc == static_cast<std::uint8_t>(
                                                         nvme::AdminOpcode::abort) &&
                           (s.sqe.cdw10 & 0xffff) == 2;
        }
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(aborted);
    c->reset(); // before the reactor
}

} // namespace
} // namespace nvmecuse::ctrlr
