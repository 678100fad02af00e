// Namespace Management, Namespace Attachment and Format NVM of the emulated
// controller (NVMe Base 2.0, 5.20 / 5.22 / 5.23).
//
// Default test controller: ns1 = 64 MiB of 512-byte blocks, ns2 = 16 MiB of
// 4096-byte blocks with 8 bytes of separate metadata, 1 GiB in total, NN = 8.
#include <algorithm>
#include <cstring>

#include "nvmecuse/transport/emu/config_check.hpp"

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

const nvme::Status invalid_field = nvme::Status(nvme::GenericStatus::invalid_field).with_dnr();
const nvme::Status invalid_namespace =
    nvme::Status(nvme::GenericStatus::invalid_namespace_or_format).with_dnr();
nvme::Status specific(nvme::CommandSpecificStatus s) { return nvme::Status(s).with_dnr(); }

constexpr std::uint64_t mib = 1ull << 20;

class NamespacesTest : public EmuTest {
protected:
    static nvme::IdentifyNamespace ns_data(std::uint64_t nsze, std::uint8_t format_index = 0,
                                           bool extended = false)
    {
        nvme::IdentifyNamespace id{};
        id.nsze = nsze;
        id.ncap = nsze;
        id.flbas = nvme::flbas::make(format_index, extended);
        return id;
    }
    Outcome create(const nvme::IdentifyNamespace& id, std::uint32_t nsid = 0, std::uint32_t sel = 0)
    {
        Bytes b(4096);
        std::memcpy(b.data(), &id, sizeof id);
        auto s = sqe(nvme::AdminOpcode::namespace_management, nsid);
        nvme::cmd::namespace_management::SelField::set(s, sel);
        return admin(s, b);
    }
    /// Creates a namespace of `bytes` with 512-byte blocks; returns its nsid.
    std::uint32_t create_bytes(std::uint64_t bytes)
    {
        const Outcome o = create(ns_data(bytes / 512));
        EXPECT_OK(o);
        return o.dw0;
    }
    Outcome remove(std::uint32_t nsid)
    {
        auto s = sqe(nvme::AdminOpcode::namespace_management, nsid);
        nvme::cmd::namespace_management::SelField::set(s, 1);
        return admin(s);
    }
    Outcome attachment(std::uint32_t nsid, std::uint32_t sel, std::vector<std::uint16_t> ids)
    {
        nvme::ControllerList list{};
        list.num = static_cast<std::uint16_t>(ids.size());
        std::ranges::copy(ids, list.ids.begin());
        Bytes b(sizeof list);
        std::memcpy(b.data(), &list, sizeof list);
        auto s = sqe(nvme::AdminOpcode::namespace_attachment, nsid);
        nvme::cmd::namespace_attachment::SelField::set(s, sel);
        return admin(s, b);
    }
    Outcome attach(std::uint32_t nsid) { return attachment(nsid, 0, {cntlid()}); }
    Outcome detach(std::uint32_t nsid) { return attachment(nsid, 1, {cntlid()}); }
    Outcome format(std::uint32_t nsid, std::uint32_t lbaf, bool mset = false, std::uint32_t pi = 0,
                   std::uint32_t ses = 0)
    {
        auto s = sqe(nvme::AdminOpcode::format_nvm, nsid);
        nvme::cmd::format_nvm::set_lbaf_index(s, lbaf);
        nvme::cmd::format_nvm::Mset::set(s, mset ? 1 : 0);
        nvme::cmd::format_nvm::Pi::set(s, pi);
        nvme::cmd::format_nvm::Ses::set(s, ses);
        return admin(s);
    }
    std::uint16_t cntlid() const { return ctrl->config().cntlid; }

