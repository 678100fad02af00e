// Persistent discovery (service/discovery_watcher.hpp) against the fake
// transport as a discovery controller: a Discovery Log Page Change event
// makes the log be read again, subsystems that appeared are attached and
// those that left detached, an identical log changes nothing, the cap of
// --attach holds, and a reconnect reads the log again. Then
// controller_attach's "persistent" over NVMe/TCP (the in-process target):
// the discovery controller stays connected until the manager stops.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nvmecuse/spec/discovery.hpp"

#include "control_plane_fixture.hpp"
#include "fake_transport.hpp"
#include "service/discovery_watcher.hpp"
#include "tcp_test_target.hpp"

namespace nvmecuse::service {
namespace {

using namespace std::chrono_literals;
using testing::FakeState;
using testing::FakeTransport;
using transport::TransportId;

constexpr auto bounded = 10s;

/// Discovery Log Page Change: notice F0h, log page 70h (NVMe Base 2.0, Figure 147).
constexpr std::uint32_t log_change = nvme::aer_result::make(
    nvme::AsyncEventType::notice,
    static_cast<std::uint8_t>(nvme::AsyncEventNotice::discovery_log_page_change),
    static_cast<std::uint8_t>(nvme::LogPageId::discovery));

nvme::DiscoveryLogEntry port(const std::string& subnqn)
{
    nvme::DiscoveryLogEntry e{};
    e.trtype = static_cast<std::uint8_t>(nvme::TransportType::tcp);
    e.adrfam = static_cast<std::uint8_t>(nvme::AddressFamily::ipv4);
    e.subtype = static_cast<std::uint8_t>(nvme::DiscoverySubsystemType::nvm);
    e.cntlid = nvme::cntlid_dynamic;
    nvme::set_padded(e.trsvcid, "4420");
    nvme::set_padded(e.traddr, "192.0.2.7");
    nvme::set_nul_padded(e.subnqn, subnqn);
    return e;
}

struct DiscoveryWatcherTest : ::testing::Test {
    std::shared_ptr<FakeState> fake = std::make_shared<FakeState>();
    std::mutex mutex;
    std::vector<std::string> attaches;         ///< subnqns, in order
    std::vector<std::string> detaches;         ///< names, in order
    std::vector<std::string> refused;          ///< subnqns whose attach fails
    std::vector<std::string> vanished;         ///< names no longer attached
    std::unique_ptr<DiscoveryWatcher> watcher; ///< last: gone before what it calls into

    DiscoveryWatcherTest()
    {
        fake->oaes |= nvme::oaes::discovery_log_page_change;
        fake->granted_io_queues = 1;
    }

    void set_log(const std::vector<std::string>& subnqns)
    {
        auto l = fake->lock();
        fake->discovery_log.clear();
        for (const auto& nqn : subnqns)
            fake->discovery_log.push_back(port(nqn));
        ++fake->discovery_genctr;
    }

    void start(std::size_t max = max_discovered_controllers,
               ctrlr::Controller::Options options = {})
    {
        options.name = "discovery";
        options.io_queues = 0;
        auto c = ctrlr::Controller::start(std::make_unique<FakeTransport>(fake), options);
        ASSERT_TRUE(c) << c.error().message();
        TransportId id;
        id.trtype = "tcp";
        id.traddr = "192.0.2.7";
        id.trsvcid = "8009";
        auto w = DiscoveryWatcher::start(
            std::move(*c), id,
            [this](const TransportId& t) -> std::expected<std::vector<std::string>, std::string> {
                std::lock_guard lock(mutex);
                if (std::ranges::find(refused, t.subnqn) != refused.end())
                    return std::unexpected(t.subnqn + ": refused");
                attaches.push_back(t.subnqn);
                return std::vector<std::string>{"ctrl-" + t.subnqn};
            },
            [this](const std::string& name, const TransportId& t) {
                std::lock_guard lock(mutex);
                EXPECT_EQ(name, "ctrl-" + t.subnqn);
                detaches.push_back(name);
            },
            [this](const std::string& name, const TransportId&) {
                std::lock_guard lock(mutex);
                return std::ranges::find(vanished, name) == vanished.end();
            },
            max);
        ASSERT_TRUE(w) << w.error();
        watcher = std::move(*w);
    }

    /// Waits until the watcher has reconciled `n` reads of the log.
    void await_reads(std::uint64_t n)
    {
        const auto deadline = std::chrono::steady_clock::now() + bounded;
        while (watcher->reads() < n && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        ASSERT_EQ(watcher->reads(), n);
    }

    /// Fires the event once the core has an AER outstanding, and waits for
    /// the read it causes.
    void change_and_await(std::uint64_t reads)
    {
        const auto deadline = std::chrono::steady_clock::now() + bounded;
        while (!fake->fire_aer(log_change) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        await_reads(reads);
    }

    std::vector<std::string> attached_subnqns()
    {
        std::lock_guard lock(mutex);
        return attaches;
    }
    std::vector<std::string> detached_names()
    {
        std::lock_guard lock(mutex);
        return detaches;
    }
};

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
