// ctrlr::max_transfer_bytes(): MDTS in bytes, clamped, for any MDTS and CAP.
#include <gtest/gtest.h>

#include <cstdint>

#include "nvmecuse/ctrlr/limits.hpp"

namespace nvmecuse::ctrlr {
namespace {

nvme::IdentifyController with_mdts(std::uint8_t mdts)
{
    nvme::IdentifyController id{};
    id.mdts = mdts;
    return id;
}

std::uint64_t cap_with_mpsmin(std::uint64_t mpsmin)
{
    return nvme::cap::Mpsmin::set(std::uint64_t{1023}, mpsmin);
}

TEST(MaxTransferBytes, ZeroMdtsReportsNoLimit)
{
    EXPECT_EQ(max_transfer_bytes(with_mdts(0), cap_with_mpsmin(0)), 0u);
    EXPECT_EQ(max_transfer_bytes(with_mdts(0), cap_with_mpsmin(15)), 0u);
}

TEST(MaxTransferBytes, UnitsOfTheMinimumPageSize)
{
    EXPECT_EQ(max_transfer_bytes(with_mdts(5), cap_with_mpsmin(0)), 128u << 10); // 4 KiB << 5
    EXPECT_EQ(max_transfer_bytes(with_mdts(5), cap_with_mpsmin(1)), 256u << 10); // 8 KiB << 5
    EXPECT_EQ(max_transfer_bytes(with_mdts(1), cap_with_mpsmin(0)), 8u << 10);
}

TEST(MaxTransferBytes, ClampedToTheLimit)
{
    EXPECT_EQ(max_transfer_bytes(with_mdts(13), cap_with_mpsmin(0)), max_transfer_limit); // 32 MiB
    EXPECT_EQ(max_transfer_bytes(with_mdts(14), cap_with_mpsmin(0)), max_transfer_limit);
    EXPECT_EQ(max_transfer_bytes(with_mdts(20), cap_with_mpsmin(0)), max_transfer_limit);
    EXPECT_EQ(max_transfer_bytes(with_mdts(12), cap_with_mpsmin(2)), max_transfer_limit);
}

TEST(MaxTransferBytes, HostileValuesNeitherOverflowNorLiftTheLimit)
{
    // 12 + 15 + 255 bits: a plain shift would be undefined (UBSan aborts here).
    EXPECT_EQ(max_transfer_bytes(with_mdts(255), cap_with_mpsmin(15)), max_transfer_limit);
    EXPECT_EQ(max_transfer_bytes(with_mdts(255), cap_with_mpsmin(0)), max_transfer_limit);
    EXPECT_EQ(max_transfer_bytes(with_mdts(52), cap_with_mpsmin(0)), max_transfer_limit);
    EXPECT_EQ(max_transfer_bytes(with_mdts(1), ~std::uint64_t{0}), max_transfer_limit); // 2^28
}

} // namespace
} // namespace nvmecuse::ctrlr
