// Device Self-test of the emulated controller (NVMe Base 2.0, 5.9) and the
// results it leaves in the Device Self-test log (5.16.1.7). The short test
// takes config.short_self_test_ms (2 s) of controller clock, the extended
// one four times that; both pass.
#include <chrono>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t short_test = 0x1;
constexpr std::uint32_t extended_test = 0x2;
constexpr std::uint32_t abort_test = 0xf;
constexpr std::uint8_t unused_entry = 0x0f;

/// device_self_test_status: code 7:4, result 3:0.
constexpr std::uint8_t status(std::uint32_t code, nvme::SelfTestResultCode result)
{
    return static_cast<std::uint8_t>((code << 4) | static_cast<std::uint8_t>(result));
}

class SelfTestTest : public EmuTest {
protected:
    Outcome self_test(std::uint32_t stc, std::uint32_t nsid = 0)
    {
        auto s = sqe(nvme::AdminOpcode::device_self_test, nsid);
        nvme::cmd::device_self_test::Stc::set(s, stc);
        return admin(s);
    }
    nvme::DeviceSelfTestLog log() { return get_log_as<nvme::DeviceSelfTestLog>(0x06, 0); }
    std::size_t used_entries()
    {
        const auto l = log();
        std::size_t n = 0;
        for (const auto& r : l.result)
            if (r.device_self_test_status != unused_entry) ++n;
        return n;
    }
};

TEST_F(SelfTestTest, ShortTestReportsProgressThenPasses)
{
    ASSERT_OK(self_test(short_test));
    auto l = log();
    EXPECT_EQ(l.current_operation, short_test);
    EXPECT_EQ(l.current_completion, 0);
    EXPECT_EQ(l.result[0].device_self_test_status, unused_entry);

    now += 1s;
    l = log();
    EXPECT_EQ(l.current_operation, short_test);
    EXPECT_EQ(l.current_completion, 50);

    now += 1s;
    l = log();
    EXPECT_EQ(l.current_operation, 0);
    EXPECT_EQ(l.current_completion, 0);
    EXPECT_EQ(l.result[0].device_self_test_status,
              status(short_test, nvme::SelfTestResultCode::completed_without_error));
    EXPECT_EQ(l.result[0].nsid, 0u);
    EXPECT_EQ(l.result[0].valid_diagnostic_info, 0);  // controller only: no NSID
    EXPECT_EQ(l.result[1].device_self_test_status, unused_entry);
}

TEST_F(SelfTestTest, ExtendedTestTakesFourTimesAsLong)
{
    ASSERT_OK(self_test(extended_test));
    now += 7999ms;
    auto l = log();
    EXPECT_EQ(l.current_operation, extended_test);
    EXPECT_EQ(l.current_completion, 99);  // never 100 while running
    now += 1ms;
    l = log();
    EXPECT_EQ(l.current_operation, 0);
    EXPECT_EQ(l.result[0].device_self_test_status,
              status(extended_test, nvme::SelfTestResultCode::completed_without_error));
}

TEST_F(SelfTestTest, ResultRecordsPowerOnHours)
{
    now += 5h;
    ASSERT_OK(self_test(short_test));
    now += 2s;
    EXPECT_EQ(log().result[0].power_on_hours.get(), 5u);
}

TEST_F(SelfTestTest, OnlyOneTestAtATime)
{
    ASSERT_OK(self_test(short_test));
    const Outcome o = self_test(extended_test);
    EXPECT_STATUS(o, nvme::CommandSpecificStatus::device_self_test_in_progress);
    EXPECT_STATUS(self_test(short_test, 1), nvme::CommandSpecificStatus::device_self_test_in_progress);
    EXPECT_EQ(log().current_operation, short_test);
    // Once it has finished, the next one may start.
    now += 2s;
    EXPECT_OK(self_test(extended_test));
    EXPECT_EQ(log().current_operation, extended_test);
}

TEST_F(SelfTestTest, AbortEndsTheRunningTest)
{
    ASSERT_OK(self_test(extended_test, 1));
    now += 1s;
    ASSERT_OK(self_test(abort_test));
    const auto l = log();
    EXPECT_EQ(l.current_operation, 0);
    EXPECT_EQ(l.result[0].device_self_test_status,
              status(extended_test, nvme::SelfTestResultCode::aborted_by_self_test_command));
    EXPECT_EQ(l.result[0].nsid, 1u);
    EXPECT_EQ(l.result[1].device_self_test_status, unused_entry);
    // A new test may start right away.
    EXPECT_OK(self_test(short_test));
}