    std::vector<std::uint32_t> namespace_list(std::uint8_t cns)
    {
        Bytes b;
        EXPECT_OK(identify(cns, 0, b));
        nvme::IdentifyNamespaceList list;
        std::memcpy(&list, b.data(), sizeof list);
        std::vector<std::uint32_t> out;
        for (std::uint32_t id : list.nsid)
            if (id != 0) out.push_back(id);
        return out;
    }
    std::vector<std::uint32_t> active() { return namespace_list(0x02); }
    std::vector<std::uint32_t> allocated() { return namespace_list(0x10); }
    std::uint64_t unallocated() { return identify_controller().unvmcap.lo; }
    std::vector<std::uint32_t> changed_namespaces()
    {
        const auto log = get_log_as<nvme::ChangedNamespaceList>(0x04);
        std::vector<std::uint32_t> out;
        for (std::uint32_t id : log.nsid)
            if (id != 0) out.push_back(id);
        return out;
    }
    bool all_zero(const Bytes& b)
    {
        return std::ranges::all_of(b, [](std::byte x) { return x == std::byte{0}; });
    }
};

// ---- Namespace Management: create -----------------------------------------

TEST_F(NamespacesTest, CreateReturnsTheLowestFreeNsidAndLeavesItDetached)
{
    const Outcome o = create(ns_data(2048));
    ASSERT_OK(o);
    EXPECT_EQ(o.dw0, 3u);
    const auto& ns = ctrl->namespaces().at(3);
    EXPECT_FALSE(ns.attached);
    EXPECT_EQ(ns.nsze, 2048u);
    EXPECT_EQ(ns.capacity_bytes, 1 * mib);
    EXPECT_EQ(ns.lba_data_size(), 512u);

    EXPECT_EQ(active(), (std::vector<std::uint32_t>{1, 2}));
    EXPECT_EQ(allocated(), (std::vector<std::uint32_t>{1, 2, 3}));
    // Not active: I/O is refused.
    Bytes out;
    EXPECT_STATUS(io(rw(nvme::NvmOpcode::read, 3, 0, 1), out), invalid_namespace);
    // Creating changes nothing this controller sees: no changed namespace.
    EXPECT_TRUE(changed_namespaces().empty());

    // The next one takes nsid 4; a deleted nsid is reused first.
    EXPECT_EQ(create_bytes(mib), 4u);
    ASSERT_OK(remove(1));
    EXPECT_EQ(create_bytes(mib), 1u);
}

TEST_F(NamespacesTest, CreateWithMetadataFormats)
{
    const Outcome ext = create(ns_data(256, 5, /*extended=*/true));  // 4096 + 8, interleaved
    ASSERT_OK(ext);
    const auto& e = ctrl->namespaces().at(ext.dw0);
    EXPECT_EQ(e.lba_data_size(), 4096u);
    EXPECT_EQ(e.metadata_size(), 8u);
    EXPECT_TRUE(e.extended_metadata);
    EXPECT_EQ(e.capacity_bytes, 1 * mib);

    const Outcome sep = create(ns_data(256, 6));  // 4096 + 16, separate buffer
    ASSERT_OK(sep);
    EXPECT_FALSE(ctrl->namespaces().at(sep.dw0).extended_metadata);
    // FLBAS bit 4 means nothing without metadata.
    const Outcome none = create(ns_data(256, 4, true));
    ASSERT_OK(none);
    EXPECT_FALSE(ctrl->namespaces().at(none.dw0).extended_metadata);
}

// Created namespaces live in RAM: beyond the host's memory they would be a
// promise writes cannot keep, whatever TNVMCAP allows.
TEST_F(NamespacesTest, CreateBeyondTheHostsMemoryIsInsufficientCapacity)
{
    const std::uint64_t memory = host_memory_bytes();
    ASSERT_GT(memory, 0u);
    auto config = default_test_config();
    config.total_capacity_bytes = 4 * memory;
    EmuTest::create(config);
    const std::uint64_t used = 80 * mib + (16 * mib / 4096) * 8; // ns1 + ns2 with metadata
    const std::uint64_t free_blocks = (memory - used) / 4096;
    // One 4 KiB block more than memory holds is refused, and nothing is created.
    EXPECT_STATUS(create(ns_data(free_blocks + 1, 4)),
                  specific(nvme::CommandSpecificStatus::namespace_insufficient_capacity));
    EXPECT_EQ(allocated(), (std::vector<std::uint32_t>{1, 2}));
    // Metadata counts too: the same blocks with 64 bytes each do not fit either.
    EXPECT_STATUS(create(ns_data(free_blocks, 7)),
                  specific(nvme::CommandSpecificStatus::namespace_insufficient_capacity));
    // What fits is created.
    const Outcome o = create(ns_data(free_blocks, 4));
    ASSERT_OK(o);
    EXPECT_EQ(ctrl->namespaces().at(o.dw0).nsze, free_blocks);
    EXPECT_STATUS(create(ns_data(1)),
                  specific(nvme::CommandSpecificStatus::namespace_insufficient_capacity));
}

