// The emulated controller's NVM I/O commands (NVM Command Set 2.0, 3.2/3.3):
// what each command does to the namespace's blocks and which status every
// invalid form of it gets.

#include <cstring>

#include "emu_fixture.hpp"

namespace nvmecuse::emu::testing {
namespace {

using nvme::GenericStatus;
using nvme::MediaStatus;
using nvme::NvmOpcode;
using nvme::Status;

constexpr auto lba_out_of_range = Status(GenericStatus::lba_out_of_range).with_dnr();
constexpr auto invalid_namespace = Status(GenericStatus::invalid_namespace_or_format).with_dnr();
constexpr auto invalid_field = Status(GenericStatus::invalid_field).with_dnr();
constexpr auto data_transfer_error = Status(GenericStatus::data_transfer_error);
constexpr auto unrecovered_read = Status(MediaStatus::unrecovered_read_error).with_dnr();
constexpr auto compare_failure = Status(MediaStatus::compare_failure).with_dnr();

bool all_zero(const Bytes& b)
{
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

class EmuIoTest : public EmuTest {
protected:
    std::uint64_t nsze(std::uint32_t nsid) const { return ctrl->namespaces().at(nsid).nsze; }

    Outcome write_zeroes(std::uint32_t nsid, std::uint64_t slba, std::uint32_t blocks, bool deac)
    {
        auto s = rw(NvmOpcode::write_zeroes, nsid, slba, blocks);
        nvme::cmd::rw::Deac::set(s, deac ? 1 : 0);
        return io(s);
    }
    Outcome dsm_deallocate(std::uint32_t nsid, const std::vector<nvme::DsmRange>& ranges,
                           bool ad = true)
    {
        auto s = sqe(NvmOpcode::dataset_management, nsid);
        nvme::cmd::dsm::Nr::set(s, static_cast<std::uint32_t>(ranges.size() - 1));
        nvme::cmd::dsm::Ad::set(s, ad ? 1 : 0);
        Bytes buf(ranges.size() * sizeof(nvme::DsmRange));
        std::memcpy(buf.data(), ranges.data(), buf.size());
        return io(s, buf);
    }
    Outcome compare(std::uint32_t nsid, std::uint64_t slba, Bytes data, Bytes metadata = {})
    {
        const auto lbs = ctrl->namespaces().at(nsid).lba_data_size();
        return io(rw(NvmOpcode::compare, nsid, slba, static_cast<std::uint32_t>(data.size() / lbs)),
                  data, metadata);
    }
};

// ---- Read / Write ----

TEST_F(EmuIoTest, NeverWrittenBlocksReadAsZeroes)
{
    Bytes out;
    ASSERT_OK(read(1, 100, 8, out));
    EXPECT_TRUE(all_zero(out));
}

TEST_F(EmuIoTest, WriteThenReadReturnsTheSameBytes)
{
    const Bytes data = pattern(16 * 512, 1);
    ASSERT_OK(write(1, 1000, data));
    Bytes out;
    ASSERT_OK(read(1, 1000, 16, out));
    EXPECT_EQ(out, data);
    // A read that straddles written and unwritten blocks sees both.
    ASSERT_OK(read(1, 1012, 8, out));
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + 4 * 512, data.begin() + 12 * 512));
    EXPECT_TRUE(std::all_of(out.begin() + 4 * 512, out.end(),
                            [](std::byte b) { return b == std::byte{0}; }));
}

TEST_F(EmuIoTest, FirstAndLastBlockAreAddressable)
{
    const Bytes a = pattern(512, 2), b = pattern(512, 3);
    ASSERT_OK(write(1, 0, a));
    ASSERT_OK(write(1, nsze(1) - 1, b));
    Bytes out;
    ASSERT_OK(read(1, 0, 1, out));
    EXPECT_EQ(out, a);
    ASSERT_OK(read(1, nsze(1) - 1, 1, out));
    EXPECT_EQ(out, b);
}

TEST_F(EmuIoTest, SeparateMetadataTravelsThroughTheMetadataBuffer)
{
    // ns2: 4096-byte blocks with 8 bytes of separate metadata (MPTR).
    const Bytes data = pattern(2 * 4096, 4), md = pattern(16, 5);
    ASSERT_OK(write(2, 7, data, md));
    Bytes out, out_md;
    ASSERT_OK(read(2, 7, 2, out, &out_md));
    EXPECT_EQ(out, data);
    EXPECT_EQ(out_md, md);
}

TEST_F(EmuIoTest, MissingSeparateMetadataBufferIsADataTransferError)
{
    const auto o = write(2, 0, pattern(4096, 1)); // no metadata buffer
    EXPECT_STATUS(o, data_transfer_error);
    EXPECT_EQ(o.error_location, 16); // MPTR
    Bytes out;
    EXPECT_STATUS(read(2, 0, 1, out), data_transfer_error);
}

TEST_F(EmuIoTest, DataBufferSmallerThanTheTransferIsADataTransferError)
{
    Bytes small(511);
    const auto r = io(rw(NvmOpcode::read, 1, 0, 1), small);
    EXPECT_STATUS(r, data_transfer_error);
    EXPECT_EQ(r.error_location, 24); // DPTR
    EXPECT_STATUS(io(rw(NvmOpcode::write, 1, 0, 2), small), data_transfer_error);
    // Nothing was written past the span or into the namespace.
    Bytes out;
    ASSERT_OK(read(1, 0, 2, out));
    EXPECT_TRUE(all_zero(out));
}

TEST_F(EmuIoTest, LbaRangeBeyondTheNamespaceIsLbaOutOfRange)
{
    Bytes buf(2 * 512);
    const auto past_end = io(rw(NvmOpcode::read, 1, nsze(1), 1), buf);
    EXPECT_STATUS(past_end, lba_out_of_range);
    EXPECT_EQ(past_end.error_lba, nsze(1));
    EXPECT_EQ(past_end.error_location, 40); // SLBA
    EXPECT_STATUS(io(rw(NvmOpcode::write, 1, nsze(1) - 1, 2), buf), lba_out_of_range);
    // SLBA + NLB wrapping around 2^64 is out of range too, never a wild access.
    EXPECT_STATUS(io(rw(NvmOpcode::read, 1, ~0ull, 2), buf), lba_out_of_range);
}

TEST_F(EmuIoTest, TransfersAboveMdtsAreInvalidField)
{
    // MDTS 8 = 256 pages of 4 KiB = 1 MiB.
    Bytes big((1u << 20) + 512);
    EXPECT_OK(io(rw(NvmOpcode::write, 1, 0, 2048), big));
    const auto o = io(rw(NvmOpcode::write, 1, 0, 2049), big);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 48); // NLB
    EXPECT_STATUS(io(rw(NvmOpcode::read, 1, 0, 2049), big), invalid_field);
    EXPECT_STATUS(io(rw(NvmOpcode::compare, 1, 0, 2049), big), invalid_field);
}

