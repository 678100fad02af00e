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
#include "nvm_command.hpp"

namespace nvmecuse::ctrlr {
namespace {

using namespace std::chrono_literals;
using nvmecuse::testing::FakeState;
using nvmecuse::testing::FakeTransport;
constexpr auto bounded = 10s;
constexpr std::uint32_t block = 512; // namespace 1 of the emulated test config

/// The block a reactor writes at `lba`: its index and the lba in every byte pair.
DataBuffer pattern(unsigned reactor, std::uint64_t lba)
{
    auto b = DataBuffer::zeroed(block);
    for (std::uint32_t i = 0; i < block; i += 2) {
        b.span()[i] = static_cast<std::byte>(reactor + 1);
        b.span()[i + 1] = static_cast<std::byte>(lba);
    }
    return b;
}

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

/// Writes `count` blocks from one reactor (or until stopped), `depth` at a
/// time, each next one submitted from the previous one's handler (where a
/// serving thread submits: on its own thread).
struct Writer {
    Writer(Controller& c, Reactor& r, unsigned i, std::uint64_t lba, int n)
        : ctrl(c), reactor(r), index(i), first_lba(lba), count(n)
    {
    }
    Controller& ctrl;
    Reactor& reactor;
    unsigned index;
    std::uint64_t first_lba;
    int count;
    std::atomic<bool> stopped{false};
    std::atomic<int> issued{0}, submitted{0}, completed{0}, on_reactor{0}, failed{0};
    std::promise<void> done;

    void start(int depth)
    {
        reactor.post([this, depth] {
            for (int i = 0; i < depth; ++i)
                issue();
        });
    }
    void issue()
    {
        if (stopped) return;
        const int i = issued.fetch_add(1);
        if (i >= count) return;
        const std::uint64_t lba = first_lba + static_cast<std::uint64_t>(i % 20000);
        ++submitted;
        ctrl.submit(QueueKind::io, nvmecuse::testing::read_write(nvme::NvmOpcode::write, lba, pattern(index, lba)),
                    [this](Result&& r) {
                        if (Reactor::current() == &reactor) ++on_reactor;
                        if (!r.ok()) ++failed;
                        issue();
                        // Last: the test may destroy the Writer once done.
                        if (completed.fetch_add(1) + 1 == count) done.set_value();
                    });
    }
    /// Stops issuing; true once every submitted command completed once.
    bool stop_and_drain()
    {
        stopped = true;
        const auto deadline = std::chrono::steady_clock::now() + bounded;
        while (completed != submitted && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(20ms); // a second completion would show now
        return completed == submitted;
    }
};

void expect_written(Controller& ctrl, unsigned index, std::uint64_t first_lba, int count)
{
    for (int i = 0; i < count; ++i) {
        const std::uint64_t lba = first_lba + static_cast<std::uint64_t>(i);
        Result r = ctrl.execute(QueueKind::io,
                                nvmecuse::testing::read_write(nvme::NvmOpcode::read, lba, DataBuffer::zeroed(block)));
        ASSERT_TRUE(r.ok()) << "lba " << lba;
        const DataBuffer want = pattern(index, lba);
        ASSERT_EQ(0, std::memcmp(r.data.data(), want.data(), block)) << "lba " << lba;
    }
}

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
    auto fa = a.done.get_future();
    auto fb = b.done.get_future();
    a.start(4);
    b.start(4);
    ASSERT_EQ(fa.wait_for(bounded), std::future_status::ready);
    ASSERT_EQ(fb.wait_for(bounded), std::future_status::ready);
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
