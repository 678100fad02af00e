// An NVM Read or Write of namespace 1 for the controller tests.
#pragma once

#include <cstdint>
#include <utility>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/spec/command.hpp"

namespace nvmecuse::testing {

/// `opc` at `slba` over all of `data`, in blocks of `block_size` bytes.
inline ctrlr::Command read_write(nvme::NvmOpcode opc, std::uint64_t slba, ctrlr::DataBuffer data,
                                 std::uint32_t block_size = 512)
{
    nvme::SubmissionQueueEntry s{};
    s.opc = static_cast<std::uint8_t>(opc);
    s.nsid = 1;
    s.cdw10 = static_cast<std::uint32_t>(slba);
    s.cdw11 = static_cast<std::uint32_t>(slba >> 32);
    nvme::cmd::rw::Nlb::set(s, static_cast<std::uint32_t>(data.size() / block_size - 1));
    return ctrlr::Command::from_opcode(s, std::move(data));
}

} // namespace nvmecuse::testing
