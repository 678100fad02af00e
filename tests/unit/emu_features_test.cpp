// Get Features / Set Features of the emulated controller (NVMe Base 2.0,
// 5.15 / 5.27): supported identifiers, select values, saving, namespace
// specific features and the features with a life of their own.
#include <cstring>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::FeatureId;
namespace caps = nvme::feature_capabilities;

const nvme::Status invalid_field = nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
const nvme::Status invalid_namespace =
    nvme::Status(nvme::GenericStatus::invalid_namespace_or_format).with_dnr();

class FeaturesTest : public EmuTest {
protected:
    Outcome get(FeatureId fid, nvme::FeatureSelect sel = nvme::FeatureSelect::current,
                std::uint32_t cdw11 = 0, std::uint32_t nsid = 0, std::span<std::byte> data = {})
    {
        auto s = sqe(nvme::AdminOpcode::get_features, nsid);
        nvme::cmd::features::Fid::set(s, static_cast<std::uint32_t>(fid));
        nvme::cmd::features::Sel::set(s, static_cast<std::uint32_t>(sel));
        s.cdw11 = cdw11;
        return admin(s, data);
    }
    Outcome set(FeatureId fid, std::uint32_t cdw11, bool save = false, std::uint32_t nsid = 0,
                std::span<std::byte> data = {})
    {
        auto s = sqe(nvme::AdminOpcode::set_features, nsid);
        nvme::cmd::features::Fid::set(s, static_cast<std::uint32_t>(fid));
        nvme::cmd::features::Sv::set(s, save ? 1 : 0);
        s.cdw11 = cdw11;
        return admin(s, data);
    }
    /// dw0 of a successful Get Features.
    std::uint32_t value(FeatureId fid, nvme::FeatureSelect sel = nvme::FeatureSelect::current,
                        std::uint32_t cdw11 = 0, std::uint32_t nsid = 0)
    {
        const Outcome o = get(fid, sel, cdw11, nsid);
        EXPECT_OK(o) << nvme::name(fid);
        return o.dw0;
    }
    Outcome request_aer() { return admin(sqe(nvme::AdminOpcode::async_event_request)); }

    static constexpr std::uint32_t temp(std::uint32_t tmpsel, std::uint32_t thsel, std::uint32_t kelvin = 0)
    {
        using namespace nvme::feat::temperature_threshold;
        return Tmpth::make(kelvin) | Tmpsel::make(tmpsel) | Thsel::make(thsel);
    }
};

TEST_F(FeaturesTest, UnsupportedIdentifiersAreInvalidField)
{
    // 03h LBA Range Type, 0Ch APST (Identify APSTA = 0), 0Dh Host Memory
    // Buffer, reserved 00h and vendor FFh.
    for (int fid : {0x00, 0x03, 0x0c, 0x0d, 0x10, 0x7f, 0xff}) {
        const auto id = static_cast<FeatureId>(fid);
        const Outcome g = get(id);
        EXPECT_STATUS(g, invalid_field) << "fid " << fid;
        EXPECT_EQ(g.error_location, 40);
        EXPECT_STATUS(set(id, 0), invalid_field) << "fid " << fid;
    }
}

TEST_F(FeaturesTest, SupportedCapabilitiesDescribeEachFeature)
{
    const auto cap = [&](FeatureId f) { return value(f, nvme::FeatureSelect::supported_capabilities); };
    EXPECT_EQ(cap(FeatureId::volatile_write_cache), caps::saveable | caps::changeable);
    EXPECT_EQ(cap(FeatureId::arbitration), caps::saveable | caps::changeable);
    EXPECT_EQ(value(FeatureId::error_recovery, nvme::FeatureSelect::supported_capabilities, 0, 1),
              caps::saveable | caps::namespace_specific | caps::changeable);
    EXPECT_EQ(cap(FeatureId::number_of_queues), caps::changeable);
    EXPECT_EQ(cap(FeatureId::timestamp), caps::changeable);
    EXPECT_EQ(cap(FeatureId::keep_alive_timer), caps::changeable);
    EXPECT_EQ(cap(FeatureId::host_identifier), caps::changeable);
    EXPECT_EQ(cap(FeatureId::write_atomicity_normal), caps::saveable);
}