TEST_F(NamespacesTest, CapacityIsAccountedAgainstTotalNvmCapacity)
{
    const std::uint64_t total = ctrl->config().total_capacity_bytes;
    EXPECT_EQ(unallocated(), total - 80 * mib);

    // One block too many: Namespace Insufficient Capacity.
    const std::uint64_t free_blocks = (total - 80 * mib) / 512;
    EXPECT_STATUS(create(ns_data(free_blocks + 1)),
                  specific(nvme::CommandSpecificStatus::namespace_insufficient_capacity));
    // With 4 KiB blocks, the same bytes as whole blocks fit exactly.
    ASSERT_OK(create(ns_data(free_blocks / 8, 4)));
    EXPECT_EQ(unallocated(), 0u);
    EXPECT_STATUS(create(ns_data(1)),
                  specific(nvme::CommandSpecificStatus::namespace_insufficient_capacity));
    // An absurd size does not wrap around.
    EXPECT_STATUS(create(ns_data(~0ull)),
                  specific(nvme::CommandSpecificStatus::namespace_insufficient_capacity));

    ASSERT_OK(remove(2));
    EXPECT_EQ(unallocated(), 16 * mib);
}

TEST_F(NamespacesTest, CreateRejectsWhatThisControllerCannotDo)
{
    auto thin = ns_data(2048);
    thin.ncap = 1024;
    EXPECT_STATUS(create(thin), specific(nvme::CommandSpecificStatus::thin_provisioning_not_supported));
    auto bigger = ns_data(2048);
    bigger.ncap = 4096;
    EXPECT_STATUS(create(bigger), invalid_field);
    EXPECT_STATUS(create(ns_data(0)), invalid_field);
    EXPECT_STATUS(create(ns_data(2048, 8)), specific(nvme::CommandSpecificStatus::invalid_format));
    EXPECT_STATUS(create(ns_data(2048, 63)), specific(nvme::CommandSpecificStatus::invalid_format));
    auto protected_ns = ns_data(2048, 1);
    protected_ns.dps = 1;  // DPC = 0: no protection information
    EXPECT_STATUS(create(protected_ns), invalid_field);
    auto nmic = ns_data(2048);
    nmic.nmic = 2;  // reserved
    EXPECT_STATUS(create(nmic), invalid_field);

    // NSID must be 0 for create; SEL 2..15 are reserved.
    const Outcome with_nsid = create(ns_data(2048), 5);
    EXPECT_STATUS(with_nsid, invalid_field);
    EXPECT_EQ(with_nsid.error_location, 4);
    EXPECT_STATUS(create(ns_data(2048), 0, 2), invalid_field);

    // Only the NVM command set (CSI 0).
    Bytes b(4096);
    auto s = sqe(nvme::AdminOpcode::namespace_management, 0);
    nvme::cmd::namespace_management::Csi::set(s, 2);
    EXPECT_STATUS(admin(s, b), specific(nvme::CommandSpecificStatus::io_command_set_not_supported));

    // The host data structure is 4096 bytes.
    Bytes small(512);
    EXPECT_STATUS(admin(sqe(nvme::AdminOpcode::namespace_management, 0), small),
                  nvme::GenericStatus::data_transfer_error);

    EXPECT_EQ(allocated(), (std::vector<std::uint32_t>{1, 2}));
}

