// ctrlr::Reactor on its own: watched fds are served one request per call,
// a busy fd does not starve the others, and the thread's counters tell
// what it did (the serving_threads RPC reports them).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/reactor.hpp"

namespace nvmecuse::ctrlr {
namespace {

using namespace std::chrono_literals;

struct Pipe {
    int fds[2]{-1, -1};
    Pipe()
    {
        EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    }
    ~Pipe()
    {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    void put(std::size_t bytes) const
    {
        const std::vector<char> data(bytes, 'x');
        ASSERT_EQ(::write(fds[1], data.data(), bytes), static_cast<ssize_t>(bytes));
    }
    /// One byte, as a session takes one request per call.
    [[nodiscard]] bool take() const
    {
        char c;
        return ::read(fds[0], &c, 1) == 1;
    }
};

template <class Pred> bool eventually(Pred pred)
{
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

std::unique_ptr<Reactor> start_reactor()
{
    auto r = Reactor::start("test-reactor", 0, 0us); // sleeps as soon as it is idle
    EXPECT_TRUE(r.has_value());
    return r ? std::move(*r) : nullptr;
}

TEST(Reactor, CountsWhatItsThreadDid)
{
    auto reactor = start_reactor();
    ASSERT_TRUE(reactor);
    Pipe pipe;
    std::atomic<int> taken{0};
    auto id = reactor->watch(pipe.fds[0], [&] {
        if (!pipe.take()) return false;
        ++taken;
        return true;
    });
    ASSERT_TRUE(id.has_value());
    for (int i = 1; i <= 3; ++i) {
        pipe.put(1);
        ASSERT_TRUE(eventually([&] { return taken.load() == i; }));
    }
    std::promise<void> ran;
    reactor->post([&] { ran.set_value(); });
    ran.get_future().get();
    // Each is counted once its handler or task has returned.
    ASSERT_TRUE(eventually([&] {
        const auto now = reactor->counters();
        return now.handled == 3 && now.tasks >= 1;
    }));
    const auto c = reactor->counters();
    EXPECT_EQ(c.handled, 3u);
    // Idle before the first write: it slept, and every sleep ended with
    // work (a write or the task), never with nothing to do.
    EXPECT_GE(c.sleeps, 1u);
    EXPECT_EQ(c.idle_wakeups, 0u);
    // It never spins: a yield only comes on the idle turn before it sleeps
    // (or before it finds a task posted meanwhile).
    EXPECT_LE(c.yields, c.sleeps + c.tasks);
    reactor->unwatch(*id);
}

TEST(Reactor, AnEventWhoseHandlerTakesNothingIsCountedEmpty)
{
    auto reactor = start_reactor();
    ASSERT_TRUE(reactor);
    Pipe pipe;
    std::atomic<int> calls{0};
    // A handler that never consumes: the fd stays readable, and every
    // event the reactor sees for it is an empty one.
    auto id = reactor->watch(pipe.fds[0], [&] {
        ++calls;
        return false;
    });
    ASSERT_TRUE(id.has_value());
    pipe.put(1);
    ASSERT_TRUE(eventually([&] { return reactor->counters().empty_events >= 5; }));
    reactor->unwatch(*id);
    const auto after = calls.load();
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(calls.load(), after); // never called after unwatch() returned
    EXPECT_EQ(reactor->counters().handled, 0u);
}

TEST(Reactor, ABusyFdIsServedOneRequestPerTurnAndDoesNotStarveAnother)
{
    auto reactor = start_reactor();
    ASSERT_TRUE(reactor);
    Pipe busy, other;
    std::mutex mutex;
    std::vector<char> order; // 'b' or 'o', one per request served
    std::promise<void> release;
    auto released = release.get_future().share();
    // Hold the reactor in its first handler call until both fds have their
    // input, so that it finds them both ready.
    std::atomic<bool> first{true};
    auto busy_id = reactor->watch(busy.fds[0], [&] {
        if (first.exchange(false)) released.wait();
        if (!busy.take()) return false;
        std::lock_guard lock(mutex);
        order.push_back('b');
        return true;
    });
    auto other_id = reactor->watch(other.fds[0], [&] {
        if (!other.take()) return false;
        std::lock_guard lock(mutex);
        order.push_back('o');
        return true;
    });
    ASSERT_TRUE(busy_id.has_value());
    ASSERT_TRUE(other_id.has_value());
    constexpr std::size_t requests = 200;
    busy.put(requests);
    ASSERT_TRUE(eventually([&] { return !first.load(); }));
    other.put(1);
    release.set_value();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(mutex);
        return order.size() == requests + 1;
    }));
    // Not under `mutex`: unwatch() waits for a handler, which takes it.
    reactor->unwatch(*busy_id);
    reactor->unwatch(*other_id);
    EXPECT_EQ(reactor->counters().handled, requests + 1);
    std::lock_guard lock(mutex);
    const auto o = std::find(order.begin(), order.end(), 'o');
    ASSERT_NE(o, order.end());
    // Served directly at most twice in a row, then epoll reports both fds.
    EXPECT_LE(o - order.begin(), 4) << "the other fd waited behind the busy one";
}

} // namespace
} // namespace nvmecuse::ctrlr
