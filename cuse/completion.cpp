#include "nvmecuse/cuse/completion.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace nvmecuse::cuse {
namespace {

/// ctrlr error -> -errno, as the kernel reports a request that never got a
/// controller completion (nvme_execute_rq).
struct ErrorRow {
    std::errc error;
    int value;
};
constexpr auto error_rows = std::to_array<ErrorRow>({
    {std::errc::timed_out, -EINTR},
    {std::errc::operation_canceled, -EINTR},
    {std::errc::invalid_argument, -EINVAL},
    {std::errc::not_enough_memory, -ENOMEM},
    // The device was removed: blk_queue_enter() on its dying queue.
    {std::errc::no_such_device, -ENODEV},
});

static_assert(std::endian::native == std::endian::little, "result truncation copies the low bytes");

/// NVME_SC_HOST_PATH_ERROR: SCT 3 (path related), SC 0x70.
constexpr nvme::Status host_path_error{nvme::PathStatus::host_pathing_error};
/// NVME_SC_HOST_ABORTED_CMD: SCT 3, SC 0x71; only a host completes with it.
constexpr nvme::Status host_aborted{nvme::PathStatus::command_aborted_by_host};

} // namespace

IoctlOutcome map_completion(const ctrlr::Result& r, ResultWidth width) noexcept
{
    IoctlOutcome out;
    if (r.error) {
        if (r.error == std::errc::not_connected) {
            out.value = host_path_error.to_field();
            out.write_result = width != ResultWidth::none; // result stays 0
            return out; // nothing was transferred: leave the caller's buffers alone
        }
        out.value = -EIO;
        for (const auto& row : error_rows)
            if (r.error == row.error) out.value = row.value;
        return out;
    }
    if (r.status.same_code(host_path_error)) {
        // Refused before it reached the controller (Controller::submit()
        // while reconnecting): the status and a zero result, as for
        // not_connected, and the caller's buffers stay untouched.
        out.value = r.status.to_field();
        out.write_result = width != ResultWidth::none;
        return out;
    }
    if (r.status.same_code(host_aborted)) {
        // In flight when the connection dropped: Linux cancels the request
        // (nvme_cancel_request(): NVME_REQ_CANCELLED), and nvme_execute_rq()
        // reports a cancelled request as EINTR, whatever its status.
        out.value = -EINTR;
        return out;
    }
    out.value = r.status.to_field();
    out.copy_data = true;
    out.copy_metadata = r.status.is_success();
    switch (width) {
    case ResultWidth::none:
        break;
    case ResultWidth::bits32:
        out.write_result = true;
        out.result = r.dw0;
        break;
    case ResultWidth::bits64:
        out.write_result = true;
        out.result = std::uint64_t{r.dw0} | std::uint64_t{r.dw1} << 32;
        break;
    }
    return out;
}

UserRange result_field(const IoctlCommand& cmd) noexcept
{
    switch (cmd.result) {
    case ResultWidth::bits32:
        return {cmd.arg_addr + passthru_result_offset, 4};
    case ResultWidth::bits64:
        return {cmd.arg_addr + passthru64_result_offset, 8};
    case ResultWidth::none:
        break;
    }
    return {};
}

std::vector<std::byte> ReplyPlan::flatten() const
{
    std::vector<std::byte> out;
    if (value < 0) return out;
    std::size_t total = result_size;
    for (const auto& w : writes) total += w.bytes.size();
    out.reserve(total);
    out.insert(out.end(), result().begin(), result().end());
    for (const auto& w : writes) out.insert(out.end(), w.bytes.begin(), w.bytes.end());
    return out;
}

ReplyPlan build_reply(const IoctlCommand& cmd, const IoctlOutcome& outcome, std::span<const std::byte> data,
                      std::span<const std::byte> metadata, std::pmr::memory_resource* memory)
{
    ReplyPlan plan{.writes = std::pmr::vector<UserWrite>(memory)};
    plan.value = outcome.value;
    if (outcome.is_errno()) return plan;

    const UserRange field = result_field(cmd);
    if (outcome.write_result && field.len != 0) {
        // put_user() of the result, truncated to the field (little endian host).
        plan.result_addr = field.addr;
        plan.result_size = field.len;
        std::memcpy(plan.result_bytes.data(), &outcome.result, plan.result_size);
        plan.result_unchanged =
            std::memcmp(plan.result_bytes.data(), &cmd.caller_result, plan.result_size) == 0;
    }
    if (!cmd.writes_to_caller()) return plan;
    if (outcome.copy_data) {
        std::size_t off = 0;
        for (const auto& seg : cmd.data) {
            if (off >= data.size()) break;
            const std::size_t n = std::min<std::size_t>(seg.len, data.size() - off);
            plan.writes.push_back({seg.addr, data.subspan(off, n)});
            off += n;
        }
    }
    if (outcome.copy_metadata && cmd.metadata.len != 0 && !metadata.empty())
        plan.writes.push_back(
            {cmd.metadata.addr, metadata.first(std::min<std::size_t>(cmd.metadata.len, metadata.size()))});
    return plan;
}

} // namespace nvmecuse::cuse
