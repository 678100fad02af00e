#include "nvmecuse/cuse/retry.hpp"

#include <cstring>

#include <cerrno>

#include "nvmecuse/cuse/completion.hpp"
#include "nvmecuse/cuse/split.hpp"

namespace nvmecuse::cuse {
namespace {

/// The out iovec that receives `result` before the command is decoded.
std::vector<UserRange> result_out(ArgKind kind, std::uint64_t arg)
{
    switch (kind) {
    case ArgKind::passthru:
        return {{arg + passthru_result_offset, 4}};
    case ArgKind::passthru64:
        return {{arg + passthru64_result_offset, 8}};
    default:
        return {};
    }
}

/// 6.2: nvme_user_cmd{,64} call nvme_cmd_allowed() after copy_from_user(),
/// and nvme_submit_io() on the command it built from nvme_user_io.
bool permission_after_argument(KernelRules rules, const Route& route) noexcept
{
    const bool checked = route.arg == ArgKind::passthru || route.arg == ArgKind::passthru64 ||
                         route.arg == ArgKind::user_io;
    return rules == KernelRules::linux_6_2 && checked;
}

std::size_t total(const std::vector<UserRange>& v)
{
    std::size_t n = 0;
    for (const auto& r : v) n += r.len;
    return n;
}

/// fuse_do_ioctl's checks on a retry, answered as the kernel would (ENOMEM).
bool within(const RetryLimits& l, const std::vector<UserRange>& in, const std::vector<UserRange>& out)
{
    return in.size() + out.size() <= l.max_iovecs && total(in) <= l.max_bytes_per_direction &&
           total(out) <= l.max_bytes_per_direction;
}

Step retry_or_enomem(const RetryLimits& l, Stage stage, std::vector<UserRange> in, std::vector<UserRange> out)
{
    if (!within(l, in, out)) return Error{ENOMEM};
    return Retry{stage, std::move(in), std::move(out)};
}

Step advance_block(const Route& route, const IoctlRequest& req, const RetryLimits& limits)
{
    const std::size_t size = arg_size(route.arg);
    if (req.out_size < size) return retry_or_enomem(limits, Stage::need_argument, {}, {{req.arg, size}});
    auto bytes = block_ioctl_bytes(route);
    if (!bytes) return Error{bytes.error()};
    return Reply{0, std::move(*bytes)};
}

Step advance_command(const IoctlContext& ctx, const Route& route, const IoctlRequest& req)
{
    const std::size_t s = arg_size(route.arg);
    const auto& limits = ctx.retry_limits;
    if (req.in.size() < s)
        return retry_or_enomem(limits, Stage::need_argument, {{req.arg, s}}, result_out(route.arg, req.arg));

    if (const int e = check_argument_permission(ctx, route, req.in.first(s)); e != 0)
        return Error{e};
    auto cmd = decode(route, req.arg, req.in.first(s), ctx.decode_limits);
    if (!cmd) return Error{cmd.error()};
    const std::size_t v = cmd->vector.len;
    if (cmd->needs_iovecs()) {
        if (req.in.size() < s + v)
            return retry_or_enomem(limits, Stage::need_vector, {{req.arg, s}, cmd->vector},
                                   result_out(route.arg, req.arg));
        if (auto ok = attach_iovecs(*cmd, req.in.subspan(s, v), ctx.decode_limits); !ok) return Error{ok.error()};
    }

    if (const int e = check_transfer_size(*cmd, ctx.node.ns, ctx.mdts_bytes); e != 0) return Error{e};
    Layout layout = layout_for(*cmd);
    if (!within(limits, layout.in, layout.out)) return Error{ENOMEM};
    if (req.in.size() != layout.in_bytes || req.out_size != layout.out_bytes)
        return Retry{Stage::need_buffers, std::move(layout.in), std::move(layout.out)};

    Execute exec{std::move(*cmd), ArgBytes::copy_of(req.in.first(s)), {}, {}};
    if (exec.command.reads_from_caller()) {
        exec.data_in = req.in.subspan(s + v, exec.command.data_len);
        exec.metadata_in = req.in.subspan(s + v + exec.command.data_len, exec.command.metadata.len);
    }
    return exec;
}

} // namespace

Layout layout_for(const IoctlCommand& cmd)
{
    Layout l;
    l.in.push_back({cmd.arg_addr, arg_size(cmd.arg_kind)});
    if (cmd.vector.len != 0) l.in.push_back(cmd.vector);
    l.out = result_out(cmd.arg_kind, cmd.arg_addr);
    auto& transfer = cmd.reads_from_caller() ? l.in : l.out;
    if (cmd.direction != nvme::DataTransfer::none) {
        transfer.insert(transfer.end(), cmd.data.begin(), cmd.data.end());
        if (cmd.metadata.len != 0) transfer.push_back(cmd.metadata);
    }
    l.in_bytes = total(l.in);
    l.out_bytes = total(l.out);
    return l;
}

std::expected<Route, int> route_ioctl(const IoctlContext& ctx, unsigned int cmd,
                                      std::uint32_t flags)
{
    auto route = classify(cmd, ctx.node, is_compat_caller(flags));
    if (!route) return route;
    if (permission_after_argument(ctx.rules, *route)) return route;
    if (const int e = check_permission(*route, ctx.caller_has_sys_admin); e != 0)
        return std::unexpected(e);
    return route;
}

int check_argument_permission(const IoctlContext& ctx, const Route& route,
                              std::span<const std::byte> arg)
{
    if (!permission_after_argument(ctx.rules, route)) return 0;
    if (route.arg == ArgKind::user_io) {
        // After every check of the struct (EINVAL first, as the kernel
        // builds the command before nvme_cmd_allowed()).
        const auto io = decode_submit_io(route, 0, arg, ctx.decode_limits);
        if (!io) return 0; // the decode that follows fails with its errno
        if (unprivileged_command_allowed(io->sqe, true, ctx.effects.get(), ctx.open_for_write))
            return 0;
        return ctx.caller_has_sys_admin ? 0 : EACCES;
    }
    const auto sqe = decode_passthru_header(route, arg);
    if (!sqe) return sqe.error();
    const bool bound = route.ns.has_value();
    if (unprivileged_command_allowed(*sqe, bound, ctx.effects.get(), ctx.open_for_write)) return 0;
    return ctx.caller_has_sys_admin ? 0 : EACCES;
}

Step advance(const IoctlContext& ctx, const IoctlRequest& req)
{
    auto route = route_ioctl(ctx, req.cmd, req.flags);
    if (!route) return Error{route.error()};

    switch (route->arg) {
    case ArgKind::none:
        if (route->op == IoctlOp::namespace_id) return Reply{static_cast<int>(route->ns->nsid), {}};
        return Control{route->op};
    case ArgKind::out_u64:
    case ArgKind::out_ulong:
    case ArgKind::out_compat_ulong:
    case ArgKind::out_int:
    case ArgKind::out_uint:
        return advance_block(*route, req, ctx.retry_limits);
    case ArgKind::passthru:
    case ArgKind::passthru64:
    case ArgKind::user_io:
        break;
    }
    return advance_command(ctx, *route, req);
}

std::expected<ctrlr::Command, std::error_code> command_for(const Execute& exec,
                                                         const IoctlContext& ctx)
{
    const IoctlCommand& cmd = exec.command;
    transport::DeviceMemory& memory = *ctx.memory;
    auto copy = [&](std::span<const std::byte> bytes) -> std::expected<ctrlr::DataBuffer, std::error_code> {
        auto b = memory.allocate(bytes.size());
        if (b && !bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
        return b;
    };
    std::expected<ctrlr::DataBuffer, std::error_code> data{};
    std::expected<ctrlr::DataBuffer, std::error_code> metadata{};
    if (cmd.reads_from_caller()) {
        data = copy(exec.data_in);
        metadata = copy(exec.metadata_in);
    } else if (cmd.writes_to_caller()) {
        const bool filled = ctx.transport_fills_buffers;
        data = transport::allocate_for_controller_data(memory, cmd.data_len, filled);
        metadata = transport::allocate_for_controller_data(memory, cmd.metadata.len, filled);
    }
    if (!data) return std::unexpected(data.error());
    if (!metadata) return std::unexpected(metadata.error());
    return build_command(cmd, std::move(*data), std::move(*metadata));
}

} // namespace nvmecuse::cuse
