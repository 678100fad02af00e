#include "nvmecuse/cuse/decode.hpp"

#include <linux/nvme_ioctl.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace nvmecuse::cuse {
namespace {

static_assert(offsetof(nvme_passthru_cmd, result) == passthru_result_offset);
static_assert(offsetof(nvme_passthru_cmd64, result) == passthru64_result_offset);

/// PRACT in nvme_user_io.control (cdw12 bits 31:16): NVME_RW_PRINFO_PRACT.
constexpr std::uint16_t control_pract = 1u << 13;
/// struct t10_pi_tuple: the metadata size PRACT strips/inserts entirely.
constexpr std::uint16_t t10_pi_tuple_size = 8;

template <class T> T load(std::span<const std::byte> bytes) noexcept
{
    T v;
    std::memcpy(&v, bytes.data(), sizeof(T));
    return v;
}

/// The fields nvme_passthru_cmd and nvme_passthru_cmd64 share (same offsets).
template <class Cmd> nvme::SubmissionQueueEntry sqe_of(const Cmd& c) noexcept
{
    nvme::SubmissionQueueEntry sqe{};
    sqe.opc = c.opcode;
    sqe.flags = c.flags;
    sqe.nsid = c.nsid;
    sqe.cdw2 = c.cdw2;
    sqe.cdw3 = c.cdw3;
    sqe.cdw10 = c.cdw10;
    sqe.cdw11 = c.cdw11;
    sqe.cdw12 = c.cdw12;
    sqe.cdw13 = c.cdw13;
    sqe.cdw14 = c.cdw14;
    sqe.cdw15 = c.cdw15;
    return sqe;
}

/// flags must be 0; nvme_validate_passthru_nsid: only a bound namespace
/// constrains nsid.
template <class Cmd> int header_error(const Route& route, const Cmd& c) noexcept
{
    if (c.flags != 0) return EINVAL;
    if (route.ns && c.nsid != route.ns->nsid) return EINVAL;
    return 0;
}

/// nvme_to_user_ptr(): a 32-bit caller's pointer fields count with their
/// low 32 bits only.
std::uint64_t user_pointer(const Route& route, std::uint64_t value) noexcept
{
    return route.compat ? static_cast<std::uint32_t>(value) : value;
}

template <class Cmd>
std::expected<IoctlCommand, int> decode_passthru_struct(const Route& route, std::uint64_t arg_addr,
                                                        Cmd c, const DecodeLimits& limits)
{
    if (const int e = header_error(route, c); e != 0) return std::unexpected(e);
    c.addr = user_pointer(route, c.addr);
    c.metadata = user_pointer(route, c.metadata);

    IoctlCommand cmd;
    cmd.op = route.op;
    cmd.arg_kind = route.arg;
    cmd.arg_addr = arg_addr;
    cmd.queue = route.queue;
    cmd.sqe = sqe_of(c);
    cmd.timeout = std::chrono::milliseconds(c.timeout_ms);
    cmd.result = route.arg == ArgKind::passthru ? ResultWidth::bits32 : ResultWidth::bits64;
    cmd.caller_result = c.result;

    if (c.addr == 0 || c.data_len == 0) return cmd; // nothing mapped, metadata ignored too

    const auto dir = nvme::data_transfer(c.opcode);
    if (dir == nvme::DataTransfer::bidirectional) return std::unexpected(EINVAL);
    // nvme_req_op(): nvme_is_write() (opcode bit 0) -> DRV_OUT, else DRV_IN.
    cmd.direction = dir == nvme::DataTransfer::host_to_controller ? nvme::DataTransfer::host_to_controller
                                                                  : nvme::DataTransfer::controller_to_host;
    if (route.op == IoctlOp::io64_vec_passthru) {
        if (c.data_len > limits.max_vec_segments) return std::unexpected(EINVAL);
        const std::size_t element = route.compat ? compat_iovec_size : user_iovec_size;
        cmd.vector = {c.addr, std::uint64_t{c.data_len} * element};
        cmd.compat_vector = route.compat;
    } else {
        if (c.data_len > limits.max_data_bytes) return std::unexpected(EINVAL);
        cmd.data.push_back({c.addr, c.data_len});
        cmd.data_len = c.data_len;
    }
    if (route.ns && c.metadata != 0 && c.metadata_len != 0) {
        if (c.metadata_len > limits.max_metadata_bytes) return std::unexpected(ENOMEM);
        cmd.metadata = {c.metadata, c.metadata_len};
    }
    return cmd;
}

} // namespace

