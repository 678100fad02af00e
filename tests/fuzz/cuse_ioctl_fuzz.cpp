// The CUSE ioctl pipeline without a kernel (cuse/ioctl_abi.cpp, decode.cpp,
// retry.cpp, split.cpp, completion.cpp): arbitrary ioctl numbers, argument
// structs, iovec arrays, node shapes and completions, driven through the
// unrestricted-ioctl retry protocol by a fake fs/fuse/ioctl.c that copies
// the named ranges out of a fake caller address space, and that may see
// the caller rewrite its struct between retries. Invariants:
// - every range a Retry asks the kernel to read or write lies inside what
//   the ioctl names: the argument struct, or a buffer, metadata buffer,
//   iovec array or iovec segment the struct (and its iovecs) as delivered
//   in that request name; a Retry stays within FUSE's iovec and byte caps;
// - an Execute's command is exactly what the delivered struct says: its
//   layout is the one the kernel delivered, write data and metadata point
//   into the request and have the command's lengths, split shapes cover
//   the buffers exactly, and only a CAP_SYS_ADMIN caller gets a passthrough;
// - a reply fits the out buffers the kernel holds, and every write to the
//   caller lands in the result field or a read buffer the command names,
//   from the command's own buffers;
// - without rewrites the protocol ends within the 4 requests retry.hpp
//   promises.
//
// Input: see `Input` below, then the caller's bytes at the argument address.
#include <linux/fs.h>
#include <linux/nvme_ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "nvmecuse/cuse/completion.hpp"
#include "nvmecuse/cuse/retry.hpp"
#include "nvmecuse/cuse/split.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace nvmecuse;
using namespace nvmecuse::cuse;
using nvmecuse::fuzz::InputReader;
using nvmecuse::fuzz::Xorshift;

/// The caller's address space: one zeroed region.
constexpr std::uint64_t region_base = 0x100000;
constexpr std::size_t region_size = 256 * 1024;

constexpr unsigned known_ioctls[] = {
    NVME_IOCTL_ADMIN_CMD, NVME_IOCTL_ADMIN64_CMD,  NVME_IOCTL_IO_CMD,
    NVME_IOCTL_IO64_CMD,  NVME_IOCTL_IO64_CMD_VEC, NVME_IOCTL_SUBMIT_IO,
    NVME_IOCTL_ID,        NVME_IOCTL_RESET,        NVME_IOCTL_SUBSYS_RESET,
    NVME_IOCTL_RESCAN,    BLKGETSIZE64,            BLKGETSIZE,
    BLKSSZGET,            BLKPBSZGET,
};

bool contains(const UserRange& outer, const UserRange& inner)
{
    if (inner.len == 0) return true;
    return inner.addr >= outer.addr && inner.addr - outer.addr <= outer.len &&
           inner.len <= outer.len - (inner.addr - outer.addr);
}

template <class T> T load(std::span<const std::byte> b, std::size_t at)
{
    T v{};
    if (at + sizeof v <= b.size()) std::memcpy(&v, b.data() + at, sizeof v);
    return v;
}