TEST_F(EmuIoTest, MdtsZeroMeansUnlimited)
{
    auto config = default_test_config();
    config.mdts = 0;
    create(config);
    Bytes big(4u << 20);
    EXPECT_OK(io(rw(NvmOpcode::write, 1, 0, static_cast<std::uint32_t>(big.size() / 512)), big));
}

TEST_F(EmuIoTest, ProtectionInformationIsRefusedBecauseNoneIsFormatted)
{
    auto s = rw(NvmOpcode::read, 1, 0, 1);
    nvme::cmd::rw::Prinfo::set(s, 0x8); // PRACT
    Bytes buf(512);
    const auto o = io(s, buf);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 51 | (2 << 8));
}

TEST_F(EmuIoTest, FuaAndLimitedRetryAreAccepted)
{
    auto s = rw(NvmOpcode::write, 1, 5, 1);
    nvme::cmd::rw::Fua::set(s, 1);
    nvme::cmd::rw::Lr::set(s, 1);
    Bytes data = pattern(512, 9);
    EXPECT_OK(io(s, data));
    Bytes out;
    ASSERT_OK(read(1, 5, 1, out));
    EXPECT_EQ(out, data);
}

// ---- namespaces ----

TEST_F(EmuIoTest, InvalidOrInactiveNamespaceIsInvalidNamespaceOrFormat)
{
    auto config = default_test_config();
    config.namespaces.push_back(ns_config(4, 1 << 20));
    config.namespaces.back().attached = false;
    create(config);
    Bytes buf(512);
    for (std::uint32_t nsid :
         {0u, 3u /*unallocated*/, 4u /*not attached*/, 9u /*> NN*/, nvme::nsid_all}) {
        for (auto op : {NvmOpcode::read, NvmOpcode::write, NvmOpcode::compare, NvmOpcode::verify,
                        NvmOpcode::write_zeroes, NvmOpcode::write_uncorrectable}) {
            const auto o = io(rw(op, nsid, 0, 1), buf);
            EXPECT_STATUS(o, invalid_namespace) << "nsid " << nsid << " opcode " << int(op);
            EXPECT_EQ(o.error_location, 4);
        }
    }
}