TEST_F(FeaturesTest, ReservedSelectIsInvalidField)
{
    for (std::uint32_t sel = 4; sel < 8; ++sel) {
        const Outcome o = get(FeatureId::volatile_write_cache, static_cast<nvme::FeatureSelect>(sel));
        EXPECT_STATUS(o, invalid_field);
        EXPECT_EQ(o.error_location, 41);
    }
}

TEST_F(FeaturesTest, VolatileWriteCacheDefaultsOnAndKeepsCurrentSavedAndDefaultApart)
{
    EXPECT_EQ(value(FeatureId::volatile_write_cache), 1u);
    ASSERT_OK(set(FeatureId::volatile_write_cache, 0));
    EXPECT_EQ(value(FeatureId::volatile_write_cache), 0u);
    EXPECT_EQ(value(FeatureId::volatile_write_cache, nvme::FeatureSelect::default_), 1u);
    EXPECT_EQ(value(FeatureId::volatile_write_cache, nvme::FeatureSelect::saved), 1u);

    ASSERT_OK(set(FeatureId::volatile_write_cache, 0, /*save=*/true));
    EXPECT_EQ(value(FeatureId::volatile_write_cache, nvme::FeatureSelect::saved), 0u);
    EXPECT_EQ(value(FeatureId::volatile_write_cache, nvme::FeatureSelect::default_), 1u);
    // Reserved bits are not kept.
    ASSERT_OK(set(FeatureId::volatile_write_cache, 0xfffffffe));
    EXPECT_EQ(value(FeatureId::volatile_write_cache), 0u);
}

TEST_F(FeaturesTest, SavingANonSaveableFeatureIsRefused)
{
    const Outcome o = set(FeatureId::keep_alive_timer, 5000, /*save=*/true);
    EXPECT_STATUS(o, nvme::Status(nvme::CommandSpecificStatus::feature_identifier_not_saveable).with_dnr());
    EXPECT_EQ(o.error_location, 43 | (7 << 8));  // SV: cdw10 bit 31
    EXPECT_EQ(value(FeatureId::keep_alive_timer), 0u);  // nothing changed
    EXPECT_STATUS(set(FeatureId::number_of_queues, 0, true),
                  nvme::Status(nvme::CommandSpecificStatus::feature_identifier_not_saveable).with_dnr());
}

TEST_F(FeaturesTest, SavedSelectOfANonSaveableFeatureReadsTheDefault)
{
    ASSERT_OK(set(FeatureId::keep_alive_timer, 5000));
    EXPECT_EQ(value(FeatureId::keep_alive_timer), 5000u);
    EXPECT_EQ(value(FeatureId::keep_alive_timer, nvme::FeatureSelect::saved), 0u);
    EXPECT_EQ(value(FeatureId::keep_alive_timer, nvme::FeatureSelect::default_), 0u);
}

TEST_F(FeaturesTest, ControllerResetRestoresSavedValues)
{
    ASSERT_OK(set(FeatureId::arbitration, 0x01020302, /*save=*/true));
    ASSERT_OK(set(FeatureId::arbitration, 0x00000001));
    ASSERT_OK(set(FeatureId::volatile_write_cache, 0));
    ASSERT_OK(set(FeatureId::keep_alive_timer, 2000));
    ctrl->controller_reset();
    EXPECT_EQ(value(FeatureId::arbitration), 0x01020302u);  // saved
    EXPECT_EQ(value(FeatureId::volatile_write_cache), 1u);  // default, never saved
    EXPECT_EQ(value(FeatureId::keep_alive_timer), 0u);
}

