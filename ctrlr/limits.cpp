// Bounds on what a device reports (limits.hpp).
#include "nvmecuse/ctrlr/limits.hpp"

#include <bit>

namespace nvmecuse::ctrlr {

std::uint64_t max_transfer_bytes(const nvme::IdentifyController& id, std::uint64_t cap) noexcept
{
    if (id.mdts == 0) return 0;
    // MPSMIN is 4 bits and MDTS 8: the exponent is at most 12 + 15 + 255.
    const unsigned shift = 12u + static_cast<unsigned>(nvme::cap::Mpsmin::get(cap)) + id.mdts;
    constexpr unsigned limit_shift = std::bit_width(max_transfer_limit) - 1;
    if (shift >= limit_shift) return max_transfer_limit;
    return std::uint64_t{1} << shift;
}

} // namespace nvmecuse::ctrlr
