// Asynchronous events, Abort and Keep Alive of the emulated controller
// (NVMe Base 2.0, 5.1, 5.2, 5.25; Asynchronous Event Configuration 5.27.1.7;
// Changed Namespace List 5.16.1.5).
//
// An Asynchronous Event Request is held by the controller (the command is
// "deferred") and completes through the async sink when an event happens;
// the fixture records those completions in `async_completions`.
#include <algorithm>
#include <cstring>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::LogPageId;

constexpr std::uint8_t lid(LogPageId id)
{
    return static_cast<std::uint8_t>(id);
}

/// AER completion dw0 of a Namespace Attribute Changed notice: type 2
/// (notice), info 0, log page 04h.
constexpr std::uint32_t namespace_notice = 0x00040002;
/// AER completion dw0 of a SMART temperature threshold event: type 1, info
/// 1, log page 02h.
constexpr std::uint32_t temperature_event = 0x00020101;

constexpr std::uint32_t aec_namespace_notices =
    nvme::feat::async_event_configuration::NamespaceAttributeNotices::mask;
constexpr std::uint32_t aec_temperature = nvme::critical_warning::temperature;

class EventsTest : public EmuTest {
protected:
    /// Posts an AER; returns its cid. A held AER reports `deferred`.
    std::uint16_t request_aer()
    {
        const std::uint16_t cid = next_cid;
        const Outcome o = admin(sqe(nvme::AdminOpcode::async_event_request));
        EXPECT_TRUE(o.deferred) << nvme::to_string(o.status);
        return cid;
    }
    void set_feature(nvme::FeatureId fid, std::uint32_t cdw11)
    {
        auto s = sqe(nvme::AdminOpcode::set_features);
        nvme::cmd::features::Fid::set(s, static_cast<std::uint32_t>(fid));
        s.cdw11 = cdw11;
        ASSERT_OK(admin(s));
    }
    void enable_events(std::uint32_t aec)
    {
        set_feature(nvme::FeatureId::async_event_configuration, aec);
    }
    /// Over-temperature threshold of the composite sensor, in Kelvin.
    void set_over_temperature(std::uint32_t kelvin)
    {
        set_feature(nvme::FeatureId::temperature_threshold, kelvin);
    }

    Outcome attachment(std::uint32_t nsid, bool attach)
    {
        nvme::ControllerList list{};
        list.num = 1;
        list.ids[0] = ctrl->config().cntlid;
        Bytes data(sizeof list);
        std::memcpy(data.data(), &list, sizeof list);
        auto s = sqe(nvme::AdminOpcode::namespace_attachment, nsid);
        nvme::cmd::namespace_attachment::SelField::set(s, attach ? 0 : 1);
        return admin(s, data);
    }
    void detach(std::uint32_t nsid) { ASSERT_OK(attachment(nsid, false)); }
    void attach(std::uint32_t nsid) { ASSERT_OK(attachment(nsid, true)); }

    /// Creates a one-block namespace (512-byte format); returns its nsid.
    std::uint32_t create_tiny_namespace()
    {
        nvme::IdentifyNamespace host{};
        host.nsze = 1;
        host.ncap = 1;
        Bytes data(sizeof host);
        std::memcpy(data.data(), &host, sizeof host);
        auto s = sqe(nvme::AdminOpcode::namespace_management);
        const Outcome o = admin(s, data);
        EXPECT_OK(o);
        return o.dw0;
    }

    nvme::ChangedNamespaceList changed_namespaces(bool rae)
    {
        Bytes b;
        EXPECT_OK(get_log(lid(LogPageId::changed_namespace_list), 0, b, 4096, 0, rae));
        nvme::ChangedNamespaceList list;
        std::memcpy(&list, b.data(), sizeof list);
        return list;
    }
    void read_log(LogPageId id, bool rae)
    {
        Bytes b;
        ASSERT_OK(get_log(lid(id), nvme::nsid_all, b, 512, 0, rae));
    }
    Outcome abort(std::uint16_t sqid, std::uint16_t cid)
    {
        auto s = sqe(nvme::AdminOpcode::abort);
        nvme::cmd::abort::Sqid::set(s, sqid);
        nvme::cmd::abort::Cid::set(s, cid);
        return admin(s);
    }
};

// ---------------------------------------------------------------------------
// Asynchronous Event Request
// ---------------------------------------------------------------------------

TEST_F(EventsTest, AerIsHeldUntilAnEventHappens)
{
    request_aer();
    EXPECT_TRUE(async_completions.empty());
}

TEST_F(EventsTest, MoreThanAerlPlusOneRequestsExceedTheLimit)
{
    // AERL = 3 (0's based): four may be outstanding.
    for (int i = 0; i < 4; ++i)
        request_aer();
    const Outcome fifth = admin(sqe(nvme::AdminOpcode::async_event_request));
    EXPECT_FALSE(fifth.deferred);
    EXPECT_STATUS(
        fifth,
        nvme::Status(nvme::CommandSpecificStatus::async_event_request_limit_exceeded).with_dnr());
    EXPECT_TRUE(async_completions.empty());
}