TEST_F(FeaturesTest, ArbitrationDefaultsToNoBurstLimit)
{
    EXPECT_EQ(value(FeatureId::arbitration), 7u);
    // Bits 7:3 are reserved and dropped.
    ASSERT_OK(set(FeatureId::arbitration, 0xaabbccf9));
    EXPECT_EQ(value(FeatureId::arbitration), 0xaabbcc01u);
}

TEST_F(FeaturesTest, PowerManagementAcceptsOnlyDescribedPowerStates)
{
    EXPECT_EQ(value(FeatureId::power_management), 0u);
    // PS 2 with workload hint 1.
    ASSERT_OK(set(FeatureId::power_management, 2 | (1 << 5)));
    EXPECT_EQ(value(FeatureId::power_management), 0x22u);
    const Outcome o = set(FeatureId::power_management, 3);  // NPSS = 2
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 44);
    EXPECT_EQ(value(FeatureId::power_management), 0x22u);
}

TEST_F(FeaturesTest, TemperatureThresholdsPerSensorAndType)
{
    const std::uint32_t wctemp = ctrl->config().warning_temperature_kelvin;
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(0, 0)) & 0xffff, wctemp);
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(0, 1)) & 0xffff, 0u);
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(1, 0)) & 0xffff, wctemp);
    // dw0 echoes the selectors next to the threshold.
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(1, 1)), temp(1, 1, 0));

    ASSERT_OK(set(FeatureId::temperature_threshold, temp(1, 0, 350)));
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(1, 0)) & 0xffff, 350u);
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(0, 0)) & 0xffff, wctemp);
    EXPECT_EQ(value(FeatureId::temperature_threshold, nvme::FeatureSelect::default_, temp(1, 0)) & 0xffff,
              wctemp);

    // TMPSEL Fh sets every sensor (Set only).
    ASSERT_OK(set(FeatureId::temperature_threshold, temp(0xf, 1, 260)));
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(0, 1)) & 0xffff, 260u);
    EXPECT_EQ(value(FeatureId::temperature_threshold, {}, temp(1, 1)) & 0xffff, 260u);
    EXPECT_STATUS(get(FeatureId::temperature_threshold, {}, temp(0xf, 0)), invalid_field);
}

TEST_F(FeaturesTest, TemperatureThresholdOfAMissingSensorOrTypeIsInvalidField)
{
    for (std::uint32_t tmpsel : {2u, 8u, 9u}) {
        EXPECT_STATUS(get(FeatureId::temperature_threshold, {}, temp(tmpsel, 0)), invalid_field);
        EXPECT_STATUS(set(FeatureId::temperature_threshold, temp(tmpsel, 0, 300)), invalid_field);
    }
    const Outcome o = set(FeatureId::temperature_threshold, temp(0, 2, 300));
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 46);
}

TEST_F(FeaturesTest, ThresholdBelowTheTemperatureRaisesASmartEventWhenEnabled)
{
    const std::uint32_t t = ctrl->config().temperature_kelvin;
    ASSERT_TRUE(request_aer().deferred);
    // Not enabled in the Asynchronous Event Configuration: no event.
    ASSERT_OK(set(FeatureId::temperature_threshold, temp(0, 0, t - 10)));
    EXPECT_TRUE(async_completions.empty());

    ASSERT_OK(set(FeatureId::temperature_threshold, temp(0, 0, t + 30)));
    ASSERT_OK(set(FeatureId::async_event_configuration, nvme::critical_warning::temperature));
    ASSERT_OK(set(FeatureId::temperature_threshold, temp(0, 0, t - 10)));
    ASSERT_EQ(async_completions.size(), 1u);
    const std::uint32_t dw0 = async_completions[0].second.dw0;
    EXPECT_EQ(nvme::aer_result::type(dw0), nvme::AsyncEventType::smart_health);
    EXPECT_EQ(nvme::aer_result::Info::get(dw0),
              static_cast<std::uint32_t>(nvme::AsyncEventSmart::temperature_threshold));
    EXPECT_EQ(nvme::aer_result::LogPage::get(dw0), 0x02u);
}

