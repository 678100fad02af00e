// ctrlr::Controller's namespace scan against a hostile device: Identify data
// that would make it loop forever, allocate without bound, shift past the
// width of an integer or overflow a size (issue 21, item 3). Every field the
// device returns is validated before use, as Linux's nvme core does.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "nvmecuse/ctrlr/controller.hpp"
#include "nvmecuse/ctrlr/limits.hpp"

#include "fake_transport.hpp"

namespace nvmecuse::ctrlr {
namespace {

using namespace std::chrono_literals;
using testing::FakeState;
using testing::FakeTransport;

/// Start (Identify, scan) takes milliseconds even for the capped scans; a
/// scan that never ends is what this bound catches.
constexpr auto start_limit = 10s;

constexpr std::uint32_t list_entries = nvme::identify_data_size / sizeof(std::uint32_t);

nvme::Cns cns_of(const nvme::SubmissionQueueEntry& s)
{
    return static_cast<nvme::Cns>(nvme::cmd::identify::Cns::get(s));
}

std::span<std::uint32_t> list_of(std::span<std::byte> data)
{
    return {reinterpret_cast<std::uint32_t*>(data.data()), list_entries};
}

/// An active namespace of `nsze` blocks whose format 0 has LBADS `lbads`.
void write_namespace(std::span<std::byte> data, std::uint64_t nsze, std::uint8_t lbads)
{
    nvme::IdentifyNamespace ns{};
    ns.nsze = ns.ncap = nsze;
    ns.lbaf[0].lbads = lbads;
    std::memcpy(data.data(), &ns, sizeof ns);
}

struct HostileDevice : ::testing::Test {
    std::shared_ptr<FakeState> fake = std::make_shared<FakeState>();
    std::unique_ptr<Controller> ctrl;

    /// Controller::start(), bounded: a scan that never ends leaves an
    /// owner thread that cannot be stopped, so the test binary ends here.
    void start()
    {
        auto promise = std::make_shared<
            std::promise<std::expected<std::unique_ptr<Controller>, std::error_code>>>();
        auto result = promise->get_future();
        std::thread([state = fake, promise] {
            Controller::Options o;
            o.name = "hostile";
            o.io_queues = 1;
            promise->set_value(Controller::start(std::make_unique<FakeTransport>(state), o));
        }).detach();
        if (result.wait_for(start_limit) != std::future_status::ready) {
            ADD_FAILURE() << "Controller::start() did not return within "
                          << std::chrono::seconds(start_limit).count() << " s";
            std::fflush(stdout);
            std::_Exit(1);
        }
        auto c = result.get();
        ASSERT_TRUE(c.has_value()) << c.error().message();
        ctrl = std::move(*c);
    }

    std::size_t identify_count(nvme::Cns cns)
    {
        std::size_t n = 0;
        for (const auto& s : fake->admin_commands(nvme::AdminOpcode::identify))
            if (cns_of(s) == cns) ++n;
        return n;
    }

    /// The one namespace the scan found (a default one, and a failure, if not one).
    NamespaceInfo only_namespace()
    {
        const auto info = ctrl->info();
        EXPECT_EQ(info->namespaces.size(), 1u);
        return info->namespaces.empty() ? NamespaceInfo{} : info->namespaces.begin()->second;
    }
};

// --- NN and the Active Namespace List --------------------------------------

TEST_F(HostileDevice, SequentialProbeAfterAFailedListIsCapped)
{
    fake->identify_hook = [](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::controller) {
            reinterpret_cast<nvme::IdentifyController*>(data.data())->nn = 0xffffffffu;
        } else if (cns_of(s) == nvme::Cns::active_namespace_list) {
            return nvme::Status{nvme::GenericStatus::invalid_field};
        }
        return st;
    };
    start();
    EXPECT_EQ(identify_count(nvme::Cns::namespace_), max_scanned_namespaces);
    ASSERT_EQ(ctrl->info()->namespaces.size(), 1u);
    EXPECT_TRUE(ctrl->info()->namespaces.contains(1));
}

TEST_F(HostileDevice, SequentialProbeBelowTheCapProbesNn)
{
    fake->identify_hook = [](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::controller) {
            reinterpret_cast<nvme::IdentifyController*>(data.data())->nn = 5;
        } else if (cns_of(s) == nvme::Cns::active_namespace_list) {
            return nvme::Status{nvme::GenericStatus::invalid_field};
        }
        return st;
    };
    fake->namespaces = {{2, 100}, {5, 100}};
    start();
    EXPECT_EQ(identify_count(nvme::Cns::namespace_), 5u);
    EXPECT_EQ(ctrl->info()->namespaces.size(), 2u);
}

TEST_F(HostileDevice, RepeatedFullPageEndsTheList)
{
    fake->namespaces.clear();
    for (std::uint32_t nsid = 1; nsid <= list_entries; ++nsid)
        fake->namespaces[nsid] = 100;
    fake->identify_hook = [](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::active_namespace_list) {
            auto list = list_of(data);
            for (std::uint32_t i = 0; i < list_entries; ++i)
                list[i] = i + 1; // 1..1024 whatever the starting nsid
        }
        return st;
    };
    start();
    EXPECT_EQ(ctrl->info()->namespaces.size(), list_entries);
    EXPECT_EQ(identify_count(nvme::Cns::active_namespace_list), 2u);
}

