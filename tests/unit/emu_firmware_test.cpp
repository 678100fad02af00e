// Firmware Image Download and Firmware Commit of the emulated controller
// (NVMe Base 2.0, 5.13 / 5.12). The default controller has 3 slots, slot 1
// (writable) holds and runs "1.0.0".
#include <cstring>
#include <string>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

const nvme::Status invalid_field = nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
const nvme::Status invalid_slot = nvme::Status(nvme::CommandSpecificStatus::invalid_firmware_slot).with_dnr();
const nvme::Status invalid_image = nvme::Status(nvme::CommandSpecificStatus::invalid_firmware_image).with_dnr();

enum Ca : std::uint32_t { replace = 0, replace_activate = 1, activate = 2, activate_now = 3 };

/// An image that names its revision: "NVCFW" + 8 characters, then filler.
Bytes named_image(std::string_view revision, std::size_t size = 8192)
{
    Bytes b = pattern(size, 9);
    std::string head = "NVCFW" + std::string(revision);
    head.resize(13, '\0');
    std::memcpy(b.data(), head.data(), head.size());
    return b;
}

class FirmwareTest : public EmuTest {
protected:
    Outcome download(std::span<std::byte> piece, std::uint64_t offset_bytes)
    {
        auto s = sqe(nvme::AdminOpcode::firmware_image_download);
        nvme::cmd::firmware_image_download::Numd::set(s, static_cast<std::uint32_t>(piece.size() / 4 - 1));
        nvme::cmd::firmware_image_download::Ofst::set(s, static_cast<std::uint32_t>(offset_bytes / 4));
        return admin(s, piece);
    }
    /// Downloads `image` in 4 KiB pieces.
    void download_all(Bytes image)
    {
        for (std::size_t off = 0; off < image.size(); off += 4096) {
            const std::size_t n = std::min<std::size_t>(4096, image.size() - off);
            ASSERT_OK(download(std::span(image).subspan(off, n), off));
        }
    }
    Outcome commit(std::uint32_t slot, std::uint32_t action)
    {
        auto s = sqe(nvme::AdminOpcode::firmware_commit);
        nvme::cmd::firmware_commit::Fs::set(s, slot);
        nvme::cmd::firmware_commit::Ca::set(s, action);
        return admin(s);
    }
    nvme::FirmwareSlotLog slot_log() { return get_log_as<nvme::FirmwareSlotLog>(0x03, 0); }
    std::string slot_revision(std::size_t slot) { return std::string(nvme::trimmed(slot_log().frs[slot - 1])); }
    std::uint8_t active_slot() { return nvme::afi::ActiveSlot::get(slot_log().afi); }
    std::uint8_t next_reset_slot() { return nvme::afi::NextResetSlot::get(slot_log().afi); }
    std::string running_revision() { return std::string(nvme::trimmed(identify_controller().fr)); }
};

TEST_F(FirmwareTest, DownloadInPiecesAndReplaceASlot)
{
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(2, replace));
    EXPECT_EQ(slot_revision(2), "2.0.0");
    EXPECT_EQ(slot_log().frs[1], (std::array<char, 8>{'2', '.', '0', '.', '0', ' ', ' ', ' '}));
    EXPECT_EQ(slot_revision(1), "1.0.0");
    EXPECT_EQ(slot_revision(3), "");
    // Replacing does not activate.
    EXPECT_EQ(active_slot(), 1);
    EXPECT_EQ(next_reset_slot(), 0);
    EXPECT_EQ(running_revision(), "1.0.0");
}

TEST_F(FirmwareTest, ImagesWithoutARevisionAreNamedFromTheirContent)
{
    download_all(pattern(8192, 1));
    ASSERT_OK(commit(2, replace));
    download_all(pattern(8192, 2));
    ASSERT_OK(commit(3, replace));
    const std::string a = slot_revision(2);
    const std::string b = slot_revision(3);
    ASSERT_EQ(a.size(), 8u);
    EXPECT_EQ(a[0], 'F');
    EXPECT_EQ(a.find_first_not_of("0123456789ABCDEF", 1), std::string::npos) << a;
    EXPECT_NE(a, b);
    // The same image gets the same name.
    download_all(pattern(8192, 1));
    ASSERT_OK(commit(3, replace));
    EXPECT_EQ(slot_revision(3), a);
}