TEST_F(NamespacesTest, CreateFailsWhenEveryNsidIsTaken)
{
    for (std::uint32_t i = 3; i <= 8; ++i) EXPECT_EQ(create_bytes(mib), i);
    EXPECT_STATUS(create(ns_data(2048)),
                  specific(nvme::CommandSpecificStatus::namespace_identifier_unavailable));
}

// ---- Namespace Management: delete -----------------------------------------

TEST_F(NamespacesTest, DeleteFreesTheNsidAndItsCapacity)
{
    ASSERT_OK(remove(2));
    EXPECT_FALSE(ctrl->namespaces().contains(2));
    EXPECT_EQ(active(), (std::vector<std::uint32_t>{1}));
    // It was attached: the controller reports the change.
    EXPECT_EQ(changed_namespaces(), (std::vector<std::uint32_t>{2}));
    EXPECT_STATUS(remove(2), invalid_namespace);

    // A detached namespace goes silently.
    const std::uint32_t n = create_bytes(mib);
    ASSERT_OK(remove(n));
    EXPECT_TRUE(changed_namespaces().empty());  // the log read above cleared it
}

TEST_F(NamespacesTest, DeleteOfAnInvalidNsidIsInvalidNamespace)
{
    for (std::uint32_t nsid : {0u, 3u, 8u, 9u, 0xfffffffeu}) {
        const Outcome o = remove(nsid);
        EXPECT_STATUS(o, invalid_namespace) << nsid;
        EXPECT_EQ(o.error_location, 4);
    }
}

TEST_F(NamespacesTest, DeleteWithTheBroadcastNsidDeletesEverything)
{
    create_bytes(mib);
    ASSERT_OK(remove(nvme::nsid_all));
    EXPECT_TRUE(ctrl->namespaces().empty());
    EXPECT_TRUE(allocated().empty());
    EXPECT_EQ(unallocated(), ctrl->config().total_capacity_bytes);
    EXPECT_EQ(changed_namespaces(), (std::vector<std::uint32_t>{1, 2}));
}

// ---- Namespace Attachment -------------------------------------------------

TEST_F(NamespacesTest, AttachMakesANamespaceActiveAndDetachInactive)
{
    const std::uint32_t n = create_bytes(mib);
    ASSERT_OK(attach(n));
    EXPECT_TRUE(ctrl->namespaces().at(n).attached);
    EXPECT_EQ(active(), (std::vector<std::uint32_t>{1, 2, n}));
    EXPECT_EQ(changed_namespaces(), (std::vector<std::uint32_t>{n}));
    EXPECT_EQ(identify_namespace(n).nsze, 2048u);

    // I/O works, on zeroed blocks.
    Bytes out;
    ASSERT_OK(read(n, 0, 1, out));
    EXPECT_TRUE(all_zero(out));
    ASSERT_OK(write(n, 2047, pattern(512, 3)));
    ASSERT_OK(read(n, 2047, 1, out));
    EXPECT_EQ(out, pattern(512, 3));

    ASSERT_OK(detach(n));
    EXPECT_FALSE(ctrl->namespaces().at(n).attached);
    EXPECT_EQ(active(), (std::vector<std::uint32_t>{1, 2}));
    EXPECT_EQ(changed_namespaces(), (std::vector<std::uint32_t>{n}));
    EXPECT_STATUS(io(rw(nvme::NvmOpcode::read, n, 0, 1), out), invalid_namespace);

    // Data survives detach and re-attach.
    ASSERT_OK(attach(n));
    ASSERT_OK(read(n, 2047, 1, out));
    EXPECT_EQ(out, pattern(512, 3));
}