TEST_F(SelfTestTest, AbortWithNothingRunningIsANoOp)
{
    EXPECT_OK(self_test(abort_test));
    EXPECT_EQ(used_entries(), 0u);
    // A test whose time is up has completed: aborting it changes nothing.
    ASSERT_OK(self_test(short_test));
    now += 3s;
    EXPECT_OK(self_test(abort_test));
    const auto l = log();
    EXPECT_EQ(l.result[0].device_self_test_status,
              status(short_test, nvme::SelfTestResultCode::completed_without_error));
    EXPECT_EQ(l.result[1].device_self_test_status, unused_entry);
}

TEST_F(SelfTestTest, NamespaceScope)
{
    ASSERT_OK(self_test(short_test, 2));
    now += 2s;
    auto l = log();
    EXPECT_EQ(l.result[0].nsid, 2u);
    EXPECT_EQ(l.result[0].valid_diagnostic_info, nvme::self_test_valid::nsid);

    ASSERT_OK(self_test(short_test, nvme::nsid_all));
    now += 2s;
    l = log();
    EXPECT_EQ(l.result[0].nsid, nvme::nsid_all);
    EXPECT_EQ(l.result[0].valid_diagnostic_info, nvme::self_test_valid::nsid);
}

TEST_F(SelfTestTest, InactiveOrInvalidNamespaceIsRefused)
{
    const auto invalid_namespace = nvme::Status(nvme::GenericStatus::invalid_namespace_or_format).with_dnr();
    for (std::uint32_t nsid : {3u, 8u, 9u, 0xfffffffeu}) {
        const Outcome o = self_test(short_test, nsid);
        EXPECT_STATUS(o, invalid_namespace) << nsid;
        EXPECT_EQ(o.error_location, 4);
    }
    EXPECT_EQ(log().current_operation, 0);
}

TEST_F(SelfTestTest, UnknownCodesAreInvalidField)
{
    const auto invalid_field = nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
    for (std::uint32_t stc : {0x0u, 0x3u, 0x7u, 0xeu}) {
        const Outcome o = self_test(stc);
        EXPECT_STATUS(o, invalid_field) << stc;
        EXPECT_EQ(o.error_location, 40);
    }
    EXPECT_EQ(log().current_operation, 0);
}

TEST_F(SelfTestTest, ResultsAreNewestFirstAndTheLastTwentyAreKept)
{
    // Run 22 tests, labelled by code (alternating) and nsid (0, 1, 2, ...).
    for (std::uint32_t i = 0; i < 22; ++i) {
        const std::uint32_t code = i % 2 == 0 ? short_test : extended_test;
        const std::uint32_t nsid = i % 3;
        ASSERT_OK(self_test(code, nsid));
        now += 8s;
    }
    const auto l = log();
    for (std::uint32_t k = 0; k < 20; ++k) {
        const std::uint32_t run = 21 - k;
        EXPECT_EQ(l.result[k].device_self_test_status >> 4, run % 2 == 0 ? short_test : extended_test) << k;
        EXPECT_EQ(l.result[k].nsid, run % 3) << k;
    }
}

TEST_F(SelfTestTest, ControllerResetAbortsTheRunningTest)
{
    ASSERT_OK(self_test(short_test));
    now += 500ms;
    ctrl->controller_reset();
    const auto l = log();
    EXPECT_EQ(l.current_operation, 0);
    EXPECT_EQ(l.result[0].device_self_test_status,
              status(short_test, nvme::SelfTestResultCode::aborted_by_controller_reset));
    now += 10s;
    EXPECT_EQ(used_entries(), 1u);  // nothing completes later
}

TEST_F(SelfTestTest, FormatOrRemovalOfTheTestedNamespaceAbortsIt)
{
    ASSERT_OK(self_test(extended_test, 1));
    auto format = sqe(nvme::AdminOpcode::format_nvm, 1);
    ASSERT_OK(admin(format));
    EXPECT_EQ(log().result[0].device_self_test_status,
              status(extended_test, nvme::SelfTestResultCode::aborted_by_format_nvm));

    ASSERT_OK(self_test(extended_test, 2));
    auto remove = sqe(nvme::AdminOpcode::namespace_management, 2);
    nvme::cmd::namespace_management::SelField::set(remove, 1);
    ASSERT_OK(admin(remove));
    EXPECT_EQ(log().result[0].device_self_test_status,
              status(extended_test, nvme::SelfTestResultCode::aborted_by_namespace_removal));

    // A test of another namespace carries on.
    ASSERT_OK(self_test(short_test, 0));
    ASSERT_OK(admin(format));
    EXPECT_EQ(log().current_operation, short_test);
}

} // namespace
} // namespace nvmecuse::emu::testing