TEST_F(HostileDevice, FullPageOfOneNsidEndsTheList)
{
    fake->namespaces = {{7, 100}};
    fake->identify_hook = [](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::active_namespace_list)
            for (auto& nsid : list_of(data))
                nsid = 7;
        return st;
    };
    start();
    ASSERT_EQ(ctrl->info()->namespaces.size(), 1u);
    EXPECT_TRUE(ctrl->info()->namespaces.contains(7));
    EXPECT_EQ(identify_count(nvme::Cns::namespace_), 1u);
}

TEST_F(HostileDevice, NonIncreasingEntryEndsTheList)
{
    fake->namespaces = {{1, 100}, {2, 100}, {3, 100}, {4, 100}};
    fake->identify_hook = [](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::active_namespace_list) {
            auto list = list_of(data);
            std::ranges::fill(list, 0u);
            list[0] = 1;
            list[1] = 3;
            list[2] = 2; // goes back: the list ends before it
            list[3] = 4;
        }
        return st;
    };
    start();
    const auto info = ctrl->info();
    ASSERT_EQ(info->namespaces.size(), 2u);
    EXPECT_TRUE(info->namespaces.contains(1));
    EXPECT_TRUE(info->namespaces.contains(3));
}

TEST_F(HostileDevice, EndlessIncreasingListIsCapped)
{
    fake->identify_hook = [](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::active_namespace_list) {
            auto list = list_of(data); // always full: start+1 .. start+1024
            for (std::uint32_t i = 0; i < list_entries && s.nsid + i + 1 < nvme::nsid_all; ++i)
                list[i] = s.nsid + i + 1;
        } else if (cns_of(s) == nvme::Cns::namespace_) {
            write_namespace(data, 100, 9);
            return nvme::Status{};
        }
        return st;
    };
    start();
    EXPECT_EQ(ctrl->info()->namespaces.size(), max_scanned_namespaces);
    EXPECT_EQ(identify_count(nvme::Cns::active_namespace_list),
              max_scanned_namespaces / list_entries);
    EXPECT_EQ(ctrl->info()->namespaces.rbegin()->first, max_scanned_namespaces);
}

// --- LBA data size and capacity --------------------------------------------

/// Every Identify Namespace answers `nsze` blocks of 2^`lbads` bytes.
void serve_namespace(FakeState& fake, std::uint64_t nsze, std::uint8_t lbads)
{
    fake.identify_hook = [nsze, lbads](const auto& s, std::span<std::byte> data, nvme::Status st) {
        if (cns_of(s) == nvme::Cns::namespace_ && s.nsid == 1) write_namespace(data, nsze, lbads);
        return st;
    };
}

TEST_F(HostileDevice, LbaDataSizeOf2Pow40IsUnusable)
{
    serve_namespace(*fake, 1000, 40);
    start();
    const auto ns = only_namespace();
    EXPECT_EQ(ns.nsid, 1u);
    EXPECT_EQ(ns.lba_data_size, 0u); // not representable
    EXPECT_EQ(ns.size_bytes(), 0u);
    EXPECT_NE(ns.unusable_reason.find("LBA data size"), std::string::npos) << ns.unusable_reason;
}

TEST_F(HostileDevice, LbaDataSizeBelow512IsUnusable)
{
    serve_namespace(*fake, 1000, 8);
    start();
    const auto ns = only_namespace();
    EXPECT_EQ(ns.lba_data_size, 256u);
    EXPECT_EQ(ns.size_bytes(), 0u);
    EXPECT_NE(ns.unusable_reason.find("256"), std::string::npos) << ns.unusable_reason;
}

TEST_F(HostileDevice, LbaDataSizeAboveThePageIsUnusable)
{
    serve_namespace(*fake, 1000, 13);
    start();
    const auto ns = only_namespace();
    EXPECT_EQ(ns.lba_data_size, 8192u);
    EXPECT_EQ(ns.size_bytes(), 0u);
    EXPECT_NE(ns.unusable_reason.find("8192"), std::string::npos) << ns.unusable_reason;
}

TEST_F(HostileDevice, PageSizedLbaIsUsable)
{
    serve_namespace(*fake, 1000, 12);
    start();
    const auto ns = only_namespace();
    EXPECT_EQ(ns.lba_data_size, 4096u);
    EXPECT_EQ(ns.size_bytes(), 1000u * 4096u);
    EXPECT_TRUE(ns.unusable_reason.empty()) << ns.unusable_reason;
}

TEST_F(HostileDevice, CapacityThatOverflowsIsZero)
{
    serve_namespace(*fake, (std::uint64_t{1} << 62) + 1, 9); // 2^71 + 512 bytes
    start();
    const auto ns = only_namespace();
    EXPECT_EQ(ns.lba_data_size, 512u);
    EXPECT_EQ(ns.size_bytes(), 0u);
    EXPECT_NE(ns.unusable_reason.find("overflow"), std::string::npos) << ns.unusable_reason;
}

TEST(NamespaceInfo, SizeBytesSaturatesToZeroOnOverflow)
{
    NamespaceInfo ns;
    ns.id.nsze = (std::uint64_t{1} << 53) + 1;
    ns.lba_data_size = 4096; // 2^65 + 4096 bytes: wraps to 4096
    EXPECT_EQ(ns.size_bytes(), 0u);
    ns.id.nsze = std::uint64_t{1} << 51;
    EXPECT_EQ(ns.size_bytes(), std::uint64_t{1} << 63);
}

} // namespace
} // namespace nvmecuse::ctrlr