/// What the argument struct delivered in `in` names, read independently of
/// decode.cpp from the kernel's struct layouts (include/uapi/linux/nvme_ioctl.h);
/// a 32-bit caller's pointers count with their low 32 bits, its iovecs are
/// compat_iovecs (u32 base, u32 length).
std::vector<UserRange> named_ranges(unsigned cmd, std::uint64_t arg, std::span<const std::byte> in,
                                    const IoctlContext& ctx, bool compat)
{
    std::vector<UserRange> named;
    const auto pointer = [compat](std::uint64_t p) { return compat ? p & 0xffffffffu : p; };
    const auto route = classify(cmd, ctx.node, compat);
    if (!route) return named;
    const std::size_t s = arg_size(route->arg);
    named.push_back({arg, s});
    if (in.size() < s) return named;
    if (route->arg == ArgKind::passthru || route->arg == ArgKind::passthru64) {
        const auto metadata = load<std::uint64_t>(in, offsetof(nvme_passthru_cmd, metadata));
        const auto addr = load<std::uint64_t>(in, offsetof(nvme_passthru_cmd, addr));
        const auto metadata_len = load<std::uint32_t>(in, offsetof(nvme_passthru_cmd, metadata_len));
        const auto data_len = load<std::uint32_t>(in, offsetof(nvme_passthru_cmd, data_len));
        named.push_back({pointer(metadata), metadata_len});
        if (route->op != IoctlOp::io64_vec_passthru) {
            named.push_back({pointer(addr), data_len});
        } else {
            const std::size_t element = compat ? compat_iovec_size : user_iovec_size;
            const std::uint64_t vector_len = std::uint64_t{data_len} * element;
            named.push_back({pointer(addr), vector_len});
            const auto iovecs = in.subspan(s, std::min<std::size_t>(in.size() - s, vector_len));
            for (std::size_t off = 0; off + element <= iovecs.size(); off += element) {
                if (compat)
                    named.push_back({load<std::uint32_t>(iovecs, off), load<std::uint32_t>(iovecs, off + 4)});
                else
                    named.push_back({load<std::uint64_t>(iovecs, off), load<std::uint64_t>(iovecs, off + 8)});
            }
        }
    } else if (route->arg == ArgKind::user_io && route->ns) {
        const auto blocks = std::uint64_t{load<std::uint16_t>(in, offsetof(nvme_user_io, nblocks))} + 1;
        const auto& ns = *route->ns;
        const std::uint64_t block = ns.lba_data_size + (ns.extended_metadata ? ns.metadata_size : 0u);
        named.push_back({pointer(load<std::uint64_t>(in, offsetof(nvme_user_io, addr))), blocks * block});
        named.push_back({pointer(load<std::uint64_t>(in, offsetof(nvme_user_io, metadata))),
                         blocks * ns.metadata_size});
    }
    return named;
}

bool is_named(const std::vector<UserRange>& named, const UserRange& r)
{
    return std::ranges::any_of(named, [&](const UserRange& n) { return contains(n, r); });
}

bool within(std::span<const std::byte> outer, std::span<const std::byte> inner)
{
    return inner.empty() ||
           (inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size());
}

std::size_t total(const std::vector<UserRange>& v)
{
    std::size_t n = 0;
    for (const auto& r : v)
        n += r.len;
    return n;
}

struct Input {
    std::uint8_t node_flags;
    std::uint8_t active_namespaces;
    std::uint32_t nsid;
    std::uint8_t lba_shift;
    std::uint8_t metadata_choice;
    std::uint64_t size_bytes;
    std::uint8_t mdts_shift;
    std::uint8_t fuse_flags;
    std::uint8_t ioctl_choice;
    std::uint32_t raw_ioctl;
    std::uint16_t arg_offset;
    std::uint32_t rewrite_seed;
    std::uint16_t status;
    std::uint8_t error_choice;
    std::uint32_t dw0;
    std::uint32_t dw1;
};
namespace node_flag {
constexpr std::uint8_t namespace_node = 1u << 0;
constexpr std::uint8_t has_namespace = 1u << 1;
constexpr std::uint8_t sys_admin = 1u << 2;
constexpr std::uint8_t extended = 1u << 3;
constexpr std::uint8_t pi = 1u << 4;
constexpr std::uint8_t fills = 1u << 5;
constexpr std::uint8_t rewrites = 1u << 6;
constexpr std::uint8_t mdts_limits = 1u << 7;
} // namespace node_flag

