#include "nvmecuse/cuse/fast_path.hpp"

#include <cerrno>
#include <vector>

#include "stack_arena.hpp"

namespace nvmecuse::cuse {
namespace {

FastStep prepare_block(const Route& route, std::uint64_t arg, CallerMemory& memory)
{
    auto bytes = block_ioctl_bytes(route);
    if (!bytes) return Error{bytes.error()};
    if (auto ec = memory.write(arg, *bytes)) return Fallback{ec};
    return Reply{0, {}};
}

FastStep prepare_command(const IoctlContext& ctx, const Route& route, std::uint64_t arg, CallerMemory& memory)
{
    ArgBytes raw;
    raw.size = arg_size(route.arg);
    if (auto ec = memory.read(arg, std::span(raw.bytes.data(), raw.size))) return Fallback{ec};
    if (const int e = check_argument_permission(ctx, route, raw.view()); e != 0) return Error{e};
    auto plan = decode(route, arg, raw.view(), ctx.decode_limits);
    if (!plan) return Error{plan.error()};

    if (plan->needs_iovecs()) {
        std::vector<std::byte> iovecs(plan->vector.len);
        if (auto ec = memory.read(plan->vector.addr, iovecs)) return Fallback{ec};
        if (auto ok = attach_iovecs(*plan, iovecs, ctx.decode_limits); !ok) return Error{ok.error()};
    }

    // The command's buffers come from the transport's device memory: the
    // caller's data goes straight into what the controller reads.
    std::expected<ctrlr::DataBuffer, std::error_code> data{};
    std::expected<ctrlr::DataBuffer, std::error_code> metadata{};
    if (plan->reads_from_caller()) {
        data = ctx.memory->allocate(plan->data_len);
        if (!data) return Error{ENOMEM};
        if (auto ec = memory.read(plan->data, data->span())) return Fallback{ec};
        if (plan->metadata.len != 0) {
            metadata = ctx.memory->allocate(plan->metadata.len);
            if (!metadata) return Error{ENOMEM};
            if (auto ec = memory.read(plan->metadata.addr, metadata->span())) return Fallback{ec};
        }
    } else if (plan->writes_to_caller()) {
        const bool filled = ctx.transport_fills_buffers;
        data = transport::allocate_for_controller_data(*ctx.memory, plan->data_len, filled);
        metadata = transport::allocate_for_controller_data(*ctx.memory, plan->metadata.len, filled);
        if (!data || !metadata) return Error{ENOMEM};
    }
    auto command = build_command(*plan, std::move(*data), std::move(*metadata));
    return FastExecute{std::move(*plan), std::move(command)};
}

} // namespace

FastStep fast_prepare(const IoctlContext& ctx, unsigned int cmd, std::uint64_t arg, std::uint32_t flags,
                      CallerMemory& memory)
{
    auto route = route_ioctl(ctx, cmd, flags);
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
        return prepare_block(*route, arg, memory);
    case ArgKind::passthru:
    case ArgKind::passthru64:
    case ArgKind::user_io:
        break;
    }
    return prepare_command(ctx, *route, arg, memory);
}

std::error_code fast_deliver(const ReplyPlan& plan, CallerMemory& memory)
{
    if (plan.value < 0) return {};
    StackArena<8 * sizeof(UserWrite)> arena;
    std::pmr::vector<UserWrite> writes(arena.resource());
    writes.reserve(plan.writes.size() + 1);
    // The kernel copies data and metadata back before put_user(result).
    writes.insert(writes.end(), plan.writes.begin(), plan.writes.end());
    // A write's result is usually 0 in a zeroed struct: no process_vm_writev
    // at all then (data-less completions are the common case for writes).
    // The one visible difference to the kernel's put_user(): a struct in
    // read-only memory whose result field already holds the result is not
    // refused with EFAULT after the command ran.
    if (plan.result_size != 0 && !plan.result_unchanged)
        writes.push_back({plan.result_addr, plan.result()});
    return memory.write(writes);
}

} // namespace nvmecuse::cuse
