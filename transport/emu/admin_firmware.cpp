// Firmware Image Download (NVMe Base 2.0, 5.13) and Firmware Commit (5.12).
//
// The image is assembled in firmware_download_ from pieces that must follow
// each other (OFST = where the previous piece ended, or 0 to start over) on
// FWUG (4 KiB) boundaries. A commit stores the image's revision in a slot;
// activation happens at the next Controller Level Reset (CA 1/2, see
// apply_pending_firmware()) or at once (CA 3, FRMW bit 4). The firmware
// itself is never run: only its revision matters to the host.
#include <algorithm>
#include <cstring>

#include "emulated_controller.hpp"

namespace nvmecuse::emu {

namespace {

constexpr std::uint16_t cdw10_byte = 40;
constexpr std::uint16_t cdw11_byte = 44;

/// Largest image accepted.
constexpr std::size_t max_image_bytes = 32u << 20;
/// Identify FWUG = 1: pieces start on 4 KiB boundaries.
constexpr std::uint64_t update_granularity_bytes = 4096;
/// Images that name their revision: "NVCFW" then 8 revision characters.
constexpr std::string_view revision_magic = "NVCFW";

using nvme::cmd::firmware_commit::CommitAction;

Outcome fail(nvme::Status s, std::uint16_t byte, std::uint8_t bit = 0)
{
    return Outcome::field_error(s.with_dnr(), byte, bit);
}

} // namespace

std::array<char, 8> EmulatedController::firmware_revision_of(std::span<const std::byte> image)
{
    std::array<char, 8> rev{};
    rev.fill(' ');
    const auto magic = std::as_bytes(std::span(revision_magic));
    if (image.size() >= magic.size() + rev.size() &&
        std::ranges::equal(image.first(magic.size()), magic)) {
        // Printable ASCII up to the first NUL, space padded (1.5 "ASCII string").
        for (std::size_t i = 0; i < rev.size(); ++i) {
            const auto ch = static_cast<unsigned char>(image[magic.size() + i]);
            if (ch == 0) break;
            rev[i] = (ch >= 0x20 && ch < 0x7f) ? static_cast<char>(ch) : '?';
        }
        return rev;
    }
    // Otherwise "F" and 7 hex digits of the image's FNV-1a hash.
    std::uint32_t h = 2166136261u;
    for (std::byte b : image) h = (h ^ static_cast<std::uint8_t>(b)) * 16777619u;
    constexpr char hex[] = "0123456789ABCDEF";
    rev[0] = 'F';
    for (std::size_t i = 1; i < rev.size(); ++i) rev[i] = hex[(h >> (4 * (rev.size() - 1 - i))) & 0xfu];
    return rev;
}

void EmulatedController::apply_pending_firmware()
{
    if (next_reset_slot_ != 0) active_slot_ = next_reset_slot_;
    next_reset_slot_ = 0;
}

// ---------------------------------------------------------------------------
// Firmware Image Download (11h)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_firmware_image_download(const CommandContext& c)
{
    namespace fw = nvme::cmd::firmware_image_download;
    const std::uint64_t bytes = fw::num_bytes(c.sqe);
    const std::uint64_t offset = fw::offset_bytes(c.sqe);
    if (offset % update_granularity_bytes != 0)
        return fail(nvme::GenericStatus::invalid_field, cdw11_byte);
    // Pieces must continue the image (or restart it at offset 0); real
    // drives vary here, gaps and overlaps are refused.
    if (offset != 0 && offset != firmware_download_.size())
        return fail(nvme::GenericStatus::invalid_field, cdw11_byte);
    if (bytes > max_image_bytes || offset + bytes > max_image_bytes)
        return fail(nvme::GenericStatus::invalid_field, cdw10_byte);
    if (c.data.size() < bytes) return nvme::Status(nvme::GenericStatus::data_transfer_error);

    if (offset == 0) firmware_download_.clear();
    firmware_download_.insert(firmware_download_.end(), c.data.begin(),
                              c.data.begin() + static_cast<std::ptrdiff_t>(bytes));
    firmware_download_next_dword_ = static_cast<std::uint32_t>(firmware_download_.size() / 4);
    return Outcome::success();
}

// ---------------------------------------------------------------------------
// Firmware Commit (10h)
// ---------------------------------------------------------------------------

Outcome EmulatedController::admin_firmware_commit(const CommandContext& c)
{
    namespace fw = nvme::cmd::firmware_commit;
    const auto ca = static_cast<CommitAction>(fw::Ca::get(c.sqe));
    std::uint32_t slot = fw::Fs::get(c.sqe);
    const std::uint32_t slots = config_.firmware_slots;

    const bool image_ready = !firmware_download_.empty();
    bool replace = false;
    bool at_reset = false;
    switch (ca) {
    case CommitAction::replace: replace = true; break;
    case CommitAction::replace_and_activate: replace = at_reset = true; break;
    case CommitAction::activate: at_reset = true; break;
    // Activate now; the downloaded image first replaces the slot's, if any.
    case CommitAction::replace_and_activate_immediately: replace = image_ready; break;
    default:  // boot partitions (BPSUP = 0) and reserved values
        return fail(nvme::GenericStatus::invalid_field, cdw10_byte, 3);
    }

    const auto writable = [&](std::uint32_t s) {
        return s >= 1 && s <= slots && !(s == 1 && config_.slot1_read_only);
    };
    if (slot > slots) return fail(nvme::CommandSpecificStatus::invalid_firmware_slot, cdw10_byte);
    if (slot == 0) {
        // FS = 0: the controller picks; for a replace, the lowest writable
        // slot that is not running (or, activating at once, the running one).
        if (!replace) return fail(nvme::CommandSpecificStatus::invalid_firmware_slot, cdw10_byte);
        for (std::uint32_t s = 1; s <= slots && slot == 0; ++s)
            if (writable(s) && s != active_slot_) slot = s;
        if (slot == 0 && ca == CommitAction::replace_and_activate_immediately && writable(active_slot_))
            slot = active_slot_;
        if (slot == 0) return fail(nvme::CommandSpecificStatus::invalid_firmware_slot, cdw10_byte);
    }
    if (replace) {
        if (!writable(slot)) return fail(nvme::CommandSpecificStatus::invalid_firmware_slot, cdw10_byte);
        // The running image's slot is rewritten only together with an
        // immediate activation, so Identify FR always names what runs.
        if (slot == active_slot_ && ca != CommitAction::replace_and_activate_immediately)
            return fail(nvme::CommandSpecificStatus::invalid_firmware_slot, cdw10_byte);
        if (!image_ready) return fail(nvme::CommandSpecificStatus::invalid_firmware_image, cdw10_byte);
        const auto rev = firmware_revision_of(firmware_download_);
        if (std::ranges::all_of(rev, [](char ch) { return ch == ' '; }))
            return fail(nvme::CommandSpecificStatus::invalid_firmware_image, cdw10_byte);
        firmware_slots_[slot - 1] = rev;
        firmware_download_.clear();
        firmware_download_next_dword_ = 0;
    } else if (std::ranges::all_of(firmware_slots_[slot - 1], [](char ch) { return ch == 0 || ch == ' '; })) {
        // Activating an empty slot.
        return fail(nvme::CommandSpecificStatus::invalid_firmware_image, cdw10_byte);
    }

    if (ca == CommitAction::replace) return Outcome::success();
    if (at_reset) {
        next_reset_slot_ = slot == active_slot_ ? 0 : static_cast<std::uint8_t>(slot);
        return Outcome::success();
    }
    // CA 011b, FRMW bit 4: activation without reset.
    if (async_event_enabled(nvme::feat::async_event_configuration::FirmwareActivationNotices::mask))
        raise_event(nvme::AsyncEventType::notice,
                    static_cast<std::uint8_t>(nvme::AsyncEventNotice::firmware_activation_starting),
                    nvme::LogPageId::firmware_slot);
    active_slot_ = static_cast<std::uint8_t>(slot);
    next_reset_slot_ = 0;
    return Outcome::success();
}

} // namespace nvmecuse::emu
