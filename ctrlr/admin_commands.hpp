// Builders for the admin commands the core issues itself (NVMe Base 2.0,
// section 5). Pure functions; any thread.
#pragma once

#include <cstdint>
#include <system_error>

#include "nvmecuse/ctrlr/command.hpp"
#include "nvmecuse/spec/nvme.hpp"

namespace nvmecuse::ctrlr::admin {

inline nvme::SubmissionQueueEntry sqe_for(nvme::AdminOpcode opc, std::uint32_t nsid = 0)
{
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = static_cast<std::uint8_t>(opc);
    sqe.nsid = nsid;
    return sqe;
}

/// Identify (5.17) returning one 4 KiB data structure.
inline Command identify(nvme::Cns cns, std::uint32_t nsid = 0)
{
    Command c;
    c.sqe = sqe_for(nvme::AdminOpcode::identify, nsid);
    nvme::cmd::identify::Cns::set(c.sqe, static_cast<std::uint32_t>(cns));
    c.direction = nvme::DataTransfer::controller_to_host;
    c.data = DataBuffer::zeroed(nvme::identify_data_size);
    return c;
}

/// Set Features (5.27) without a data buffer.
inline Command set_features(nvme::FeatureId fid, std::uint32_t cdw11)
{
    Command c;
    c.sqe = sqe_for(nvme::AdminOpcode::set_features);
    nvme::cmd::features::Fid::set(c.sqe, static_cast<std::uint32_t>(fid));
    c.sqe.cdw11 = cdw11;
    return c;
}

/// Get Log Page (5.16) of `bytes` (a multiple of 4) from offset 0.
/// RAE = 0 clears the asynchronous event the log page belongs to.
inline Command get_log_page(std::uint8_t lid, std::uint32_t bytes, bool retain_async_event,
                            std::uint32_t nsid = nvme::nsid_all)
{
    Command c;
    c.sqe = sqe_for(nvme::AdminOpcode::get_log_page, nsid);
    nvme::cmd::get_log_page::Lid::set(c.sqe, lid);
    nvme::cmd::get_log_page::Rae::set(c.sqe, retain_async_event ? 1u : 0u);
    nvme::cmd::get_log_page::set_num_dwords(c.sqe, bytes / 4);
    c.direction = nvme::DataTransfer::controller_to_host;
    c.data = DataBuffer::zeroed(bytes);
    return c;
}

/// Abort (5.1) of command `cid` on submission queue `sqid`.
inline Command abort(std::uint16_t sqid, std::uint16_t cid)
{
    Command c;
    c.sqe = sqe_for(nvme::AdminOpcode::abort);
    nvme::cmd::abort::Sqid::set(c.sqe, sqid);
    nvme::cmd::abort::Cid::set(c.sqe, cid);
    return c;
}

/// Asynchronous Event Request (5.2).
inline Command async_event_request()
{
    Command c;
    c.sqe = sqe_for(nvme::AdminOpcode::async_event_request);
    return c;
}

/// A command's outcome as one error code: its own error, or `io_error` for
/// an NVMe status other than success.
inline std::error_code error_of(const Result& r)
{
    if (r.error) return r.error;
    if (!r.status.is_success()) return std::make_error_code(std::errc::io_error);
    return {};
}

/// Size to read when clearing an event whose log page is `lid` (RAE = 0):
/// the whole page where it is small and fixed, else its first 4 KiB.
inline std::uint32_t event_log_size(std::uint8_t lid)
{
    switch (static_cast<nvme::LogPageId>(lid)) {
    case nvme::LogPageId::error_information:
        return 64; // one entry
    case nvme::LogPageId::smart_health:
    case nvme::LogPageId::firmware_slot:
        return 512;
    default:
        return 4096;
    }
}

} // namespace nvmecuse::ctrlr::admin