// ---- Compare ----

TEST_F(EmuIoTest, CompareSucceedsOnEqualDataAndFailsOnAnyDifference)
{
    const Bytes data = pattern(4 * 512, 6);
    ASSERT_OK(write(1, 20, data));
    EXPECT_OK(compare(1, 20, data));
    Bytes other = data;
    other[3 * 512 + 17] ^= std::byte{1};
    const auto o = compare(1, 20, other);
    EXPECT_STATUS(o, compare_failure);
    // Never-written blocks compare equal to zeroes.
    EXPECT_OK(compare(1, 500, Bytes(512)));
}

TEST_F(EmuIoTest, CompareChecksSeparateMetadataToo)
{
    const Bytes data = pattern(4096, 7), md = pattern(8, 8);
    ASSERT_OK(write(2, 3, data, md));
    EXPECT_OK(compare(2, 3, data, md));
    Bytes other_md = md;
    other_md[0] ^= std::byte{0x80};
    EXPECT_STATUS(compare(2, 3, data, other_md), compare_failure);
}

// ---- Flush ----

TEST_F(EmuIoTest, FlushOfOneOrAllNamespaces)
{
    EXPECT_OK(io(sqe(NvmOpcode::flush, 1)));
    EXPECT_OK(io(sqe(NvmOpcode::flush, 2)));
    EXPECT_OK(io(sqe(NvmOpcode::flush, nvme::nsid_all))); // VWC broadcast flush
    EXPECT_STATUS(io(sqe(NvmOpcode::flush, 0)), invalid_namespace);
    EXPECT_STATUS(io(sqe(NvmOpcode::flush, 3)), invalid_namespace);
}

// ---- Write Zeroes ----

TEST_F(EmuIoTest, WriteZeroesZeroesDataAndMetadataWithOrWithoutDeallocate)
{
    const Bytes data = pattern(3 * 4096, 1), md = pattern(24, 2);
    for (bool deac : {false, true}) {
        SCOPED_TRACE(deac ? "DEAC" : "no DEAC");
        ASSERT_OK(write(2, 10, data, md));
        ASSERT_OK(write_zeroes(2, 11, 1, deac)); // the middle block
        Bytes out, out_md;
        ASSERT_OK(read(2, 10, 3, out, &out_md));
        Bytes expected = data, expected_md = md;
        std::fill_n(expected.begin() + 4096, 4096, std::byte{0});
        std::fill_n(expected_md.begin() + 8, 8, std::byte{0});
        EXPECT_EQ(out, expected);
        EXPECT_EQ(out_md, expected_md);
    }
}

TEST_F(EmuIoTest, WriteZeroesNeedsNoBufferButChecksTheRange)
{
    EXPECT_OK(write_zeroes(1, 0, 65536, false)); // 32 MiB: not limited by MDTS
    EXPECT_STATUS(write_zeroes(1, nsze(1) - 1, 2, true), lba_out_of_range);
}

// ---- Write Uncorrectable ----

