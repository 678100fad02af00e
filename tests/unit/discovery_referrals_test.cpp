// Referrals followed by persistent discovery (service/discovery_referrals.hpp
// through DiscoveryWatcher), against fake discovery controllers by address:
// a referral (SUBTYPE 1h) is connected and what it lists attached, the
// current discovery subsystem (3h) is not followed, a referred log's change
// event is followed, a referral that leaves takes what came only through it,
// loops, depth and count are bounded, the cap holds across logs, and a
// referral that cannot be reached or read is tried again and keeps what it
// brought.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "discovery_watcher_fixture.hpp"

namespace nvmecuse::service {
namespace {

using namespace std::chrono_literals;
using namespace nvmecuse::testing; // the fixture, its records and fakes
using Subtype = nvme::DiscoverySubsystemType;

using Referrals = DiscoveryWatcherTest;

std::vector<std::string> traddrs(const std::vector<transport::TransportId>& ids)
{
    std::vector<std::string> out;
    for (const auto& id : ids)
        out.push_back(id.traddr);
    return out;
}

TEST_F(Referrals, AReferralIsConnectedAndWhatItListsAttached)
{
    set_records(*fake, {port("nqn.a"), referral("192.0.2.8"),
                        // The current discovery subsystem, at another address: not followed.
                        record(Subtype::current_discovery, std::string(transport::discovery_nqn),
                               "192.0.2.70", "8009")});
    set_records(*referred_at("192.0.2.8"), {port("nqn.b")});
    start();
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b"}));
    EXPECT_EQ(traddrs(watcher->referrals()), (std::vector<std::string>{"192.0.2.8"}));
    EXPECT_EQ(connects_to("192.0.2.8"), 1);
    EXPECT_EQ(connects_to("192.0.2.70"), 0);
    EXPECT_EQ(watcher->reads(), 1u);
}

TEST_F(Referrals, AReferredLogsChangeEventIsFollowed)
{
    set_records(*fake, {port("nqn.a"), referral("192.0.2.8")});
    auto b = referred_at("192.0.2.8");
    set_records(*b, {port("nqn.b")});
    start();
    set_records(*b, {port("nqn.b"), port("nqn.c")});
    change_and_await(2, b.get());
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b", "nqn.c"}));
    EXPECT_EQ(connects_to("192.0.2.8"), 1); // kept connected, read again
    set_records(*b, {port("nqn.c")});
    change_and_await(3, b.get());
    EXPECT_EQ(detached_names(), (std::vector<std::string>{"ctrl-nqn.b"}));
}

TEST_F(Referrals, AReferralThatLeavesTakesWhatCameOnlyThroughIt)
{
    set_records(*fake, {port("nqn.a"), port("nqn.shared"), referral("192.0.2.8")});
    auto b = referred_at("192.0.2.8");
    set_records(*b, {port("nqn.shared"), port("nqn.b")});
    start();
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.shared", "nqn.b"}));
    set_records(*fake, {port("nqn.a"), port("nqn.shared")});
    change_and_await(2);
    EXPECT_EQ(detached_names(), (std::vector<std::string>{"ctrl-nqn.b"}));
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.a", "ctrl-nqn.shared"}));
    EXPECT_TRUE(watcher->referrals().empty());
    auto l = b->lock();
    EXPECT_EQ(b->shutdowns, 1); // the referred discovery controller was let go
}

TEST_F(Referrals, LoopsAndRepeatedReferralsAreConnectedOnce)
{
    // root -> B, C; B -> root, C; C -> B.
    set_records(*fake, {referral("192.0.2.8"), referral("192.0.2.9")});
    set_records(*referred_at("192.0.2.8"),
                {port("nqn.b"), referral("192.0.2.7"), referral("192.0.2.9")});
    set_records(*referred_at("192.0.2.9"), {port("nqn.c"), referral("192.0.2.8")});
    start();
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.b", "nqn.c"}));
    EXPECT_EQ(traddrs(watcher->referrals()), (std::vector<std::string>{"192.0.2.8", "192.0.2.9"}));
    change_and_await(2);
    EXPECT_EQ(connects_to("192.0.2.7"), 0); // the root, never again
    EXPECT_EQ(connects_to("192.0.2.8"), 1);
    EXPECT_EQ(connects_to("192.0.2.9"), 1);
    EXPECT_EQ(attached_subnqns().size(), 2u);
}

TEST_F(Referrals, DepthIsBounded)
{
    // root -> r1 -> r2 -> ... -> r10, each ri listing nqn.i.
    constexpr std::size_t chain = max_referral_depth + 2;
    set_records(*fake, {referral("10.0.0.1")});
    for (std::size_t i = 1; i <= chain; ++i)
        set_records(
            *referred_at("10.0.0." + std::to_string(i)),
            {port("nqn." + std::to_string(i)), referral("10.0.0." + std::to_string(i + 1))});
    start();
    EXPECT_EQ(watcher->referrals().size(), max_referral_depth);
    EXPECT_EQ(attached_subnqns().size(), max_referral_depth);
    EXPECT_EQ(attached_subnqns().back(), "nqn." + std::to_string(max_referral_depth));
    EXPECT_EQ(connects_to("10.0.0." + std::to_string(max_referral_depth)), 1);
    EXPECT_EQ(connects_to("10.0.0." + std::to_string(max_referral_depth + 1)), 0);
}

TEST_F(Referrals, CountIsBounded)
{
    std::vector<nvme::DiscoveryLogEntry> many;
    for (std::size_t i = 1; i <= max_followed_referrals + 4; ++i) {
        const std::string at = "10.0.1." + std::to_string(i);
        many.push_back(referral(at));
        set_records(*referred_at(at), {port("nqn." + std::to_string(i))});
    }
    set_records(*fake, many);
    start();
    EXPECT_EQ(watcher->referrals().size(), max_followed_referrals);
    EXPECT_EQ(attached_subnqns().size(), max_followed_referrals);
    EXPECT_EQ(connects_to("10.0.1." + std::to_string(max_followed_referrals + 1)), 0);
}

TEST_F(Referrals, TheCapHoldsForEveryLogTogether)
{
    std::vector<nvme::DiscoveryLogEntry> root;
    for (std::size_t i = 0; i + 1 < max_discovered_controllers; ++i)
        root.push_back(port("nqn.root." + std::to_string(i)));
    root.push_back(referral("192.0.2.8"));
    set_records(*fake, root);
    set_records(*referred_at("192.0.2.8"),
                {port("nqn.root.0"), port("nqn.b.0"), port("nqn.b.1"), port("nqn.b.2")});
    start();
    EXPECT_EQ(attached_subnqns().size(), max_discovered_controllers);
    EXPECT_EQ(attached_subnqns().back(), "nqn.b.0"); // nqn.root.0 is there already
    EXPECT_EQ(watcher->attached().size(), max_discovered_controllers);
}

TEST_F(Referrals, AnUnreachableReferralIsTriedAgainAtTheNextRead)
{
    set_records(*fake, {port("nqn.a"), referral("192.0.2.8")});
    set_records(*referred_at("192.0.2.8"), {port("nqn.b")});
    {
        std::lock_guard lock(mutex);
        unreachable = {"192.0.2.8"};
    }
    start();
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a"}));
    EXPECT_EQ(traddrs(watcher->referrals()), (std::vector<std::string>{"192.0.2.8"}));
    {
        std::lock_guard lock(mutex);
        unreachable.clear();
    }
    change_and_await(2);
    EXPECT_EQ(attached_subnqns(), (std::vector<std::string>{"nqn.a", "nqn.b"}));
    EXPECT_EQ(connects_to("192.0.2.8"), 2);
}

TEST_F(Referrals, AReferralThatCannotBeReadKeepsWhatCameThroughIt)
{
    set_records(*fake, {port("nqn.a"), referral("192.0.2.8")});
    auto b = referred_at("192.0.2.8");
    set_records(*b, {port("nqn.b")});
    {
        auto l = b->lock();
        b->keep_alive_timeout = 100ms;
    }
    referral_options.reconnect_delay = 60s; // it stays connecting: every command fails at once
    referral_options.ctrl_loss_tmo = 120s;
    start();
    {
        auto l = b->lock();
        b->hold_keep_alive = true; // the connection looks dead
    }
    const auto deadline = std::chrono::steady_clock::now() + bounded;
    for (;;) {
        {
            auto l = b->lock();
            if (b->connection_failures > 0 || std::chrono::steady_clock::now() > deadline) break;
        }
        std::this_thread::sleep_for(1ms);
    }
    set_records(*b, {}); // unread: nqn.b must stay
    change_and_await(2);
    EXPECT_TRUE(detached_names().empty());
    EXPECT_EQ(watcher->attached(), (std::vector<std::string>{"ctrl-nqn.a", "ctrl-nqn.b"}));
    EXPECT_EQ(connects_to("192.0.2.8"), 1); // connecting still: not replaced
}

} // namespace
} // namespace nvmecuse::service
