// The PCIe test double's SGL walk (NVMe Base 2.0, 4.1.2): SGL1, and the
// Segment and Last Segment lists it leads to, gathered into the pages the
// command's data occupies. See fake_pci_function.hpp.
#include "fake_pci_function.hpp"

#include <algorithm>

namespace nvmecuse::testing {

nvme::Status FakePciFunction::walk_sgl(const nvme::SubmissionQueueEntry& sqe, std::size_t length,
                                       std::vector<std::pair<std::byte*, std::size_t>>& segments)
{
    using Type = nvme::SglDescriptorType;
    using nvme::GenericStatus;
    nvme::SglDescriptor d = nvme::dptr_sgl(sqe);
    const nvme::SglDescriptor* segment = nullptr; // the next descriptor of the current segment
    std::size_t left_in_segment = 0;
    bool in_last_segment = false;
    std::size_t total = 0;
    std::uint64_t data_blocks = 0;
    for (;;) {
        switch (nvme::sgl_type(d)) {
        case Type::data_block: {
            if (nvme::sgl_subtype(d) != 0) return {GenericStatus::sgl_descriptor_type_invalid};
            if (total + d.length > length) return {GenericStatus::data_sgl_length_invalid};
            auto* p = dma_.host_view(d.addr, d.length);
            if (p == nullptr) {
                ++dma_faults;
                return {GenericStatus::data_transfer_error};
            }
            segments.emplace_back(p, d.length);
            total += d.length;
            ++data_blocks;
            break;
        }
        case Type::segment:
        case Type::last_segment: {
            // Only the last descriptor of a segment may point to another,
            // and a Last Segment points to none.
            if (left_in_segment != 0 || in_last_segment || d.length == 0 ||
                d.length % sizeof(nvme::SglDescriptor) != 0 || d.addr % 8 != 0)
                return {GenericStatus::invalid_sgl_segment_descriptor};
            segment = reinterpret_cast<const nvme::SglDescriptor*>(dma_.host_view(d.addr, d.length));
            if (segment == nullptr) {
                ++dma_faults;
                return {GenericStatus::data_transfer_error};
            }
            left_in_segment = d.length / sizeof(nvme::SglDescriptor);
            in_last_segment = nvme::sgl_type(d) == Type::last_segment;
            ++sgl_segments;
            break;
        }
        default:
            return {GenericStatus::sgl_descriptor_type_invalid};
        }
        if (left_in_segment == 0) break;
        d = *segment++;
        --left_in_segment;
    }
    // A Segment must end in a pointer to the next one.
    if (segment != nullptr && !in_last_segment) return {GenericStatus::invalid_sgl_segment_descriptor};
    if (total != length) return {GenericStatus::data_sgl_length_invalid};
    ++sgl_commands;
    max_sgl_data_blocks = std::max(max_sgl_data_blocks, data_blocks);
    return nvme::Status::success();
}

} // namespace nvmecuse::testing
