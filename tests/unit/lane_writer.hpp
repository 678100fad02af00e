// A load generator on a serving thread (ctrlr::Reactor) for the lane
// tests: writes blocks from one reactor, each next command submitted from
// the previous one's handler (where a serving thread submits: its own
// thread), and counts where the completions ran.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/reactor.hpp"

#include "nvm_command.hpp"

namespace nvmecuse::testing {

inline constexpr auto lane_bound = std::chrono::seconds(10);
inline constexpr std::uint32_t lane_block = 512; ///< LBA size of the namespace written

/// The block reactor `reactor` writes at `lba`: its index and the lba in
/// every byte pair.
inline ctrlr::DataBuffer lane_pattern(unsigned reactor, std::uint64_t lba)
{
    auto b = ctrlr::DataBuffer::zeroed(lane_block);
    for (std::uint32_t i = 0; i < lane_block; i += 2) {
        b.span()[i] = static_cast<std::byte>(reactor + 1);
        b.span()[i + 1] = static_cast<std::byte>(lba);
    }
    return b;
}

/// Writes `count` blocks from one reactor (or until stopped), `depth` at a time.
struct Writer {
    Writer(ctrlr::Controller& c, ctrlr::Reactor& r, unsigned i, std::uint64_t lba, int n)
        : ctrl(c), reactor(r), index(i), first_lba(lba), count(n)
    {
    }
    ctrlr::Controller& ctrl;
    ctrlr::Reactor& reactor;
    unsigned index;
    std::uint64_t first_lba;
    int count;
    std::uint64_t span = 20000; ///< blocks it cycles over from first_lba
    std::atomic<bool> stopped{false};
    std::atomic<int> issued{0}, submitted{0}, completed{0}, on_reactor{0}, failed{0};
    std::promise<void> done;
    std::string first_failure; ///< written once, by the first failed completion

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
        const std::uint64_t lba = first_lba + static_cast<std::uint64_t>(i) % span;
        ++submitted;
        ctrl.submit(ctrlr::QueueKind::io,
                    read_write(nvme::NvmOpcode::write, lba, lane_pattern(index, lba)),
                    [this](ctrlr::Result&& r) {
                        if (ctrlr::Reactor::current() == &reactor) ++on_reactor;
                        if (!r.ok() && failed.fetch_add(1) == 0)
                            first_failure = r.error ? r.error.message()
                                                    : std::string(nvme::to_string(r.status));
                        issue();
                        // Last: the test may destroy the Writer once done.
                        if (completed.fetch_add(1) + 1 == count) done.set_value();
                    });
    }
    /// Stops issuing; true once every submitted command completed once.
    bool stop_and_drain()
    {
        stopped = true;
        const auto deadline = std::chrono::steady_clock::now() + lane_bound;
        while (completed != submitted && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a second completion would show now
        return completed == submitted;
    }
};

/// Starts both writers, `depth` commands each, and waits (bounded) until
/// every command of both completed; false when one did not finish.
[[nodiscard]] inline bool run_both(Writer& a, Writer& b, int depth)
{
    auto fa = a.done.get_future();
    auto fb = b.done.get_future();
    a.start(depth);
    b.start(depth);
    return fa.wait_for(lane_bound) == std::future_status::ready &&
           fb.wait_for(lane_bound) == std::future_status::ready;
}

/// Reads back what Writer `index` wrote at `first_lba`.. (`count` blocks).
inline void expect_written(ctrlr::Controller& ctrl, unsigned index, std::uint64_t first_lba,
                           int count)
{
    for (int i = 0; i < count; ++i) {
        const std::uint64_t lba = first_lba + static_cast<std::uint64_t>(i);
        ctrlr::Result r = ctrl.execute(
            ctrlr::QueueKind::io,
            read_write(nvme::NvmOpcode::read, lba, ctrlr::DataBuffer::zeroed(lane_block)));
        ASSERT_TRUE(r.ok()) << "lba " << lba;
        const ctrlr::DataBuffer want = lane_pattern(index, lba);
        ASSERT_EQ(0, std::memcmp(r.data.data(), want.data(), lane_block)) << "lba " << lba;
    }
}

} // namespace nvmecuse::testing