TEST_F(FeaturesTest, ErrorRecoveryIsPerNamespace)
{
    ASSERT_OK(set(FeatureId::error_recovery, 50, false, 1));
    EXPECT_EQ(value(FeatureId::error_recovery, {}, 0, 1), 50u);
    EXPECT_EQ(value(FeatureId::error_recovery, {}, 0, 2), 0u);
    // The broadcast NSID sets every active namespace.
    ASSERT_OK(set(FeatureId::error_recovery, 7, false, nvme::nsid_all));
    EXPECT_EQ(value(FeatureId::error_recovery, {}, 0, 1), 7u);
    EXPECT_EQ(value(FeatureId::error_recovery, {}, 0, 2), 7u);
}

TEST_F(FeaturesTest, ErrorRecoveryRejectsDulbeAndBadNamespaces)
{
    // DULBE needs NSFEAT DAE, which this controller lacks.
    const Outcome dulbe = set(FeatureId::error_recovery, 1u << 16, false, 1);
    EXPECT_STATUS(dulbe, invalid_field);
    EXPECT_EQ(dulbe.error_location, 46);

    // NSID 0, the broadcast value (Get) or beyond NN: Invalid Namespace.
    EXPECT_STATUS(get(FeatureId::error_recovery, {}, 0, 0), invalid_namespace);
    EXPECT_STATUS(get(FeatureId::error_recovery, {}, 0, nvme::nsid_all), invalid_namespace);
    EXPECT_STATUS(get(FeatureId::error_recovery, {}, 0, 9), invalid_namespace);
    EXPECT_STATUS(set(FeatureId::error_recovery, 1, false, 0), invalid_namespace);
    EXPECT_STATUS(set(FeatureId::error_recovery, 1, false, 9), invalid_namespace);
    // A valid but inactive NSID: Invalid Field (as QEMU does).
    EXPECT_STATUS(get(FeatureId::error_recovery, {}, 0, 5), invalid_field);
    EXPECT_STATUS(set(FeatureId::error_recovery, 1, false, 5), invalid_field);
}

TEST_F(FeaturesTest, ControllerWideFeatureWithAnNsid)
{
    // Set: Feature Not Namespace Specific; Get: answered like real drives do.
    const Outcome o = set(FeatureId::volatile_write_cache, 0, false, 1);
    EXPECT_STATUS(o, nvme::Status(nvme::CommandSpecificStatus::feature_not_namespace_specific).with_dnr());
    EXPECT_EQ(o.error_location, 4);
    EXPECT_EQ(value(FeatureId::volatile_write_cache, {}, 0, 1), 1u);
    EXPECT_STATUS(set(FeatureId::volatile_write_cache, 0, false, 9), invalid_namespace);
    EXPECT_OK(set(FeatureId::volatile_write_cache, 0, false, nvme::nsid_all));
    EXPECT_EQ(value(FeatureId::volatile_write_cache), 0u);
}

TEST_F(FeaturesTest, WriteAtomicityNormalIsNotChangeable)
{
    EXPECT_EQ(value(FeatureId::write_atomicity_normal), 0u);
    EXPECT_STATUS(set(FeatureId::write_atomicity_normal, 1),
                  nvme::Status(nvme::CommandSpecificStatus::feature_not_changeable).with_dnr());
    EXPECT_EQ(value(FeatureId::write_atomicity_normal), 0u);
}