TEST_F(EmuIoTest, WriteUncorrectableMakesReadsFailUntilRewritten)
{
    ASSERT_OK(write(1, 40, pattern(8 * 512, 3)));
    ASSERT_OK(io(rw(NvmOpcode::write_uncorrectable, 1, 42, 2)));
    const auto errors_before = ctrl->health().media_errors;

    Bytes out;
    const auto r = read(1, 40, 8, out);
    EXPECT_STATUS(r, unrecovered_read);
    EXPECT_EQ(r.error_lba, 42u);
    EXPECT_STATUS(io(rw(NvmOpcode::verify, 1, 43, 1)), unrecovered_read);
    EXPECT_STATUS(compare(1, 42, Bytes(512)), unrecovered_read);
    EXPECT_EQ(ctrl->health().media_errors, errors_before + nvme::Uint128::from(3));
    // Blocks around the marked ones are still readable.
    EXPECT_OK(read(1, 40, 2, out));
    EXPECT_OK(read(1, 44, 4, out));

    // A Write clears block 42, Write Zeroes clears 43.
    ASSERT_OK(write(1, 42, pattern(512, 4)));
    EXPECT_STATUS(read(1, 42, 2, out), unrecovered_read);
    ASSERT_OK(write_zeroes(1, 43, 1, false));
    EXPECT_OK(read(1, 40, 8, out));
}

TEST_F(EmuIoTest, DeallocatingAnUncorrectableBlockMakesItReadableAsZeroes)
{
    ASSERT_OK(io(rw(NvmOpcode::write_uncorrectable, 1, 7, 1)));
    ASSERT_OK(dsm_deallocate(1, {{0, 1, 7}}));
    Bytes out;
    ASSERT_OK(read(1, 7, 1, out));
    EXPECT_TRUE(all_zero(out));
}

TEST_F(EmuIoTest, WriteUncorrectableChecksTheRange)
{
    EXPECT_STATUS(io(rw(NvmOpcode::write_uncorrectable, 1, nsze(1), 1)), lba_out_of_range);
}

// ---- Dataset Management ----

TEST_F(EmuIoTest, DeallocateZeroesEachRangeAndNothingElse)
{
    const Bytes data = pattern(32 * 512, 5);
    ASSERT_OK(write(1, 0, data));
    ASSERT_OK(dsm_deallocate(1, {{0, 2, 1}, {0, 3, 10}, {0, 0, 20}})); // NLB 0: empty range
    Bytes out;
    ASSERT_OK(read(1, 0, 32, out));
    for (std::size_t lba = 0; lba < 32; ++lba) {
        const bool gone = (lba >= 1 && lba < 3) || (lba >= 10 && lba < 13);
        const Bytes block(out.begin() + lba * 512, out.begin() + (lba + 1) * 512);
        if (gone)
            EXPECT_TRUE(all_zero(block)) << "lba " << lba;
        else
            EXPECT_EQ(block, Bytes(data.begin() + lba * 512, data.begin() + (lba + 1) * 512))
                << "lba " << lba;
    }
}

TEST_F(EmuIoTest, DeallocateZeroesSeparateMetadata)
{
    ASSERT_OK(write(2, 0, pattern(4096, 1), pattern(8, 1)));
    ASSERT_OK(dsm_deallocate(2, {{0, 1, 0}}));
    Bytes out, md;
    ASSERT_OK(read(2, 0, 1, out, &md));
    EXPECT_TRUE(all_zero(out));
    EXPECT_TRUE(all_zero(md));
}

TEST_F(EmuIoTest, DeallocateRangeOutsideTheNamespaceFailsBeforeTouchingAnything)
{
    const Bytes data = pattern(512, 6);
    ASSERT_OK(write(1, 0, data));
    const auto o = dsm_deallocate(1, {{0, 1, 0}, {0, 2, nsze(1) - 1}});
    EXPECT_STATUS(o, lba_out_of_range);
    EXPECT_EQ(o.error_lba, nsze(1) - 1);
    Bytes out;
    ASSERT_OK(read(1, 0, 1, out));
    EXPECT_EQ(out, data);
}

TEST_F(EmuIoTest, DatasetManagementWithoutDeallocateChangesNothing)
{
    const Bytes data = pattern(512, 7);
    ASSERT_OK(write(1, 0, data));
    ASSERT_OK(dsm_deallocate(1, {{0, 1, 0}}, /*ad=*/false));
    Bytes out;
    ASSERT_OK(read(1, 0, 1, out));
    EXPECT_EQ(out, data);
}

TEST_F(EmuIoTest, DatasetManagementRangeListMustFitTheBuffer)
{
    auto s = sqe(NvmOpcode::dataset_management, 1);
    nvme::cmd::dsm::Nr::set(s, 1); // two ranges = 32 bytes
    nvme::cmd::dsm::Ad::set(s, 1);
    Bytes buf(16);
    EXPECT_STATUS(io(s, buf), data_transfer_error);
}