DecodeLimits DecodeLimits::for_mdts(std::uint64_t mdts_bytes) noexcept
{
    DecodeLimits l;
    if (mdts_bytes != 0) {
        l.max_data_bytes = mdts_bytes;
        l.max_submit_io_bytes = mdts_bytes;
    }
    return l;
}

ArgBytes ArgBytes::copy_of(std::span<const std::byte> b) noexcept
{
    ArgBytes a;
    a.size = std::min(b.size(), a.bytes.size());
    std::memcpy(a.bytes.data(), b.data(), a.size);
    return a;
}

std::expected<IoctlCommand, int> decode_passthru(const Route& route, std::uint64_t arg_addr,
                                                 std::span<const std::byte> arg, const DecodeLimits& limits)
{
    if (route.arg == ArgKind::passthru && arg.size() >= sizeof(nvme_passthru_cmd))
        return decode_passthru_struct(route, arg_addr, load<nvme_passthru_cmd>(arg), limits);
    if (route.arg == ArgKind::passthru64 && arg.size() >= sizeof(nvme_passthru_cmd64))
        return decode_passthru_struct(route, arg_addr, load<nvme_passthru_cmd64>(arg), limits);
    return std::unexpected(EINVAL);
}

std::expected<nvme::SubmissionQueueEntry, int> decode_passthru_header(const Route& route,
                                                                     std::span<const std::byte> arg)
{
    auto checked = [&](const auto& c) -> std::expected<nvme::SubmissionQueueEntry, int> {
        if (const int e = header_error(route, c); e != 0) return std::unexpected(e);
        return sqe_of(c);
    };
    if (route.arg == ArgKind::passthru && arg.size() >= sizeof(nvme_passthru_cmd))
        return checked(load<nvme_passthru_cmd>(arg));
    if (route.arg == ArgKind::passthru64 && arg.size() >= sizeof(nvme_passthru_cmd64))
        return checked(load<nvme_passthru_cmd64>(arg));
    return std::unexpected(EINVAL);
}

std::expected<void, int> attach_iovecs(IoctlCommand& cmd, std::span<const std::byte> iovecs,
                                       const DecodeLimits& limits)
{
    const std::size_t element = cmd.compat_vector ? compat_iovec_size : user_iovec_size;
    if (iovecs.size() != cmd.vector.len || iovecs.size() % element != 0)
        return std::unexpected(EINVAL);
    std::vector<UserRange> segments;
    std::uint64_t total = 0;
    for (std::size_t off = 0; off < iovecs.size(); off += element) {
        std::uint64_t base = 0;
        std::uint64_t len = 0;
        if (cmd.compat_vector) {
            // struct compat_iovec: iov_len is a compat_ssize_t (negative: EINVAL).
            base = load<std::uint32_t>(iovecs.subspan(off));
            len = load<std::uint32_t>(iovecs.subspan(off + 4));
            if (len > static_cast<std::uint64_t>(INT32_MAX)) return std::unexpected(EINVAL);
        } else {
            base = load<std::uint64_t>(iovecs.subspan(off));
            len = load<std::uint64_t>(iovecs.subspan(off + 8));
        }
        if (len > static_cast<std::uint64_t>(SSIZE_MAX)) return std::unexpected(EINVAL);
        total += len;
        if (total > limits.max_data_bytes) return std::unexpected(EINVAL);
        if (len != 0) segments.push_back({base, len});
    }
    if (total == 0) return std::unexpected(EINVAL);
    cmd.data.assign(segments.begin(), segments.end());
    cmd.data_len = total;
    return {};
}