TEST_F(FeaturesTest, NumberOfQueuesGrantsUpToTheConfiguredMaximum)
{
    using nvme::feat::number_of_queues::make;
    const std::uint16_t max = ctrl->config().max_io_queues;  // 8
    EXPECT_EQ(value(FeatureId::number_of_queues), make(max, max));

    Outcome o = set(FeatureId::number_of_queues, make(4, 2));
    ASSERT_OK(o);
    EXPECT_EQ(o.dw0, make(4, 4));  // one grant for both kinds, >= each request
    EXPECT_EQ(ctrl->granted_io_queues(), 4);
    EXPECT_EQ(value(FeatureId::number_of_queues), make(4, 4));
    EXPECT_EQ(value(FeatureId::number_of_queues, nvme::FeatureSelect::default_), make(max, max));

    o = set(FeatureId::number_of_queues, make(100, 100));
    ASSERT_OK(o);
    EXPECT_EQ(o.dw0, make(max, max));
}

TEST_F(FeaturesTest, NumberOfQueuesRejects65536AndChangesAfterQueuesExist)
{
    Outcome o = set(FeatureId::number_of_queues, 0x0000ffff);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 44);
    o = set(FeatureId::number_of_queues, 0xffff0000);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 46);

    ASSERT_OK(set(FeatureId::number_of_queues, nvme::feat::number_of_queues::make(2, 2)));
    ctrl->note_io_queue_created(1);
    EXPECT_STATUS(set(FeatureId::number_of_queues, nvme::feat::number_of_queues::make(4, 4)),
                  nvme::Status(nvme::GenericStatus::command_sequence_error).with_dnr());
    EXPECT_EQ(ctrl->granted_io_queues(), 2);

    // A Controller Level Reset deletes the queues: the feature is settable again.
    ctrl->controller_reset();
    EXPECT_OK(set(FeatureId::number_of_queues, nvme::feat::number_of_queues::make(4, 4)));
}

TEST_F(FeaturesTest, InterruptVectorConfigurationPerVector)
{
    using namespace nvme::feat::interrupt_vector_configuration;
    EXPECT_EQ(value(FeatureId::interrupt_vector_configuration, {}, Iv::make(3)), 3u);
    ASSERT_OK(set(FeatureId::interrupt_vector_configuration, Iv::make(3) | Cd::mask));
    EXPECT_EQ(value(FeatureId::interrupt_vector_configuration, {}, Iv::make(3)), 3u | Cd::mask);
    EXPECT_EQ(value(FeatureId::interrupt_vector_configuration, {}, Iv::make(2)), 2u);
    // Vectors 0..max_io_queues exist.
    EXPECT_STATUS(get(FeatureId::interrupt_vector_configuration, {}, Iv::make(9)), invalid_field);
    EXPECT_STATUS(set(FeatureId::interrupt_vector_configuration, Iv::make(9)), invalid_field);
}

TEST_F(FeaturesTest, InterruptCoalescingAndSoftwareProgressMarkerStoreTheirValue)
{
    ASSERT_OK(set(FeatureId::interrupt_coalescing, 0x0a04));
    EXPECT_EQ(value(FeatureId::interrupt_coalescing), 0x0a04u);
    ASSERT_OK(set(FeatureId::software_progress_marker, 0x1205));
    EXPECT_EQ(value(FeatureId::software_progress_marker), 0x05u);  // PBSLC 7:0
}

TEST_F(FeaturesTest, AsyncEventConfigurationKeepsTheEventsThisControllerRaises)
{
    EXPECT_EQ(value(FeatureId::async_event_configuration), 0u);
    ASSERT_OK(set(FeatureId::async_event_configuration, 0x300));
    EXPECT_EQ(value(FeatureId::async_event_configuration), 0x300u);
    // SMART warnings 7:0, namespace attribute (8) and firmware activation (9).
    ASSERT_OK(set(FeatureId::async_event_configuration, 0xffffffff));
    EXPECT_EQ(value(FeatureId::async_event_configuration), 0x3ffu);
}