TEST_F(NamespacesTest, AttachRaisesANamespaceAttributeNoticeWhenEnabled)
{
    auto aec = sqe(nvme::AdminOpcode::set_features);
    nvme::cmd::features::Fid::set(aec, 0x0b);
    aec.cdw11 = nvme::feat::async_event_configuration::NamespaceAttributeNotices::mask;
    ASSERT_OK(admin(aec));
    ASSERT_TRUE(admin(sqe(nvme::AdminOpcode::async_event_request)).deferred);

    ASSERT_OK(attach(create_bytes(mib)));
    ASSERT_EQ(async_completions.size(), 1u);
    const std::uint32_t dw0 = async_completions[0].second.dw0;
    EXPECT_EQ(nvme::aer_result::type(dw0), nvme::AsyncEventType::notice);
    EXPECT_EQ(nvme::aer_result::LogPage::get(dw0), 0x04u);
}

TEST_F(NamespacesTest, AttachmentStatuses)
{
    const std::uint32_t n = create_bytes(mib);
    EXPECT_STATUS(detach(n), specific(nvme::CommandSpecificStatus::namespace_not_attached));
    ASSERT_OK(attach(n));
    EXPECT_STATUS(attach(n), specific(nvme::CommandSpecificStatus::namespace_already_attached));
    EXPECT_STATUS(attach(1), specific(nvme::CommandSpecificStatus::namespace_already_attached));
}

TEST_F(NamespacesTest, ControllerListMustNameThisControllerOnly)
{
    const std::uint32_t n = create_bytes(mib);
    const auto invalid_list = specific(nvme::CommandSpecificStatus::controller_list_invalid);
    EXPECT_STATUS(attachment(n, 0, {}), invalid_list);
    EXPECT_STATUS(attachment(n, 0, {static_cast<std::uint16_t>(cntlid() + 1)}), invalid_list);
    EXPECT_STATUS(attachment(n, 0, {cntlid(), 7}), invalid_list);
    EXPECT_FALSE(ctrl->namespaces().at(n).attached);

    // A list shorter than its count says is a Data Transfer Error.
    Bytes b(4);
    const std::uint16_t count = 3;
    std::memcpy(b.data(), &count, sizeof count);
    EXPECT_STATUS(admin(sqe(nvme::AdminOpcode::namespace_attachment, n), b),
                  nvme::GenericStatus::data_transfer_error);
}

TEST_F(NamespacesTest, AttachmentNeedsAnAllocatedNsidAndAValidSelect)
{
    for (std::uint32_t nsid : {0u, 5u, 9u, nvme::nsid_all}) {
        EXPECT_STATUS(attach(nsid), invalid_namespace) << nsid;
        EXPECT_STATUS(detach(nsid), invalid_namespace) << nsid;
    }
    const Outcome o = attachment(1, 2, {cntlid()});
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 40);
}

// ---- Format NVM -----------------------------------------------------------

TEST_F(NamespacesTest, FormatChangesTheBlockSizeKeepsTheCapacityAndZeroesData)
{
    ASSERT_OK(write(1, 0, pattern(4096, 1)));
    ASSERT_OK(format(1, 4));  // 4096 bytes, no metadata
    const auto& ns = ctrl->namespaces().at(1);
    EXPECT_EQ(ns.lba_data_size(), 4096u);
    EXPECT_EQ(ns.nsze, 64 * mib / 4096);
    EXPECT_EQ(ns.capacity_bytes, 64 * mib);
    const auto id = identify_namespace(1);
    EXPECT_EQ(nvme::flbas::index(id.flbas), 4);
    EXPECT_EQ(id.nsze, 16384u);
    EXPECT_EQ(nvme::lba_data_size(id), 4096u);

    Bytes out;
    ASSERT_OK(read(1, 0, 1, out));
    EXPECT_EQ(out.size(), 4096u);
    EXPECT_TRUE(all_zero(out));
    EXPECT_EQ(changed_namespaces(), (std::vector<std::uint32_t>{1}));

    // Back to 512: still zeroes, the block count follows.
    ASSERT_OK(write(1, 5, pattern(4096, 2)));
    ASSERT_OK(format(1, 0));
    EXPECT_EQ(ctrl->namespaces().at(1).nsze, 64 * mib / 512);
    ASSERT_OK(read(1, 40, 8, out));
    EXPECT_TRUE(all_zero(out));
}