std::expected<IoctlCommand, int> decode_submit_io(const Route& route, std::uint64_t arg_addr,
                                                  std::span<const std::byte> arg, const DecodeLimits& limits)
{
    if (route.arg != ArgKind::user_io || !route.ns || arg.size() < sizeof(nvme_user_io))
        return std::unexpected(EINVAL);
    const auto io = load<nvme_user_io>(arg);
    const NamespaceShape& ns = *route.ns;
    if (io.flags != 0) return std::unexpected(EINVAL);
    using Op = nvme::NvmOpcode;
    constexpr std::array allowed{Op::write, Op::read, Op::compare};
    if (std::ranges::find(allowed, static_cast<Op>(io.opcode)) == allowed.end())
        return std::unexpected(EINVAL);

    // An LBA size too large to represent (LBADS 32 and up; ctrlr/limits.hpp)
    // gives no length to map: refused rather than sent without a buffer.
    if (ns.lba_data_size == 0) return std::unexpected(EINVAL);
    const std::uint64_t blocks = std::uint64_t{io.nblocks} + 1;
    std::uint64_t length = blocks * ns.lba_data_size;
    std::uint64_t meta_len = 0;
    std::uint64_t meta_addr = 0;
    if ((io.control & control_pract) != 0 && ns.metadata_size == t10_pi_tuple_size) {
        // PI is inserted/stripped: no metadata buffer may be given.
        if (user_pointer(route, io.metadata) != 0) return std::unexpected(EINVAL);
    } else {
        meta_len = blocks * ns.metadata_size;
        meta_addr = io.metadata;
    }
    if (ns.extended_metadata) {
        length += meta_len;
        meta_len = 0;
    } else if (meta_len != 0 && (meta_addr == 0 || (meta_addr & 3) != 0)) {
        return std::unexpected(EINVAL);
    }
    if (length > limits.max_submit_io_bytes) return std::unexpected(EINVAL);
    if (meta_len > limits.max_metadata_bytes) return std::unexpected(ENOMEM);

    IoctlCommand cmd;
    cmd.op = route.op;
    cmd.arg_kind = route.arg;
    cmd.arg_addr = arg_addr;
    cmd.queue = ctrlr::QueueKind::io;
    cmd.result = ResultWidth::none;
    auto& sqe = cmd.sqe;
    sqe.opc = io.opcode;
    sqe.flags = io.flags;
    sqe.nsid = ns.nsid;
    nvme::cmd::rw::set_slba(sqe, io.slba);
    sqe.cdw12 = std::uint32_t{io.nblocks} | std::uint32_t{io.control} << 16;
    sqe.cdw13 = io.dsmgmt;
    sqe.cdw14 = io.reftag;
    sqe.cdw15 = std::uint32_t{io.apptag} | std::uint32_t{io.appmask} << 16;

    // nvme_submit_user_cmd maps nothing without a buffer.
    const std::uint64_t data_addr = user_pointer(route, io.addr);
    if (data_addr == 0) return cmd;
    cmd.direction = nvme::data_transfer(io.opcode);
    cmd.data.push_back({data_addr, length});
    cmd.data_len = length;
    if (meta_len != 0) cmd.metadata = {user_pointer(route, meta_addr), meta_len};
    return cmd;
}

std::expected<IoctlCommand, int> decode(const Route& route, std::uint64_t arg_addr,
                                        std::span<const std::byte> arg, const DecodeLimits& limits)
{
    if (route.arg == ArgKind::user_io) return decode_submit_io(route, arg_addr, arg, limits);
    return decode_passthru(route, arg_addr, arg, limits);
}

ctrlr::Command build_command(const IoctlCommand& cmd, ctrlr::DataBuffer data, ctrlr::DataBuffer metadata)
{
    ctrlr::Command c;
    c.sqe = cmd.sqe;
    c.direction = data.empty() && metadata.empty() ? nvme::DataTransfer::none : cmd.direction;
    c.data = std::move(data);
    c.metadata = std::move(metadata);
    c.timeout = cmd.timeout;
    return c;
}

} // namespace nvmecuse::cuse
