// Persistent discovery (service/discovery_watcher.hpp) against the fake
// transport as a discovery controller: a Discovery Log Page Change event
// makes the log be read again, subsystems that appeared are attached and
// those that left detached, an identical log changes nothing, the cap of
// --attach holds, and a reconnect reads the log again. Then
// controller_attach's "persistent" over NVMe/TCP (the in-process target):
// the discovery controller stays connected until the manager stops.
// Referrals: discovery_referrals_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"

#include "control_plane_fixture.hpp"
#include "discovery_watcher_fixture.hpp"
#include "tcp_test_target.hpp"

namespace nvmecuse::service {
namespace {

using namespace std::chrono_literals;
using testing::bounded;
using testing::DiscoveryWatcherTest;
using testing::port;

TEST_F(DiscoveryWatcherTest, StartAttachesWhatTheLogListsAndEnablesTheEvent)
{
    set_log({"nqn.a", "nqn.b"});
    start();
    EXPECT_EQ(watcher->reads(), 1u);
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b"}));
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.a", "ctrl-nqn.b"}));
    // Asynchronous Event Configuration with bit 31, Discovery Log Page Change Notices.
    bool enabled = false;
    for (const auto& sqe : fake->admin_commands(nvme::AdminOpcode::set_features))
        if (nvme::cmd::features::Fid::get(sqe) ==
            static_cast<std::uint32_t>(nvme::FeatureId::async_event_configuration))
            enabled = (sqe.cdw11 & nvme::oaes::discovery_log_page_change) != 0;
    EXPECT_TRUE(enabled);
}

TEST_F(DiscoveryWatcherTest, ChangeEventAttachesNewAndDetachesGoneSubsystems)
{
    set_log({"nqn.a", "nqn.b"});
    start();
    set_log({"nqn.b", "nqn.c"});
    change_and_await(2);
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b", "nqn.c"}));
    EXPECT_EQ(detached_names(), (std::vector<std::string>{"ctrl-nqn.a"}));
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.b", "ctrl-nqn.c"}));
}

TEST_F(DiscoveryWatcherTest, IdenticalLogChangesNothing)
{
    set_log({"nqn.a", "nqn.b"});
    start();
    change_and_await(2);
    change_and_await(3);
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b"}));
    EXPECT_TRUE(detached_names().empty());
}

TEST_F(DiscoveryWatcherTest, OtherEventsDoNotReadTheLog)
{
    set_log({"nqn.a"});
    start();
    const auto deadline = std::chrono::steady_clock::now() + bounded;
    // An ANA change notice (03h, log page 0Ch), then the log change.
    while (!fake->fire_aer(nvme::aer_result::make(nvme::AsyncEventType::notice, 0x03, 0x0c)) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(watcher->reads(), 1u);
    set_log({});
    change_and_await(2);
    EXPECT_EQ(detached_names(), (std::vector<std::string>{"ctrl-nqn.a"}));
}

TEST_F(DiscoveryWatcherTest, RecordsPastTheCapAreDroppedUntilThereIsRoom)
{
    std::vector<std::string> nqns;
    for (std::size_t i = 0; i < max_discovered_controllers + 2; ++i)
        nqns.push_back("nqn." + std::to_string(i));
    set_log(nqns);
    start();
    EXPECT_EQ(attached_subnqns().size(), max_discovered_controllers);
    EXPECT_EQ(attached_subnqns().back(), "nqn." + std::to_string(max_discovered_controllers - 1));
    // One leaves: the first of those dropped fits now.
    nqns.erase(nqns.begin());
    set_log(nqns);
    change_and_await(2);
    EXPECT_EQ(detached_names(), (std::vector<std::string>{"ctrl-nqn.0"}));
    EXPECT_EQ(attached_subnqns().back(), "nqn." + std::to_string(max_discovered_controllers));
    EXPECT_EQ(watcher->attached().size(), max_discovered_controllers);
}

TEST_F(DiscoveryWatcherTest, FailedAttachIsTriedAgainAtTheNextRead)
{
    set_log({"nqn.a", "nqn.b"});
    {
        std::lock_guard lock(mutex);
        refused = {"nqn.b"};
    }
    start();
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.a"}));
    {
        std::lock_guard lock(mutex);
        refused.clear();
    }
    change_and_await(2);
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.a", "ctrl-nqn.b"}));
}

TEST_F(DiscoveryWatcherTest, ControllerNoLongerAttachedIsAttachedAgain)
{
    set_log({"nqn.a", "nqn.b"});
    start();
    {
        std::lock_guard lock(mutex);
        vanished = {"ctrl-nqn.a"}; // detached by hand, or removed after ctrl-loss-tmo
    }
    change_and_await(2);
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b", "nqn.a"}));
    EXPECT_TRUE(detached_names().empty()); // nothing of it left to detach
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.b", "ctrl-nqn.a"}));
}

TEST_F(DiscoveryWatcherTest, ReconnectReadsTheLogAgain)
{
    fake->keep_alive_timeout = 100ms;
    set_log({"nqn.a"});
    ctrlr::Controller::Options options;
    options.reconnect_delay = 50ms;
    options.ctrl_loss_tmo = 10s;
    start(max_discovered_controllers, options);
    set_log({"nqn.a", "nqn.b"}); // changed without an event: read after the reconnect
    {
        auto l = fake->lock();
        fake->hold_keep_alive = true; // the connection looks dead
    }
    const auto deadline = std::chrono::steady_clock::now() + bounded;
    for (;;) {
        {
            auto l = fake->lock();
            if (fake->connection_failures > 0 || std::chrono::steady_clock::now() > deadline) {
                fake->hold_keep_alive = false;
                break;
            }
        }
        std::this_thread::sleep_for(1ms);
    }
    await_reads(2);
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b"}));
    auto l = fake->lock();
    EXPECT_GE(fake->connects, 2);
}

class PersistentAttach : public nvmecuse::testing::ControlPlaneFixture {
protected:
    tcp_test::TestTarget target;

    /// controller_attach of the target's discovery controller, whose log
    /// lists the target's own subsystem; then the subsystem is attached.
    void attach_through_discovery(bool persistent)
    {
        auto subsystem = port("nqn.2026-11.io.nvmecuse:test");
        nvme::set_padded(subsystem.traddr, "127.0.0.1");
        nvme::set_padded(subsystem.trsvcid, target.port_string());
        target.set_discovery({subsystem});
        serve();
        auto c = client();
        auto attached = c.call("controller_attach", {{"trtype", "tcp"},
                                                     {"traddr", "127.0.0.1"},
                                                     {"trsvcid", target.port_string()},
                                                     {"nodes", false},
                                                     {"persistent", persistent}});
        ASSERT_TRUE(attached) << attached.error().error.message;
        // A persistent discovery controller is listed too, first (its index is lower).
        const auto listed = manager_->list();
        ASSERT_EQ(listed.size(), persistent ? 2u : 1u);
        EXPECT_EQ(listed[0].discovery, persistent);
        EXPECT_EQ(listed.back().transport_id.subnqn, "nqn.2026-11.io.nvmecuse:test");
        EXPECT_FALSE(listed.back().tcp.persistent); // the subsystem's own options
        EXPECT_EQ(target.admin_connects.load(), 2);       // discovery, then the subsystem
    }
};

TEST_F(PersistentAttach, OnceTheDiscoveryControllerIsLetGo)
{
    attach_through_discovery(false);
    EXPECT_TRUE(target.shutdown_seen.load()); // only the discovery controller was shut down
}

TEST_F(PersistentAttach, PersistentTheDiscoveryControllerStaysUntilTheManagerStops)
{
    attach_through_discovery(true);
    EXPECT_FALSE(target.shutdown_seen.load());
    EXPECT_NE(target.kato.load(), 0u); // Keep Alive for both
    manager_->detach_all();
    EXPECT_TRUE(target.shutdown_seen.load());
    EXPECT_TRUE(manager_->list().empty());
}

TEST_F(PersistentAttach, MustBeABoolean)
{
    serve();
    auto c = client();
    auto refused = c.call("controller_attach",
                          {{"trtype", "tcp"}, {"traddr", "127.0.0.1"}, {"persistent", "yes"}});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().error.message.find("persistent"), std::string::npos)
        << refused.error().error.message;
}

} // namespace
} // namespace nvmecuse::service