TEST_F(NamespacesTest, FormatSelectsExtendedOrSeparateMetadata)
{
    ASSERT_OK(format(1, 1, /*mset=*/true));  // 512 + 8 interleaved
    EXPECT_TRUE(ctrl->namespaces().at(1).extended_metadata);
    EXPECT_EQ(ctrl->namespaces().at(1).metadata_size(), 8u);
    EXPECT_TRUE(nvme::flbas::is_extended(identify_namespace(1).flbas));

    ASSERT_OK(format(2, 7));  // 4096 + 64 in a separate buffer
    const auto& ns2 = ctrl->namespaces().at(2);
    EXPECT_FALSE(ns2.extended_metadata);
    EXPECT_EQ(ns2.metadata_size(), 64u);
    Bytes data;
    Bytes md;
    ASSERT_OK(write(2, 0, pattern(4096, 4), pattern(64, 5)));
    ASSERT_OK(read(2, 0, 1, data, &md));
    EXPECT_EQ(md, pattern(64, 5));
    ASSERT_OK(format(2, 7));
    ASSERT_OK(read(2, 0, 1, data, &md));
    EXPECT_TRUE(all_zero(md));

    // MSET without metadata is meaningless and ignored.
    ASSERT_OK(format(1, 0, true));
    EXPECT_FALSE(ctrl->namespaces().at(1).extended_metadata);
}

TEST_F(NamespacesTest, FormatClearsUncorrectableBlocks)
{
    ASSERT_OK(io(rw(nvme::NvmOpcode::write_uncorrectable, 1, 3, 1)));
    Bytes out;
    EXPECT_FALSE(read(1, 3, 1, out).status.is_success());
    ASSERT_OK(format(1, 0));
    EXPECT_TRUE(ctrl->namespaces().at(1).uncorrectable.empty());
    ASSERT_OK(read(1, 3, 1, out));
}

TEST_F(NamespacesTest, FormatWithTheBroadcastNsidFormatsEveryAttachedNamespace)
{
    const std::uint32_t detached = create_bytes(mib);
    ASSERT_OK(format(nvme::nsid_all, 4, false, 0, /*ses=*/1));
    EXPECT_EQ(ctrl->namespaces().at(1).lba_data_size(), 4096u);
    EXPECT_EQ(ctrl->namespaces().at(2).lba_data_size(), 4096u);
    EXPECT_EQ(ctrl->namespaces().at(2).metadata_size(), 0u);
    EXPECT_EQ(ctrl->namespaces().at(detached).lba_data_size(), 512u);
    EXPECT_EQ(changed_namespaces(), (std::vector<std::uint32_t>{1, 2}));
}

TEST_F(NamespacesTest, FormatRejectsUnsupportedSettings)
{
    const auto invalid_format = specific(nvme::CommandSpecificStatus::invalid_format);
    EXPECT_STATUS(format(1, 8), invalid_format);
    EXPECT_STATUS(format(1, 0x2f), invalid_format);  // LBAFU used
    const Outcome pi = format(1, 1, false, 1);
    EXPECT_STATUS(pi, invalid_field);  // no protection information (DPC = 0)
    EXPECT_EQ(pi.error_location, 40 | (5 << 8));
    const Outcome crypto = format(1, 0, false, 0, 2);  // FNA bit 2 = 0
    EXPECT_STATUS(crypto, invalid_field);
    EXPECT_EQ(crypto.error_location, 41 | (1 << 8));
    EXPECT_STATUS(format(1, 0, false, 0, 5), invalid_field);
    EXPECT_EQ(ctrl->namespaces().at(1).lba_data_size(), 512u);  // untouched
}

TEST_F(NamespacesTest, FormatNeedsAnActiveNamespace)
{
    const std::uint32_t detached = create_bytes(mib);
    for (std::uint32_t nsid : {0u, detached, 7u, 9u}) {
        const Outcome o = format(nsid, 0);
        EXPECT_STATUS(o, invalid_namespace) << nsid;
        EXPECT_EQ(o.error_location, 4);
    }
}

} // namespace
} // namespace nvmecuse::emu::testing