// ---- Verify ----

TEST_F(EmuIoTest, VerifyChecksTheRangeWithoutTransferringData)
{
    EXPECT_OK(io(rw(NvmOpcode::verify, 1, 0, 65535)));
    EXPECT_STATUS(io(rw(NvmOpcode::verify, 1, nsze(1) - 1, 2)), lba_out_of_range);
}

// ---- opcodes ----

TEST_F(EmuIoTest, UnsupportedIoOpcodesAreInvalidCommandOpcode)
{
    const auto invalid_opcode = Status(GenericStatus::invalid_opcode).with_dnr();
    for (std::uint8_t opc :
         {std::uint8_t{0x0d} /*reservation register*/, std::uint8_t{0x19} /*copy*/,
          std::uint8_t{0x06} /*identify is admin only*/, std::uint8_t{0x7e}, std::uint8_t{0xc1}}) {
        nvme::SubmissionQueueEntry s{};
        s.opc = opc;
        s.nsid = 1;
        EXPECT_STATUS(io(s), invalid_opcode) << int(opc);
    }
}

TEST_F(EmuIoTest, FusedCommandsAreRefused)
{
    auto s = rw(NvmOpcode::compare, 1, 0, 1);
    s.flags = 1; // first command of a fused operation
    Bytes buf(512);
    const auto o = io(s, buf);
    EXPECT_STATUS(o, invalid_field);
    EXPECT_EQ(o.error_location, 1);
}

// ---- extended LBA (metadata interleaved with data) ----

class EmuExtendedIoTest : public EmuIoTest {
protected:
    void SetUp() override
    {
        auto config = default_test_config();
        config.namespaces.push_back(ns_config(3, 4 << 20, 512, 8, /*extended_metadata=*/true));
        create(config);
    }
    static constexpr std::size_t block = 520;
};

TEST_F(EmuExtendedIoTest, DataAndMetadataAreInterleavedInTheDataBuffer)
{
    const Bytes host = pattern(4 * block, 11);
    Bytes in = host;
    ASSERT_OK(io(rw(NvmOpcode::write, 3, 2, 4), in));
    Bytes out(4 * block, std::byte{0xee});
    ASSERT_OK(io(rw(NvmOpcode::read, 3, 2, 4), out));
    EXPECT_EQ(out, host);
    // Storage keeps them apart: block 3's data starts 520 bytes into the buffer.
    const auto& ns = ctrl->namespaces().at(3);
    using Region = NamespaceStorage::Region;
    Bytes stored_data(512), stored_md(8);
    ASSERT_FALSE(ns.storage->read(Region::data, 3 * 512, stored_data));
    ASSERT_FALSE(ns.storage->read(Region::metadata, 3 * 8, stored_md));
    EXPECT_EQ(std::memcmp(stored_data.data(), host.data() + block, 512), 0);
    EXPECT_EQ(std::memcmp(stored_md.data(), host.data() + block + 512, 8), 0);
}

TEST_F(EmuExtendedIoTest, CompareIncludesInterleavedMetadata)
{
    Bytes host = pattern(2 * block, 12);
    ASSERT_OK(io(rw(NvmOpcode::write, 3, 0, 2), host));
    EXPECT_OK(io(rw(NvmOpcode::compare, 3, 0, 2), host));
    host[block + 515] ^= std::byte{4}; // metadata byte of block 1
    EXPECT_STATUS(io(rw(NvmOpcode::compare, 3, 0, 2), host), compare_failure);
}

TEST_F(EmuExtendedIoTest, BufferMustHoldDataPlusMetadata)
{
    Bytes data_only(2 * 512);
    EXPECT_STATUS(io(rw(NvmOpcode::write, 3, 0, 2), data_only), data_transfer_error);
}

TEST_F(EmuExtendedIoTest, MdtsCountsInterleavedMetadata)
{
    // 2016 blocks × 520 bytes fit in 1 MiB, 2017 do not (2048 would with 512).
    Bytes big(2048 * block);
    EXPECT_OK(io(rw(NvmOpcode::write, 3, 0, 2016), big));
    EXPECT_STATUS(io(rw(NvmOpcode::write, 3, 0, 2017), big), invalid_field);
}

} // namespace
} // namespace nvmecuse::emu::testing
