#include "nvmecuse/cuse/split.hpp"

#include <cerrno>

#include "nvmecuse/spec/opcodes.hpp"

namespace nvmecuse::cuse {

std::optional<SplitShape> split_shape(const IoctlCommand& plan,
                                      const std::optional<NamespaceShape>& ns)
{
    using Op = nvme::NvmOpcode;
    const auto opc = static_cast<Op>(plan.sqe.opc);
    if (!ns || plan.queue != ctrlr::QueueKind::io || plan.data.size() != 1) return std::nullopt;
    if (plan.op != IoctlOp::submit_io && plan.op != IoctlOp::io_passthru &&
        plan.op != IoctlOp::io64_passthru)
        return std::nullopt;
    if (opc != Op::read && opc != Op::write && opc != Op::compare) return std::nullopt;
    SplitShape shape;
    shape.blocks = std::uint64_t{plan.sqe.cdw12 & 0xffffu} + 1;
    shape.block_bytes = ns->lba_data_size + (ns->extended_metadata ? ns->metadata_size : 0u);
    if (plan.data_len != shape.blocks * shape.block_bytes) return std::nullopt;
    if (plan.metadata.len != 0) {
        if (ns->extended_metadata || plan.metadata.len != shape.blocks * ns->metadata_size)
            return std::nullopt;
        shape.meta_bytes = ns->metadata_size;
    }
    return shape;
}

int check_transfer_size(const IoctlCommand& plan, const std::optional<NamespaceShape>& ns,
                        std::uint64_t mdts_bytes)
{
    if (mdts_bytes == 0 || plan.data_len <= mdts_bytes) return 0;
    const auto shape = split_shape(plan, ns);
    return shape && shape->block_bytes <= mdts_bytes ? 0 : EINVAL;
}

} // namespace nvmecuse::cuse
