#pragma once
// Transfers larger than the controller's MDTS: which ones nvmecuse splits
// into several commands (reads, writes and compares, at block boundaries)
// and which it refuses like the kernel (EINVAL: blk_rq_map_user_iov refuses
// a mapping past the queue's max_hw_sectors). Pure functions, any thread.

#include <cstdint>
#include <optional>

#include "nvmecuse/cuse/decode.hpp"
#include "nvmecuse/cuse/ioctl_abi.hpp"

namespace nvmecuse::cuse {

/// How a read/write/compare spreads over its buffers, for splitting.
struct SplitShape {
    std::uint64_t blocks = 0;
    std::uint32_t block_bytes = 0; ///< data bytes per block (with interleaved metadata)
    std::uint32_t meta_bytes = 0;  ///< separate metadata bytes per block
};

/// The shape of `plan` when it may be split at block boundaries (a read,
/// write or compare on the I/O queue of namespace `ns` whose buffers match
/// its block count), otherwise nullopt.
[[nodiscard]] std::optional<SplitShape> split_shape(const IoctlCommand& plan,
                                                    const std::optional<NamespaceShape>& ns);

/// 0 when `plan` fits a controller whose MDTS is `mdts_bytes` (0 = no
/// limit) as one command or as split parts; EINVAL otherwise.
[[nodiscard]] int check_transfer_size(const IoctlCommand& plan,
                                      const std::optional<NamespaceShape>& ns,
                                      std::uint64_t mdts_bytes);

} // namespace nvmecuse::cuse
