// NVM Command Set I/O commands (NVM Command Set 2.0, 3.2 and 3.3): Read,
// Write, Compare, Flush, Write Zeroes, Write Uncorrectable, Dataset
// Management and Verify, on the namespace's NamespaceStorage.
//
// Checks run in the order a real controller applies them: namespace, PRINFO,
// transfer size (MDTS), LBA range, then the host buffers. Unwritten and
// deallocated blocks read as zeroes (DLFEAT = 001b); metadata too.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "emulated_controller.hpp"
#include "log.hpp"
#include "storage_status.hpp"

namespace nvmecuse::emu {

namespace {

using nvme::GenericStatus;
using nvme::MediaStatus;
using nvme::Status;
namespace rw = nvme::cmd::rw;

// Parameter Error Location: SQE byte offsets of the fields checked here.
constexpr std::uint16_t byte_nsid = 4;
constexpr std::uint16_t byte_dptr = 24;
constexpr std::uint16_t byte_mptr = 16;
constexpr std::uint16_t byte_slba = 40;   // CDW10
constexpr std::uint16_t byte_nlb = 48;    // CDW12 bits 15:0
constexpr std::uint16_t byte_prinfo = 51; // CDW12 bits 29:26 = byte 51 bits 5:2
constexpr std::uint8_t bit_prinfo = 2;

/// The blocks one Read/Write/Compare/Verify/... addresses, and the buffer
/// sizes that go with them.
struct Extent {
    EmulatedNamespace* ns;
    std::uint64_t slba;
    std::uint32_t nlb;         ///< 1-based count
    std::size_t lbs;           ///< LBA data size
    std::size_t ms;            ///< metadata bytes per block
    bool extended;             ///< metadata interleaved in the data buffer
    std::size_t host_data;     ///< bytes of the host data buffer used
    std::size_t host_metadata; ///< bytes of the separate metadata buffer used
};

Outcome lba_out_of_range(std::uint64_t slba)
{
    Outcome o = Outcome::field_error(Status(GenericStatus::lba_out_of_range).with_dnr(), byte_slba);
    o.error_lba = slba;
    return o;
}

[[nodiscard]] bool fits(const EmulatedNamespace& ns, std::uint64_t slba, std::uint64_t nlb)
{
    return slba < ns.nsze && nlb <= ns.nsze - slba;
}

/// First block in [slba, slba+nlb) made unreadable by Write Uncorrectable.
std::optional<std::uint64_t> first_uncorrectable(const EmulatedNamespace& ns, std::uint64_t slba,
                                                 std::uint64_t nlb)
{
    if (ns.uncorrectable.empty()) return std::nullopt;
    const auto it = ns.uncorrectable.lower_bound(slba);
    if (it == ns.uncorrectable.end() || *it >= slba + nlb) return std::nullopt;
    return *it;
}

void clear_uncorrectable(EmulatedNamespace& ns, std::uint64_t slba, std::uint64_t nlb)
{
    if (ns.uncorrectable.empty()) return;
    ns.uncorrectable.erase(ns.uncorrectable.lower_bound(slba),
                           ns.uncorrectable.lower_bound(slba + nlb));
}

/// The Outcome of a storage error of `ns` on the blocks from `slba` on;
/// media errors are counted in SMART (NVMe Base 2.0, 5.16.1.3). The log
/// says why, once per namespace and errno (a full file system fails every
/// write after it).
Outcome storage_failure(EmulatedNamespace& ns, std::error_code ec, StorageAccess access,
                        std::uint64_t slba, nvme::Uint128& media_errors)
{
    Outcome o(storage_status(ec, access));
    o.error_lba = slba;
    if (o.status.sct == nvme::StatusCodeType::media_data_integrity) media_errors += 1;
    if (ns.storage_errno != ec.value()) {
        ns.storage_errno = ec.value();
        log().warn("namespace {}: {} of its {} storage failed at LBA {}: {}; answering {}", ns.nsid,
                   access == StorageAccess::read ? "a read" : "a write",
                   ns.storage->file_backed() ? "file" : "RAM", slba, ec.message(),
                   nvme::to_string(o.status));
    }
    return o;
}

/// Deallocates blocks: data and metadata read back as zeroes. Errors: those
/// of NamespaceStorage::discard() (zeroing the edges of a range writes).
std::error_code deallocate(EmulatedNamespace& ns, std::uint64_t slba, std::uint64_t nlb)
{
    using Region = NamespaceStorage::Region;
    // Blocks that cannot be zeroed stay as they were, unreadable ones too.
    if (auto ec =
            ns.storage->discard(Region::data, slba * ns.lba_data_size(), nlb * ns.lba_data_size()))
        return ec;
    if (ns.metadata_size() != 0) {
        if (auto ec = ns.storage->discard(Region::metadata, slba * ns.metadata_size(),
                                          nlb * ns.metadata_size()))
            return ec;
    }
    clear_uncorrectable(ns, slba, nlb);
    return {};
}

/// Unrecovered Read Error for the first bad block (NVM Command Set 2.0,
/// 3.2.7: reads of blocks marked by Write Uncorrectable fail).
Outcome unrecovered_read(std::uint64_t lba)
{
    Outcome o(Status(MediaStatus::unrecovered_read_error).with_dnr());
    o.error_lba = lba;
    return o;
}

/// Host-side position of block i's data and metadata.
struct Layout {
    const Extent& e;
    [[nodiscard]] std::size_t data_at(std::size_t i) const
    {
        return i * (e.extended ? e.lbs + e.ms : e.lbs);
    }
    [[nodiscard]] std::size_t md_at(std::size_t i) const
    {
        return e.extended ? i * (e.lbs + e.ms) + e.lbs : i * e.ms;
    }
};

} // namespace

namespace {

/// Validates a command that addresses blocks. `transfers` = the command
/// moves data (Read/Write/Compare): PRINFO, MDTS and buffer sizes apply.
std::expected<Extent, Outcome> check_extent(const CommandContext& c, EmulatedNamespace& ns,
                                            std::uint8_t mdts, bool transfers)
{
    Extent e{};
    e.ns = &ns;
    e.slba = rw::slba(c.sqe);
    e.nlb = rw::num_blocks(c.sqe);
    e.lbs = ns.lba_data_size();
    e.ms = ns.metadata_size();
    e.extended = ns.extended_metadata && e.ms != 0;
    // No end-to-end protection is ever formatted (DPS = 0): PRINFO must be 0.
    if (rw::Prinfo::get(c.sqe) != 0)
        return std::unexpected(Outcome::field_error(Status(GenericStatus::invalid_field).with_dnr(),
                                                    byte_prinfo, bit_prinfo));
    if (transfers) {
        e.host_data = std::size_t{e.nlb} * (e.extended ? e.lbs + e.ms : e.lbs);
        e.host_metadata = e.extended ? 0 : std::size_t{e.nlb} * e.ms;
        if (mdts != 0 && e.host_data > (std::size_t{4096} << mdts))
            return std::unexpected(
                Outcome::field_error(Status(GenericStatus::invalid_field).with_dnr(), byte_nlb));
    }
    if (!fits(ns, e.slba, e.nlb)) return std::unexpected(lba_out_of_range(e.slba));
    if (transfers) {
        if (c.data.size() < e.host_data)
            return std::unexpected(
                Outcome::field_error(Status(GenericStatus::data_transfer_error), byte_dptr));
        if (c.metadata.size() < e.host_metadata)
            return std::unexpected(
                Outcome::field_error(Status(GenericStatus::data_transfer_error), byte_mptr));
    }
    return e;
}

} // namespace

namespace {

/// The checks every data-moving command shares: namespace, extent and
/// buffers, and for commands that read the media, blocks made unreadable
/// by Write Uncorrectable (counted as media errors).
std::expected<Extent, Outcome> resolve_transfer(const CommandContext& c,
                                                std::expected<EmulatedNamespace*, Status> ns,
                                                std::uint8_t mdts, bool reads_media,
                                                nvme::Uint128& media_errors)
{
    if (!ns) return std::unexpected(Outcome::field_error(ns.error(), byte_nsid));
    auto e = check_extent(c, **ns, mdts, true);
    if (!e || !reads_media) return e;
    if (auto bad = first_uncorrectable(**ns, e->slba, e->nlb)) {
        media_errors += 1;
        return std::unexpected(unrecovered_read(*bad));
    }
    return e;
}

/// Moves the blocks between the host buffers (data and metadata interleaved
/// for extended LBA formats, separate otherwise) and storage, with one
/// preadv/pwritev per region and batch of blocks.
std::error_code move_blocks(const Extent& e, const CommandContext& c, StorageAccess access)
{
    using Region = NamespaceStorage::Region;
    auto& storage = *e.ns->storage;
    const auto move = [&](Region region, std::uint64_t offset, std::span<const iovec> iov) {
        return access == StorageAccess::read ? storage.read(region, offset, iov)
                                             : storage.write(region, offset, iov);
    };
    if (!e.extended) {
        const iovec data{c.data.data(), std::size_t{e.nlb} * e.lbs};
        if (auto ec = move(Region::data, e.slba * e.lbs, std::span(&data, 1))) return ec;
        if (e.ms == 0) return {};
        const iovec md{c.metadata.data(), std::size_t{e.nlb} * e.ms};
        return move(Region::metadata, e.slba * e.ms, std::span(&md, 1));
    }
    constexpr std::size_t batch = 256;
    std::array<iovec, batch> data_iov{};
    std::array<iovec, batch> md_iov{};
    const Layout at{e};
    for (std::size_t first = 0; first < e.nlb; first += batch) {
        const std::size_t n = std::min<std::size_t>(batch, e.nlb - first);
        for (std::size_t k = 0; k < n; ++k) {
            data_iov[k] = {c.data.data() + at.data_at(first + k), e.lbs};
            md_iov[k] = {c.data.data() + at.md_at(first + k), e.ms};
        }
        const std::uint64_t lba = e.slba + first;
        if (auto ec = move(Region::data, lba * e.lbs, std::span(data_iov).first(n))) return ec;
        if (auto ec = move(Region::metadata, lba * e.ms, std::span(md_iov).first(n))) return ec;
    }
    return {};
}

/// Whether the host buffers hold exactly what is stored; the stored blocks
/// are read a few at a time into a bounce buffer. Errors: those of
/// NamespaceStorage::read().
std::expected<bool, std::error_code> same_blocks(const Extent& e, const CommandContext& c)
{
    using Region = NamespaceStorage::Region;
    constexpr std::size_t max_md = 64; // largest metadata size of any LBA format
    std::array<std::byte, 32 * 1024> data{};
    std::array<std::byte, 32 * 1024 / 512 * max_md> md{};
    auto& storage = *e.ns->storage;
    const Layout at{e};
    const std::size_t per_batch = data.size() / e.lbs;
    for (std::size_t first = 0; first < e.nlb; first += per_batch) {
        const std::size_t n = std::min<std::size_t>(per_batch, e.nlb - first);
        const std::uint64_t lba = e.slba + first;
        const auto stored_data = std::span(data).first(n * e.lbs);
        const auto stored_md = std::span(md).first(n * e.ms);
        if (auto ec = storage.read(Region::data, lba * e.lbs, stored_data))
            return std::unexpected(ec);
        if (auto ec = storage.read(Region::metadata, lba * e.ms, stored_md))
            return std::unexpected(ec);
        if (!e.extended) {
            if (std::memcmp(c.data.data() + first * e.lbs, stored_data.data(),
                            stored_data.size()) != 0 ||
                (e.ms != 0 && std::memcmp(c.metadata.data() + first * e.ms, stored_md.data(),
                                          stored_md.size()) != 0))
                return false;
            continue;
        }
        for (std::size_t k = 0; k < n; ++k) {
            if (std::memcmp(c.data.data() + at.data_at(first + k), stored_data.data() + k * e.lbs,
                            e.lbs) != 0 ||
                std::memcmp(c.data.data() + at.md_at(first + k), stored_md.data() + k * e.ms,
                            e.ms) != 0)
                return false;
        }
    }
    return true;
}

} // namespace

Outcome EmulatedController::io_read(const CommandContext& c)
{
    auto e = resolve_transfer(c, io_namespace(c.sqe.nsid), config_.mdts, true,
                              health_.media_errors);
    if (!e) return e.error();
    if (auto ec = move_blocks(*e, c, StorageAccess::read))
        return storage_failure(*e->ns, ec, StorageAccess::read, e->slba, health_.media_errors);
    // The buffers may be larger than the blocks (the caller chose their
    // size) and arrive uninitialised (TransportInfo::fills_host_buffers).
    std::ranges::fill(c.data.subspan(e->host_data), std::byte{0});
    std::ranges::fill(c.metadata.subspan(e->host_metadata), std::byte{0});
    health_.bytes_read += std::uint64_t{e->nlb} * e->lbs;
    return Outcome::success();
}

Outcome EmulatedController::io_write(const CommandContext& c)
{
    auto e = resolve_transfer(c, io_namespace(c.sqe.nsid), config_.mdts, false,
                              health_.media_errors);
    if (!e) return e.error();
    // A failed write leaves the blocks unreadable as they were, and possibly
    // partly written (the host must not rely on their content).
    if (auto ec = move_blocks(*e, c, StorageAccess::write))
        return storage_failure(*e->ns, ec, StorageAccess::write, e->slba, health_.media_errors);
    clear_uncorrectable(*e->ns, e->slba, e->nlb);
    const std::uint64_t bytes = std::uint64_t{e->nlb} * e->lbs;
    // Force Unit Access, or no volatile write cache: durable before completion.
    auto& storage = *e->ns->storage;
    if (storage.file_backed() && (rw::Fua::get(c.sqe) != 0 || !write_cache_enabled())) {
        if (auto ec = storage.flush_data(e->slba * e->lbs, bytes))
            return storage_failure(*e->ns, ec, StorageAccess::write, e->slba, health_.media_errors);
    }
    health_.bytes_written += bytes;
    return Outcome::success();
}

Outcome EmulatedController::io_compare(const CommandContext& c)
{
    auto e = resolve_transfer(c, io_namespace(c.sqe.nsid), config_.mdts, true,
                              health_.media_errors);
    if (!e) return e.error();
    const auto same = same_blocks(*e, c);
    if (!same)
        return storage_failure(*e->ns, same.error(), StorageAccess::read, e->slba,
                               health_.media_errors);
    if (!*same) return Status(MediaStatus::compare_failure).with_dnr();
    health_.bytes_read += std::uint64_t{e->nlb} * e->lbs;
    return Outcome::success();
}

Outcome EmulatedController::io_flush(const CommandContext& c)
{
    // Volatile Write Cache present; Flush with NSID FFFFFFFFh flushes every
    // namespace (Identify Controller VWC bits 2:1 = 11b).
    // A failed flush is a failed write of the cached data.
    if (c.sqe.nsid == nvme::nsid_all) {
        std::optional<Outcome> failure;
        for (auto& [nsid, ns] : namespaces_) {
            if (auto ec = ns.storage->flush(); ec && !failure)
                failure = storage_failure(ns, ec, StorageAccess::write, 0, health_.media_errors);
        }
        return failure ? *failure : Outcome::success();
    }
    auto ns = io_namespace(c.sqe.nsid);
    if (!ns) return Outcome::field_error(ns.error(), byte_nsid);
    if (auto ec = (*ns)->storage->flush())
        return storage_failure(**ns, ec, StorageAccess::write, 0, health_.media_errors);
    return Outcome::success();
}

Outcome EmulatedController::io_write_zeroes(const CommandContext& c)
{
    auto ns = io_namespace(c.sqe.nsid);
    if (!ns) return Outcome::field_error(ns.error(), byte_nsid);
    auto e = check_extent(c, **ns, config_.mdts, false);
    if (!e) return e.error();
    // With or without DEAC the blocks read back as zeroes afterwards
    // (DLFEAT = 001b), so both deallocate: the emulated media stays sparse.
    if (auto ec = deallocate(**ns, e->slba, e->nlb))
        return storage_failure(*e->ns, ec, StorageAccess::write, e->slba, health_.media_errors);
    auto& storage = *(*ns)->storage;
    if (storage.file_backed() && (rw::Fua::get(c.sqe) != 0 || !write_cache_enabled())) {
        if (auto ec = storage.flush())
            return storage_failure(*e->ns, ec, StorageAccess::write, e->slba, health_.media_errors);
    }
    return Outcome::success();
}

Outcome EmulatedController::io_write_uncorrectable(const CommandContext& c)
{
    auto ns = io_namespace(c.sqe.nsid);
    if (!ns) return Outcome::field_error(ns.error(), byte_nsid);
    auto e = check_extent(c, **ns, config_.mdts, false);
    if (!e) return e.error();
    for (std::uint64_t lba = e->slba; lba < e->slba + e->nlb; ++lba)
        (*ns)->uncorrectable.insert(lba);
    return Outcome::success();
}

Outcome EmulatedController::io_dataset_management(const CommandContext& c)
{
    namespace dsm = nvme::cmd::dsm;
    auto ns = io_namespace(c.sqe.nsid);
    if (!ns) return Outcome::field_error(ns.error(), byte_nsid);
    const std::size_t count = dsm::num_ranges(c.sqe); // 1..256
    if (c.data.size() < count * sizeof(nvme::DsmRange))
        return Outcome::field_error(Status(GenericStatus::data_transfer_error), byte_dptr);
    if (dsm::Ad::get(c.sqe) == 0) return Outcome::success(); // IDR/IDW are hints only
    auto range = [&](std::size_t i) {
        nvme::DsmRange r;
        std::memcpy(&r, c.data.data() + i * sizeof r, sizeof r);
        return r;
    };
    // All ranges are checked before any is deallocated.
    for (std::size_t i = 0; i < count; ++i) {
        const auto r = range(i);
        if (r.nlb != 0 && !fits(**ns, r.slba, r.nlb)) {
            Outcome o(Status(GenericStatus::lba_out_of_range).with_dnr());
            o.error_lba = r.slba;
            return o;
        }
    }
    for (std::size_t i = 0; i < count; ++i) {
        const auto r = range(i);
        if (r.nlb == 0) continue;
        if (auto ec = deallocate(**ns, r.slba, r.nlb))
            return storage_failure(**ns, ec, StorageAccess::write, r.slba, health_.media_errors);
    }
    return Outcome::success();
}

Outcome EmulatedController::io_verify(const CommandContext& c)
{
    auto ns = io_namespace(c.sqe.nsid);
    if (!ns) return Outcome::field_error(ns.error(), byte_nsid);
    auto e = check_extent(c, **ns, config_.mdts, false);
    if (!e) return e.error();
    if (auto bad = first_uncorrectable(**ns, e->slba, e->nlb)) {
        health_.media_errors += 1;
        return unrecovered_read(*bad);
    }
    health_.bytes_read += std::uint64_t{e->nlb} * e->lbs;
    return Outcome::success();
}

} // namespace nvmecuse::emu