Input read_input(InputReader& in)
{
    Input i{};
    i.node_flags = in.take<std::uint8_t>();
    i.active_namespaces = in.take<std::uint8_t>();
    i.nsid = in.take<std::uint32_t>();
    i.lba_shift = in.take<std::uint8_t>();
    i.metadata_choice = in.take<std::uint8_t>();
    i.size_bytes = in.take<std::uint64_t>();
    i.mdts_shift = in.take<std::uint8_t>();
    i.fuse_flags = in.take<std::uint8_t>();
    i.ioctl_choice = in.take<std::uint8_t>();
    i.raw_ioctl = in.take<std::uint32_t>();
    i.arg_offset = in.take<std::uint16_t>();
    i.rewrite_seed = in.take<std::uint32_t>();
    i.status = in.take<std::uint16_t>();
    i.error_choice = in.take<std::uint8_t>();
    i.dw0 = in.take<std::uint32_t>();
    i.dw1 = in.take<std::uint32_t>();
    return i;
}

/// Checks an Execute and runs it on a fake controller; checks the reply.
void execute(const Execute& exec, const IoctlRequest& req, const IoctlContext& ctx, const Input& input,
             const std::vector<UserRange>& named)
{
    const IoctlCommand& cmd = exec.command;
    const std::size_t s = arg_size(cmd.arg_kind);
    FUZZ_CHECK(cmd.arg_addr == req.arg && req.in.size() >= s);
    FUZZ_CHECK(std::memcmp(exec.arg.view().data(), req.in.data(), s) == 0 && exec.arg.size == s);
    FUZZ_CHECK(cmd.op == IoctlOp::submit_io || ctx.caller_has_sys_admin);
    FUZZ_CHECK(cmd.direction != nvme::DataTransfer::bidirectional);
    const Layout layout = layout_for(cmd);
    FUZZ_CHECK(layout.in_bytes == req.in.size() && layout.out_bytes == req.out_size);
    FUZZ_CHECK(total(cmd.data) == cmd.data_len);
    FUZZ_CHECK(cmd.data.empty() == (cmd.direction == nvme::DataTransfer::none));
    for (const auto& seg : cmd.data)
        FUZZ_CHECK(seg.len != 0 && is_named(named, seg));
    FUZZ_CHECK(is_named(named, cmd.metadata) && is_named(named, cmd.vector));
    FUZZ_CHECK(cmd.data_len <= std::max(ctx.decode_limits.max_data_bytes,
                                        ctx.decode_limits.max_submit_io_bytes));
    FUZZ_CHECK(check_transfer_size(cmd, ctx.node.ns, ctx.mdts_bytes) == 0);
    if (const auto shape = split_shape(cmd, ctx.node.ns)) {
        FUZZ_CHECK(shape->blocks != 0 && shape->blocks * shape->block_bytes == cmd.data_len);
        FUZZ_CHECK(shape->blocks * shape->meta_bytes == cmd.metadata.len);
    }
    if (cmd.reads_from_caller()) {
        FUZZ_CHECK(exec.data_in.size() == cmd.data_len && within(req.in, exec.data_in));
        FUZZ_CHECK(exec.metadata_in.size() == cmd.metadata.len && within(req.in, exec.metadata_in));
    } else {
        FUZZ_CHECK(exec.data_in.empty() && exec.metadata_in.empty());
    }

    auto built = command_for(exec, ctx); // the heap: allocation cannot fail here
    FUZZ_CHECK(built.has_value());
    ctrlr::Command command = std::move(*built);
    FUZZ_CHECK(command.sqe.opc == cmd.sqe.opc && command.direction == cmd.direction);
    if (cmd.direction != nvme::DataTransfer::none) {
        FUZZ_CHECK(command.data.size() == cmd.data_len && command.metadata.size() == cmd.metadata.len);
    }
    if (cmd.reads_from_caller() && cmd.data_len != 0)
        FUZZ_CHECK(std::memcmp(command.data.data(), exec.data_in.data(), cmd.data_len) == 0);

    // The controller: fills read buffers, completes as the input says.
    ctrlr::Result result;
    static const std::errc errors[] = {std::errc::timed_out, std::errc::operation_canceled,
                                       std::errc::not_connected, std::errc::invalid_argument,
                                       std::errc::not_enough_memory, std::errc::io_error};
    if (input.error_choice < std::size(errors))
        result.error = std::make_error_code(errors[input.error_choice]);
    result.status = nvme::Status(static_cast<nvme::StatusCodeType>(input.status >> 8 & 7),
                                 static_cast<std::uint8_t>(input.status), (input.status & 0x800) != 0);
    result.dw0 = input.dw0;
    result.dw1 = input.dw1;
    if (cmd.writes_to_caller()) {
        // memset, not a loop: byte loops in instrumented code are slow.
        if (!command.data.empty()) std::memset(command.data.data(), 0xA5, command.data.size());
        if (!command.metadata.empty()) std::memset(command.metadata.data(), 0x5A, command.metadata.size());
    }
    const bool timed_out = result.error == std::errc::timed_out;
    if (!timed_out) {
        result.data = std::move(command.data);
        result.metadata = std::move(command.metadata);
    }
    const IoctlOutcome outcome = map_completion(result, cmd.result);
    FUZZ_CHECK(outcome.is_errno() == (outcome.value < 0));
    FUZZ_CHECK(!outcome.is_errno() || (!outcome.copy_data && !outcome.copy_metadata));
    const ReplyPlan plan = build_reply(cmd, outcome, result.data.span(), result.metadata.span());
    const auto flat = plan.flatten();
    FUZZ_CHECK(flat.size() <= req.out_size); // the reply fits what the kernel holds
    if (plan.value < 0) FUZZ_CHECK(flat.empty());
    FUZZ_CHECK(plan.result_size == 0 || plan.result_size == 4 || plan.result_size == 8);
    if (plan.result_size != 0) {
        const UserRange field = result_field(cmd);
        FUZZ_CHECK(plan.result_addr == field.addr && plan.result_size == field.len);
        FUZZ_CHECK(contains({cmd.arg_addr, s}, field));
    }
    for (const auto& w : plan.writes) {
        FUZZ_CHECK(cmd.writes_to_caller());
        FUZZ_CHECK(within(result.data.span(), w.bytes) || within(result.metadata.span(), w.bytes));
        const UserRange r{w.addr, w.bytes.size()};
        FUZZ_CHECK(contains(cmd.metadata, r) ||
                   std::ranges::any_of(cmd.data, [&](const UserRange& seg) { return contains(seg, r); }));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    InputReader in(data, size);
    const Input input = read_input(in);

    std::optional<NamespaceShape> ns;
    if ((input.node_flags & (node_flag::namespace_node | node_flag::has_namespace)) != 0) {
        NamespaceShape shape;
        shape.nsid = input.nsid;
        shape.lba_data_size = 512u << (input.lba_shift % 8);
        static constexpr std::uint16_t metadata_sizes[] = {0, 8, 16, 64};
        shape.metadata_size = input.metadata_choice < 4 ? metadata_sizes[input.metadata_choice]
                                                        : input.metadata_choice;
        shape.extended_metadata = (input.node_flags & node_flag::extended) != 0;
        shape.protection_information =
            (input.node_flags & node_flag::pi) != 0 && shape.metadata_size == 8;
        shape.size_bytes = input.size_bytes;
        ns = shape;
    }
    IoctlContext ctx;
    ctx.node.kind = (input.node_flags & node_flag::namespace_node) != 0 ? NodeKind::namespace_node
                                                                        : NodeKind::controller;
    ctx.node.ns = ns;
    ctx.node.active_namespaces = ns && ctx.node.kind == NodeKind::controller ? 1 : input.active_namespaces;
    ctx.caller_has_sys_admin = (input.node_flags & node_flag::sys_admin) != 0;
    ctx.mdts_bytes = input.mdts_shift == 0 ? 0 : std::uint64_t{4096} << (input.mdts_shift % 12);
    if ((input.node_flags & node_flag::mdts_limits) != 0)
        ctx.decode_limits = DecodeLimits::for_mdts(ctx.mdts_bytes);
    ctx.transport_fills_buffers = (input.node_flags & node_flag::fills) != 0;

    const unsigned cmd = input.ioctl_choice < std::size(known_ioctls) ? known_ioctls[input.ioctl_choice]
                                                                      : input.raw_ioctl;
    // One zeroed region, reused: what a run wrote is zeroed again on return.
    static std::vector<std::byte> memory(region_size);
    const std::size_t arg_offset = input.arg_offset % (region_size - 128);
    const auto payload = in.take_bytes(region_size - arg_offset);
    if (!payload.empty()) std::memcpy(memory.data() + arg_offset, payload.data(), payload.size());
    struct Rezero {
        std::byte* at;
        std::size_t n;
        ~Rezero() { std::memset(at, 0, n); }
    } rezero{memory.data() + arg_offset, std::max<std::size_t>(payload.size(), 80)};
    const std::uint64_t arg = region_base + arg_offset;
    const bool rewrites = (input.node_flags & node_flag::rewrites) != 0;
    Xorshift rewrite(input.rewrite_seed);

    std::vector<std::byte> in_buf;
    std::size_t out_size = 0;
    const std::uint32_t fuse_flags = fuse_ioctl_unrestricted | (input.fuse_flags & 0x9u);
    for (int request = 1;; ++request) {
        const IoctlRequest req{cmd, arg, fuse_flags, in_buf, out_size};
        const Step step = advance(ctx, req);
        const auto named = named_ranges(cmd, arg, in_buf, ctx, is_compat_caller(fuse_flags));

        if (const auto* retry = std::get_if<Retry>(&step)) {
            FUZZ_CHECK(retry->in.size() + retry->out.size() <= ctx.retry_limits.max_iovecs);
            FUZZ_CHECK(total(retry->in) <= ctx.retry_limits.max_bytes_per_direction);
            FUZZ_CHECK(total(retry->out) <= ctx.retry_limits.max_bytes_per_direction);
            for (const auto& r : retry->in)
                FUZZ_CHECK(is_named(named, r));
            for (const auto& r : retry->out)
                FUZZ_CHECK(is_named(named, r));
            FUZZ_CHECK(rewrites || request < 4);
            if (request > 8) return 0; // a caller that keeps rewriting its struct
            if (rewrites) memory[arg_offset + rewrite.next() % 80] ^= std::byte(rewrite.next() | 1);
            // fuse_do_ioctl: copy the in iovecs, or fail the ioctl with EFAULT.
            in_buf.clear();
            for (const auto& r : retry->in) {
                if (r.addr < region_base || r.addr - region_base > region_size ||
                    r.len > region_size - (r.addr - region_base))
                    return 0;
                const auto* p = memory.data() + (r.addr - region_base);
                in_buf.insert(in_buf.end(), p, p + r.len);
            }
            out_size = total(retry->out);
            continue;
        }
        if (const auto* e = std::get_if<Error>(&step)) {
            FUZZ_CHECK(e->errno_value > 0);
            return 0;
        }
        if (const auto* c = std::get_if<Control>(&step)) {
            FUZZ_CHECK(c->op == IoctlOp::reset || c->op == IoctlOp::subsystem_reset ||
                       c->op == IoctlOp::rescan);
            FUZZ_CHECK(ctx.caller_has_sys_admin);
            return 0;
        }
        if (const auto* reply = std::get_if<Reply>(&step)) {
            FUZZ_CHECK(reply->out.size() <= req.out_size);
            if (reply->out.empty()) FUZZ_CHECK(ctx.node.ns && reply->value == static_cast<int>(ctx.node.ns->nsid));
            return 0;
        }
        execute(std::get<Execute>(step), req, ctx, input, named);
        if (std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr) std::fprintf(stderr, "executed after %d requests\n", request);
        return 0;
    }
}