TEST_F(EventsTest, AerlZeroAllowsOneOutstandingRequest)
{
    auto cfg = default_test_config();
    cfg.aerl = 0;
    create(cfg);
    request_aer();
    EXPECT_STATUS(
        admin(sqe(nvme::AdminOpcode::async_event_request)),
        nvme::Status(nvme::CommandSpecificStatus::async_event_request_limit_exceeded).with_dnr());
}

TEST_F(EventsTest, EventCompletesTheOldestOutstandingAer)
{
    enable_events(aec_namespace_notices);
    const std::uint16_t first = request_aer();
    request_aer();
    detach(2);
    ASSERT_EQ(async_completions.size(), 1u);
    EXPECT_EQ(async_completions[0].first, first);
    EXPECT_OK(async_completions[0].second);
    EXPECT_EQ(async_completions[0].second.dw0, namespace_notice);
    EXPECT_EQ(nvme::aer_result::type(namespace_notice), nvme::AsyncEventType::notice);
}

TEST_F(EventsTest, EventWithoutAnAerWaitsForTheNextOne)
{
    enable_events(aec_namespace_notices);
    detach(2);
    EXPECT_TRUE(async_completions.empty());
    const std::uint16_t cid = request_aer();
    ASSERT_EQ(async_completions.size(), 1u) << "completed as soon as it was posted";
    EXPECT_EQ(async_completions[0].first, cid);
    EXPECT_EQ(async_completions[0].second.dw0, namespace_notice);
}

TEST_F(EventsTest, NamespaceNoticeNeedsAsyncEventConfigurationBit8)
{
    // Default AEC = 0: the change is recorded, no notice is sent.
    request_aer();
    detach(2);
    EXPECT_TRUE(async_completions.empty());
    EXPECT_EQ(changed_namespaces(true).nsid[0], 2u);
    // Enabling later does not replay the old change; the next one is sent.
    enable_events(aec_namespace_notices);
    EXPECT_TRUE(async_completions.empty());
    attach(2);
    ASSERT_EQ(async_completions.size(), 1u);
    EXPECT_EQ(async_completions[0].second.dw0, namespace_notice);
}

TEST_F(EventsTest, ReportedTypeStaysMaskedUntilItsLogIsReadWithRaeZero)
{
    enable_events(aec_namespace_notices);
    request_aer();
    detach(2);
    ASSERT_EQ(async_completions.size(), 1u);

    request_aer();
    attach(2);
    detach(1);
    EXPECT_EQ(async_completions.size(), 1u) << "notices are masked after one was reported";

    changed_namespaces(/*rae=*/true);
    EXPECT_EQ(async_completions.size(), 1u) << "RAE=1 keeps the mask";
    read_log(LogPageId::smart_health, false);
    EXPECT_EQ(async_completions.size(), 1u) << "another log does not unmask";

    const auto list = changed_namespaces(/*rae=*/false);
    EXPECT_EQ(list.nsid[0], 1u);
    EXPECT_EQ(list.nsid[1], 2u);
    EXPECT_EQ(async_completions.size(), 1u) << "the queued notices were covered by that read";

    attach(1);
    ASSERT_EQ(async_completions.size(), 2u) << "unmasked: the next change is reported";
    EXPECT_EQ(async_completions[1].second.dw0, namespace_notice);
    EXPECT_EQ(changed_namespaces(true).nsid[0], 1u);
    EXPECT_EQ(changed_namespaces(true).nsid[1], 0u);
}

TEST_F(EventsTest, MaskIsPerEventType)
{
    enable_events(aec_namespace_notices | aec_temperature);
    request_aer();
    request_aer();
    detach(2);
    set_over_temperature(300); // below the composite temperature (313 K)
    ASSERT_EQ(async_completions.size(), 2u);
    EXPECT_EQ(async_completions[0].second.dw0, namespace_notice);
    EXPECT_EQ(async_completions[1].second.dw0, temperature_event);

    // The SMART mask clears with a RAE=0 read of the SMART log only.
    request_aer();
    set_over_temperature(301);
    EXPECT_EQ(async_completions.size(), 2u);
    read_log(LogPageId::smart_health, true);
    EXPECT_EQ(async_completions.size(), 2u);
    read_log(LogPageId::smart_health, false);
    set_over_temperature(302);
    ASSERT_EQ(async_completions.size(), 3u);
    EXPECT_EQ(async_completions[2].second.dw0, temperature_event);
}

// ---------------------------------------------------------------------------
// Changed Namespace List
// ---------------------------------------------------------------------------

