// A DiscoveryWatcher (service/discovery_watcher.hpp) over the fake
// transport as the discovery controller, whose Attach, Detach and Present
// record what they were asked; the discovery controllers referrals reach
// are fake ones too, by address.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "discovery_log_records.hpp"
#include "fake_transport.hpp"
#include "service/discovery_watcher.hpp"

namespace nvmecuse::testing {

using namespace std::chrono_literals;

inline constexpr auto bounded = 10s;

/// Discovery Log Page Change: notice F0h, log page 70h (NVMe Base 2.0, Figure 147).
inline constexpr std::uint32_t log_change = nvme::aer_result::make(
    nvme::AsyncEventType::notice,
    static_cast<std::uint8_t>(nvme::AsyncEventNotice::discovery_log_page_change),
    static_cast<std::uint8_t>(nvme::LogPageId::discovery));

/// A fake discovery controller that sends Discovery Log Page Change events.
inline std::shared_ptr<FakeState> fake_discovery_controller()
{
    auto fake = std::make_shared<FakeState>();
    fake->oaes |= nvme::oaes::discovery_log_page_change;
    fake->granted_io_queues = 1;
    return fake;
}

/// Replaces the discovery log of `fake`.
inline void set_records(FakeState& fake, std::vector<nvme::DiscoveryLogEntry> records)
{
    auto l = fake.lock();
    fake.discovery_log = std::move(records);
    ++fake.discovery_genctr;
}

struct DiscoveryWatcherTest : ::testing::Test {
    using TransportId = transport::TransportId;

    std::shared_ptr<FakeState> fake = fake_discovery_controller(); ///< the root, 192.0.2.7
    std::mutex mutex;
    std::vector<std::string> attaches; ///< subnqns, in order
    std::vector<std::string> detaches; ///< names, in order
    std::vector<std::string> refused;  ///< subnqns whose attach fails
    std::vector<std::string> vanished; ///< names no longer attached
    /// Referred discovery controllers, by traddr; each connect of one counted.
    std::map<std::string, std::shared_ptr<FakeState>> referred;
    std::map<std::string, int> referral_connects;
    std::vector<std::string> unreachable; ///< traddrs a referral connect fails for
    ctrlr::Controller::Options referral_options;
    std::unique_ptr<service::DiscoveryWatcher> watcher; ///< last: gone before what it calls into

    /// The fake discovery controller at `traddr`, which referrals reach.
    std::shared_ptr<FakeState> referred_at(const std::string& traddr)
    {
        std::lock_guard lock(mutex);
        auto& f = referred[traddr];
        if (!f) f = fake_discovery_controller();
        return f;
    }

    int connects_to(const std::string& traddr)
    {
        std::lock_guard lock(mutex);
        return referral_connects[traddr];
    }

    void set_log(const std::vector<std::string>& subnqns)
    {
        std::vector<nvme::DiscoveryLogEntry> records;
        for (const auto& nqn : subnqns)
            records.push_back(port(nqn));
        set_records(*fake, std::move(records));
    }

    std::expected<std::unique_ptr<ctrlr::Controller>, std::string>
    connect_referral(const TransportId& id)
    {
        std::shared_ptr<FakeState> target;
        {
            std::lock_guard lock(mutex);
            ++referral_connects[id.traddr];
            if (std::ranges::find(unreachable, id.traddr) != unreachable.end())
                return std::unexpected(id.traddr + ": unreachable");
            const auto it = referred.find(id.traddr);
            if (it == referred.end()) return std::unexpected(id.traddr + ": nothing there");
            target = it->second;
        }
        auto options = referral_options;
        options.name = "referred";
        options.io_queues = 0;
        auto c = ctrlr::Controller::start(std::make_unique<FakeTransport>(target), options);
        if (!c) return std::unexpected(c.error().message());
        return std::move(*c);
    }

    void start(std::size_t max = service::max_discovered_controllers,
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
        auto w = service::DiscoveryWatcher::start(
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
            [this](const TransportId& t) { return connect_referral(t); }, max);
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

    /// Fires the event on `on` (the root by default) once the core has an
    /// AER outstanding there, and waits for the read it causes.
    void change_and_await(std::uint64_t reads, FakeState* on = nullptr)
    {
        FakeState& target = on != nullptr ? *on : *fake;
        const auto deadline = std::chrono::steady_clock::now() + bounded;
        while (!target.fire_aer(log_change) && std::chrono::steady_clock::now() < deadline)
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

} // namespace nvmecuse::testing