TEST_F(FirmwareTest, ShortRevisionsArePaddedWithSpaces)
{
    download_all(named_image("R7"));
    ASSERT_OK(commit(2, replace));
    EXPECT_EQ(slot_log().frs[1], (std::array<char, 8>{'R', '7', ' ', ' ', ' ', ' ', ' ', ' '}));
}

TEST_F(FirmwareTest, PiecesMustFollowEachOtherOnFourKiBBoundaries)
{
    Bytes image = named_image("3.0.0", 16384);
    auto piece = [&](std::size_t off) { return std::span(image).subspan(off, 4096); };
    ASSERT_OK(download(piece(0), 0));
    // A gap, an overlap, an unaligned offset.
    Outcome o = download(piece(8192), 8192);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 44);
    ASSERT_OK(download(piece(4096), 4096));
    EXPECT_STATUS(download(piece(4096), 4096), invalid_field);
    EXPECT_STATUS(download(std::span(image).subspan(8192, 1024), 8192 + 1024), invalid_field);
    // Offset 0 starts the image over.
    ASSERT_OK(download(piece(0), 0));
    EXPECT_STATUS(download(piece(8192), 8192), invalid_field);
    ASSERT_OK(download(piece(4096), 4096));
    ASSERT_OK(commit(2, replace));
    EXPECT_EQ(slot_revision(2), "3.0.0");
}

TEST_F(FirmwareTest, DownloadChecksSizes)
{
    Bytes small(1024);
    auto s = sqe(nvme::AdminOpcode::firmware_image_download);
    nvme::cmd::firmware_image_download::Numd::set(s, 4096 / 4 - 1);  // asks for 4 KiB
    EXPECT_STATUS(admin(s, small), nvme::GenericStatus::data_transfer_error);

    // More than 32 MiB in total.
    nvme::cmd::firmware_image_download::Numd::set(s, (33u << 20) / 4 - 1);
    const Outcome o = admin(s, small);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 40);
}

TEST_F(FirmwareTest, ReplaceWithoutADownloadedImageIsInvalidFirmwareImage)
{
    EXPECT_STATUS(commit(2, replace), invalid_image);
    EXPECT_STATUS(commit(2, replace_activate), invalid_image);
    // A successful replace consumes the image.
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(2, replace));
    EXPECT_STATUS(commit(3, replace), invalid_image);
}

TEST_F(FirmwareTest, SlotMustExistAndBeWritable)
{
    download_all(named_image("2.0.0"));
    for (std::uint32_t slot : {4u, 7u}) {
        const Outcome o = commit(slot, replace);
        EXPECT_STATUS(o, invalid_slot) << slot;
        EXPECT_EQ(o.error_location, 40);
    }
    // The running image's slot is rewritten only with immediate activation.
    EXPECT_STATUS(commit(1, replace), invalid_slot);
    EXPECT_STATUS(commit(1, replace_activate), invalid_slot);
    // The image is still there for a valid commit.
    EXPECT_OK(commit(3, replace));
}

TEST_F(FirmwareTest, ReadOnlySlotOneCannotBeReplaced)
{
    auto config = default_test_config();
    config.slot1_read_only = true;
    create(config);
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(2, activate_now));
    EXPECT_EQ(active_slot(), 2);
    download_all(named_image("3.0.0"));
    EXPECT_STATUS(commit(1, replace), invalid_slot);
    EXPECT_STATUS(commit(1, activate_now), invalid_slot);
    // Activating its existing image is fine.
    ASSERT_OK(commit(1, activate));
    EXPECT_EQ(next_reset_slot(), 1);
}