TEST_F(EventsTest, ChangedNamespaceListIsSortedWithoutDuplicates)
{
    EXPECT_EQ(changed_namespaces(true).nsid[0], 0u) << "nothing changed yet";
    detach(2);
    detach(1);
    attach(2);
    const auto list = changed_namespaces(true);
    EXPECT_EQ(list.nsid[0], 1u);
    EXPECT_EQ(list.nsid[1], 2u);
    EXPECT_EQ(list.nsid[2], 0u);
}

TEST_F(EventsTest, ChangedNamespaceListOverflowsToAllOnes)
{
    auto cfg = default_test_config();
    cfg.max_namespaces = 1100;
    create(cfg);
    // 1025 distinct namespaces change: one more than the list holds.
    for (int i = 0; i < 1025; ++i)
        attach(create_tiny_namespace());
    auto list = changed_namespaces(true);
    EXPECT_EQ(list.nsid[0], nvme::nsid_all);
    EXPECT_EQ(list.nsid[1], 0u);
    detach(1);
    EXPECT_EQ(changed_namespaces(true).nsid[0], nvme::nsid_all) << "stays overflowed until read";
    EXPECT_EQ(changed_namespaces(false).nsid[0], nvme::nsid_all);
    EXPECT_EQ(changed_namespaces(true).nsid[0], 0u) << "cleared by the RAE=0 read";
}

TEST_F(EventsTest, ChangedNamespaceListHolds1024Entries)
{
    auto cfg = default_test_config();
    cfg.max_namespaces = 1100;
    create(cfg);
    std::uint32_t last = 0;
    for (int i = 0; i < 1024; ++i) {
        last = create_tiny_namespace();
        attach(last);
    }
    const auto list = changed_namespaces(true);
    EXPECT_EQ(list.nsid[0], 3u);
    EXPECT_EQ(list.nsid[1023], last);
}

// ---------------------------------------------------------------------------
// Abort
// ---------------------------------------------------------------------------

TEST_F(EventsTest, AbortCompletesAnOutstandingAer)
{
    const std::uint16_t cid = request_aer();
    const Outcome o = abort(0, cid);
    EXPECT_OK(o);
    EXPECT_EQ(o.dw0 & 1, 0u) << "dw0 bit 0 = 0: aborted";
    ASSERT_EQ(async_completions.size(), 1u);
    EXPECT_EQ(async_completions[0].first, cid);
    EXPECT_STATUS(async_completions[0].second, nvme::GenericStatus::aborted_by_request);
    // The slot is free again: four more may be posted.
    for (int i = 0; i < 4; ++i)
        request_aer();
}

TEST_F(EventsTest, AbortedAerNoLongerReceivesEvents)
{
    enable_events(aec_namespace_notices);
    const std::uint16_t aborted = request_aer();
    const std::uint16_t kept = request_aer();
    ASSERT_OK(abort(0, aborted));
    detach(2);
    ASSERT_EQ(async_completions.size(), 2u);
    EXPECT_EQ(async_completions[1].first, kept);
    EXPECT_EQ(async_completions[1].second.dw0, namespace_notice);
}

TEST_F(EventsTest, AbortOfAnythingElseReportsNotAborted)
{
    const std::uint16_t cid = request_aer();
    for (const auto& [sqid, target] : {std::pair<std::uint16_t, std::uint16_t>{0, 0x7777},
                                       {1, cid},
                                       {0, static_cast<std::uint16_t>(cid + 100)}}) {
        const Outcome o = abort(sqid, target);
        EXPECT_OK(o);
        EXPECT_EQ(o.dw0 & 1, 1u) << "sqid " << sqid << " cid " << target;
    }
    EXPECT_TRUE(async_completions.empty());
}

// ---------------------------------------------------------------------------
// Controller reset and Keep Alive
// ---------------------------------------------------------------------------

TEST_F(EventsTest, ControllerResetDropsOutstandingAersAndMasks)
{
    enable_events(aec_namespace_notices);
    for (int i = 0; i < 3; ++i)
        request_aer();
    detach(2);
    ASSERT_EQ(async_completions.size(), 1u);

    ctrl->controller_reset();
    EXPECT_EQ(async_completions.size(), 1u) << "dropped AERs get no completion";
    for (int i = 0; i < 4; ++i)
        request_aer(); // the limit counts from zero again

    enable_events(aec_namespace_notices); // AEC returned to its saved value (0)
    attach(2);
    ASSERT_EQ(async_completions.size(), 2u) << "the notice type is no longer masked";
    EXPECT_EQ(async_completions[1].second.dw0, namespace_notice);
}

TEST_F(EventsTest, KeepAliveSucceeds)
{
    now += std::chrono::seconds(30);
    const Outcome o = admin(sqe(nvme::AdminOpcode::keep_alive));
    EXPECT_OK(o);
    EXPECT_FALSE(o.deferred);
    EXPECT_EQ(o.dw0, 0u);
}

} // namespace
} // namespace nvmecuse::emu::testing
