// The controller manager over NVMe/TCP controllers of the in-process test
// target (tcp_test_target.hpp) whose port is taken away: the state list()
// reports, a detach in every state, and controller loss past ctrl-loss-tmo
// removing the controller as Linux deletes it. Concurrency tier (TSan).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "nvmecuse/cuse/claim.hpp"
#include "nvmecuse/transport/transport_id.hpp"

#include "control_plane_fixture.hpp"
#include "fake_cuse_kernel.hpp"
#include "tcp_test_target.hpp"

namespace nvmecuse::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ControlPlaneTcp : public ControlPlaneFixture {
protected:
    /// Attaches the target as nvme0, with nodes, reconnecting every second
    /// until `ctrl_loss_tmo` (negative: forever).
    void attach(std::chrono::seconds ctrl_loss_tmo)
    {
        auto id = transport::parse_transport_id(
            "trtype:tcp traddr:127.0.0.1 trsvcid:" + target.port_string() +
            " subnqn:nqn.2026-11.io.nvmecuse:test");
        ASSERT_TRUE(id) << id.error();
        transport::tcp::TcpOptions tcp;
        tcp.reconnect_delay = 1s;
        tcp.ctrl_loss_tmo = ctrl_loss_tmo;
        tcp.connect_timeout = 500ms;
        auto attached = manager_->attach(*id, tcp);
        ASSERT_TRUE(attached) << attached.error().message;
        ASSERT_EQ(attached->size(), 1u);
        ASSERT_EQ((*attached)[0].name, "nvme0");
        EXPECT_EQ((*attached)[0].state, "live");
    }

    /// The port goes away: connections drop and new ones are refused.
    void take_the_port_away()
    {
        target.refuse_connections(true);
        target.drop_connections();
    }

    /// nvme0's state as list() reports it ("" once it is gone).
    std::string state()
    {
        auto c = manager_->find("nvme0");
        return c ? c->state : std::string();
    }