TEST_F(FirmwareTest, SlotZeroLetsTheControllerPick)
{
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(0, replace));
    EXPECT_EQ(slot_revision(2), "2.0.0");  // lowest slot that is writable and not running
    // There is no image to pick for an activation.
    EXPECT_STATUS(commit(0, activate), invalid_slot);
    EXPECT_STATUS(commit(0, activate_now), invalid_slot);
}

TEST_F(FirmwareTest, ReplaceAndActivateTakesEffectAtTheNextReset)
{
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(2, replace_activate));
    EXPECT_EQ(active_slot(), 1);
    EXPECT_EQ(next_reset_slot(), 2);
    EXPECT_EQ(running_revision(), "1.0.0");

    ctrl->controller_reset();
    EXPECT_EQ(active_slot(), 2);
    EXPECT_EQ(next_reset_slot(), 0);
    EXPECT_EQ(running_revision(), "2.0.0");
    // A second reset changes nothing.
    ctrl->controller_reset();
    EXPECT_EQ(active_slot(), 2);
}

TEST_F(FirmwareTest, ActivateAnExistingImageAtTheNextReset)
{
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(3, replace));
    ASSERT_OK(commit(3, activate));
    EXPECT_EQ(next_reset_slot(), 3);
    // Choosing the running slot again cancels the pending activation.
    ASSERT_OK(commit(1, activate));
    EXPECT_EQ(next_reset_slot(), 0);
    ASSERT_OK(commit(3, activate));
    ctrl->controller_reset();
    EXPECT_EQ(running_revision(), "2.0.0");
    // An empty slot holds nothing to activate.
    EXPECT_STATUS(commit(2, activate), invalid_image);
}

TEST_F(FirmwareTest, ActivateImmediatelyWithoutReset)
{
    // Opt in to Firmware Activation notices and leave an AER outstanding.
    auto aec = sqe(nvme::AdminOpcode::set_features);
    nvme::cmd::features::Fid::set(aec, 0x0b);
    aec.cdw11 = nvme::feat::async_event_configuration::FirmwareActivationNotices::mask;
    ASSERT_OK(admin(aec));
    ASSERT_TRUE(admin(sqe(nvme::AdminOpcode::async_event_request)).deferred);

    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(2, activate_now));
    EXPECT_EQ(active_slot(), 2);
    EXPECT_EQ(running_revision(), "2.0.0");
    ASSERT_EQ(async_completions.size(), 1u);
    const std::uint32_t dw0 = async_completions[0].second.dw0;
    EXPECT_EQ(nvme::aer_result::type(dw0), nvme::AsyncEventType::notice);
    EXPECT_EQ(nvme::aer_result::Info::get(dw0),
              static_cast<std::uint32_t>(nvme::AsyncEventNotice::firmware_activation_starting));
    EXPECT_EQ(nvme::aer_result::LogPage::get(dw0), 0x03u);

    // Without a downloaded image, CA 3 activates what the slot holds.
    ASSERT_OK(commit(1, activate_now));
    EXPECT_EQ(running_revision(), "1.0.0");
    EXPECT_STATUS(commit(3, activate_now), invalid_image);  // empty
}

TEST_F(FirmwareTest, ActivateImmediatelyRaisesNoNoticeUnlessEnabled)
{
    ASSERT_TRUE(admin(sqe(nvme::AdminOpcode::async_event_request)).deferred);
    download_all(named_image("2.0.0"));
    ASSERT_OK(commit(2, activate_now));
    EXPECT_TRUE(async_completions.empty());
}

TEST_F(FirmwareTest, BootPartitionAndReservedActionsAreInvalidField)
{
    download_all(named_image("2.0.0"));
    for (std::uint32_t ca : {4u, 5u, 6u, 7u}) {
        const Outcome o = commit(2, ca);
        EXPECT_STATUS(o, invalid_field) << ca;
        EXPECT_EQ(o.error_location, 40 | (3 << 8));
    }
    EXPECT_EQ(slot_revision(2), "");
}

} // namespace
} // namespace nvmecuse::emu::testing