TEST_F(FeaturesTest, KeepAliveTimerRoundsUpToTheGranularity)
{
    ASSERT_OK(set(FeatureId::keep_alive_timer, 1500));
    EXPECT_EQ(value(FeatureId::keep_alive_timer), 2000u);  // KAS: 1 s
    ASSERT_OK(set(FeatureId::keep_alive_timer, 3000));
    EXPECT_EQ(value(FeatureId::keep_alive_timer), 3000u);
    ASSERT_OK(set(FeatureId::keep_alive_timer, 0));
    EXPECT_EQ(value(FeatureId::keep_alive_timer), 0u);
}

TEST_F(FeaturesTest, TimestampCountsFromResetUntilTheHostSetsIt)
{
    Bytes buf(8);
    now += std::chrono::milliseconds(1234);
    ASSERT_OK(get(FeatureId::timestamp, {}, 0, 0, buf));
    nvme::TimestampData ts;
    std::memcpy(&ts, buf.data(), sizeof ts);
    EXPECT_EQ(ts.milliseconds(), 1234u);
    EXPECT_EQ(nvme::timestamp_attributes::Origin::get(ts.attributes), 0);  // since reset

    nvme::TimestampData host{};
    host.set_milliseconds(1'700'000'000'000ull);
    Bytes in(8);
    std::memcpy(in.data(), &host, sizeof host);
    ASSERT_OK(set(FeatureId::timestamp, 0, false, 0, in));
    now += std::chrono::milliseconds(1500);
    ASSERT_OK(get(FeatureId::timestamp, {}, 0, 0, buf));
    std::memcpy(&ts, buf.data(), sizeof ts);
    EXPECT_EQ(ts.milliseconds(), 1'700'000'001'500ull);
    EXPECT_EQ(ts.attributes, 0x02);  // origin 1 (Set Features), synch 0

    // A Controller Level Reset starts again from zero.
    ctrl->controller_reset();
    now += std::chrono::milliseconds(10);
    ASSERT_OK(get(FeatureId::timestamp, {}, 0, 0, buf));
    std::memcpy(&ts, buf.data(), sizeof ts);
    EXPECT_EQ(ts.milliseconds(), 10u);
    EXPECT_EQ(ts.attributes, 0x00);
}

TEST_F(FeaturesTest, TimestampNeedsAnEightByteBuffer)
{
    Bytes small(4);
    EXPECT_STATUS(get(FeatureId::timestamp, {}, 0, 0, small), nvme::GenericStatus::data_transfer_error);
    EXPECT_STATUS(set(FeatureId::timestamp, 0, false, 0, small), nvme::GenericStatus::data_transfer_error);
}

TEST_F(FeaturesTest, HostIdentifierIs64Or128Bits)
{
    Bytes id = pattern(8, 1);
    ASSERT_OK(set(FeatureId::host_identifier, 0, false, 0, id));
    Bytes out(16, std::byte{0xee});
    ASSERT_OK(get(FeatureId::host_identifier, {}, 0, 0, out));
    EXPECT_TRUE(std::equal(id.begin(), id.end(), out.begin()));
    EXPECT_EQ(out[8], std::byte{0xee});  // only 8 bytes transferred
    // Asking for the 128-bit form of a 64-bit identifier.
    EXPECT_STATUS(get(FeatureId::host_identifier, {}, 1, 0, out),
                  nvme::Status(nvme::GenericStatus::host_identifier_inconsistent_format).with_dnr());

    Bytes id128 = pattern(16, 2);
    ASSERT_OK(set(FeatureId::host_identifier, 1, false, 0, id128));
    ASSERT_OK(get(FeatureId::host_identifier, {}, 1, 0, out));
    EXPECT_EQ(out, id128);
    EXPECT_STATUS(set(FeatureId::host_identifier, 1, false, 0, id),
                  nvme::GenericStatus::data_transfer_error);
}

} // namespace
} // namespace nvmecuse::emu::testing