    bool state_becomes(const std::string& expected, std::chrono::milliseconds bound = 5s)
    {
        const auto end = Clock::now() + bound;
        while (state() != expected) {
            if (Clock::now() >= end) return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }

    /// Index 0 is free again: nobody holds its claim.
    void expect_index_released()
    {
        auto claim = cuse::IndexClaim::claim_exact(manager_->serve_options().lock_directory, 0);
        EXPECT_TRUE(claim) << claim.error().message();
    }

    /// Index 0 becomes free within `bound`: the reaper's detach, which took
    /// the controller out of list() first, has finished.
    bool index_released_within(std::chrono::milliseconds bound)
    {
        const auto end = Clock::now() + bound;
        while (!cuse::IndexClaim::claim_exact(manager_->serve_options().lock_directory, 0)) {
            if (Clock::now() >= end) return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }

    tcp_test::TestTarget target;
};

TEST_F(ControlPlaneTcp, ListFollowsTheConnectionAndAResetWhileConnectingIsBusy)
{
    attach(-1s);
    if (HasFatalFailure()) return;
    EXPECT_EQ(state(), "live");
    take_the_port_away();
    ASSERT_TRUE(state_becomes("connecting")) << state();
    auto reset = manager_->reset("nvme0");
    ASSERT_FALSE(reset);
    EXPECT_EQ(reset.error().kind, service::ManagerError::Kind::busy) << reset.error().message;
    EXPECT_EQ(state(), "connecting");

    target.refuse_connections(false);
    ASSERT_TRUE(state_becomes("live", 10s)) << state();
    EXPECT_TRUE(manager_->reset("nvme0"));
    EXPECT_EQ(state(), "live");
}

TEST_F(ControlPlaneTcp, DetachBetweenReconnectAttemptsReturnsAtOnce)
{
    attach(-1s);
    if (HasFatalFailure()) return;
    FakeCuseKernel kernel(take_kernel_end("nvmecuse/nvme0"));
    ASSERT_TRUE(kernel.init());
    take_the_port_away();
    ASSERT_TRUE(state_becomes("connecting")) << state();
    for (int i = 0; i < 300 && target.refused.load() == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_GT(target.refused.load(), 0); // an attempt ran and failed

    const auto before = Clock::now();
    ASSERT_TRUE(manager_->detach("nvme0", 200ms));
    EXPECT_LT(Clock::now() - before, 1s);
    EXPECT_TRUE(kernel.wait_closed()); // the node is gone
    EXPECT_TRUE(manager_->list().empty());
    expect_index_released();
}

TEST_F(ControlPlaneTcp, DetachDuringAHangingReconnectAttemptEndsWithinTheConnectTimeout)
{
    attach(-1s);
    if (HasFatalFailure()) return;
    target.silence_connections(true); // attempts hang in their connect steps
    target.drop_connections();
    ASSERT_TRUE(state_becomes("connecting")) << state();
    for (int i = 0; i < 300 && target.silenced.load() == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_GT(target.silenced.load(), 0); // an attempt is waiting on the target

    const auto before = Clock::now();
    ASSERT_TRUE(manager_->detach("nvme0", 200ms));
    EXPECT_LT(Clock::now() - before, 2s); // connect_timeout 500 ms per step
    EXPECT_TRUE(manager_->list().empty());
    expect_index_released();
    target.silence_connections(false);
}

TEST_F(ControlPlaneTcp, DetachDuringAResetEndsTheReset)
{
    attach(-1s);
    if (HasFatalFailure()) return;
    target.silence_connections(true); // the reset's reconnect hangs
    std::expected<void, service::ManagerError> reset;
    std::thread resetter([&] { reset = manager_->reset("nvme0"); });
    ASSERT_TRUE(state_becomes("resetting")) << state();
    auto listed = manager_->find("nvme0");
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->activity, "resetting");
    const auto before = Clock::now();
    ASSERT_TRUE(manager_->detach("nvme0", 200ms));
    EXPECT_LT(Clock::now() - before, 2s);
    resetter.join();
    EXPECT_FALSE(reset); // ended by the detach, or failed on the silent target
    EXPECT_TRUE(manager_->list().empty());
    expect_index_released();
    target.silence_connections(false);
}

TEST_F(ControlPlaneTcp, ControllerLossRemovesTheControllerItsNodesAndItsIndex)
{
    attach(2s);
    if (HasFatalFailure()) return;
    FakeCuseKernel kernel(take_kernel_end("nvmecuse/nvme0"));
    ASSERT_TRUE(kernel.init());
    take_the_port_away();
    ASSERT_TRUE(state_becomes("connecting")) << state();
    // Attempts at 1 s and 2 s after the loss, then ctrl-loss-tmo: gone.
    ASSERT_TRUE(state_becomes("", 10s)) << state();
    EXPECT_TRUE(index_released_within(5s));
    EXPECT_TRUE(kernel.wait_closed());
    EXPECT_TRUE(manager_->list().empty());
    auto reset = manager_->reset("nvme0");
    ASSERT_FALSE(reset);
    EXPECT_EQ(reset.error().kind, service::ManagerError::Kind::not_found);

    // The index is attached again as nvme0 once the target is back.
    target.refuse_connections(false);
    attach(2s);
}

TEST_F(ControlPlaneTcp, ControllerLossIsListedFailedOnlyUntilItIsRemoved)
{
    attach(1s);
    if (HasFatalFailure()) return;
    take_the_port_away();
    // Seen: connecting, maybe failed for an instant, then nothing; never live.
    std::set<std::string> seen;
    const auto end = Clock::now() + 10s;
    std::string s;
    while (!(s = state()).empty() && Clock::now() < end) {
        seen.insert(s);
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(s, "");
    EXPECT_TRUE(seen.contains("connecting"));
    for (const auto& one : seen)
        EXPECT_TRUE(one == "live" || one == "connecting" || one == "failed") << one;
}

} // namespace
} // namespace nvmecuse::testing
