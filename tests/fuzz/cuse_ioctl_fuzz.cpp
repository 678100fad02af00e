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
// With the input's fast-path bit the same ioctl goes through the
// one-round-trip fast path instead (fast_path.cpp: fast_prepare() reading
// the caller's memory directly, fast_deliver() writing it), where:
// - every read of the caller's memory lies in a range the struct (and its
//   iovecs) names, and an address outside the caller's memory is a
//   Fallback to the retry protocol, never a crash;
// - the command's write data is, byte for byte, the caller's buffers;
// - every write to the caller lands in the result field or in a read
//   buffer the command names, and a BLK* answer only in its argument.
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
#include "nvmecuse/cuse/fast_path.hpp"
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

template <class Ranges> std::size_t total(const Ranges& v)
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
/// In Input::fuse_flags: through the fast path, not the retry protocol.
constexpr std::uint8_t fast_path_bit = 0x80;

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

/// The controller: fills read buffers, completes as the input says.
ctrlr::Result complete(const IoctlCommand& cmd, ctrlr::Command command, const Input& input)
{
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
    if (result.error != std::errc::timed_out) {
        result.data = std::move(command.data);
        result.metadata = std::move(command.metadata);
    }
    return result;
}

/// The reply plan of a completion, with the checks every plan must pass.
ReplyPlan reply_for(const IoctlCommand& cmd, const ctrlr::Result& result)
{
    const IoctlOutcome outcome = map_completion(result, cmd.result);
    FUZZ_CHECK(outcome.is_errno() == (outcome.value < 0));
    FUZZ_CHECK(!outcome.is_errno() || (!outcome.copy_data && !outcome.copy_metadata));
    ReplyPlan plan = build_reply(cmd, outcome, result.data.span(), result.metadata.span());
    FUZZ_CHECK(plan.result_size == 0 || plan.result_size == 4 || plan.result_size == 8);
    for (const auto& w : plan.writes) {
        FUZZ_CHECK(cmd.writes_to_caller());
        FUZZ_CHECK(within(result.data.span(), w.bytes) || within(result.metadata.span(), w.bytes));
        const UserRange r{w.addr, w.bytes.size()};
        FUZZ_CHECK(contains(cmd.metadata, r) ||
                   std::ranges::any_of(cmd.data, [&](const UserRange& seg) { return contains(seg, r); }));
    }
    return plan;
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

    const ctrlr::Result result = complete(cmd, std::move(command), input);
    const ReplyPlan plan = reply_for(cmd, result);
    const auto flat = plan.flatten();
    FUZZ_CHECK(flat.size() <= req.out_size); // the reply fits what the kernel holds
    if (plan.value < 0) FUZZ_CHECK(flat.empty());
    if (plan.result_size != 0) {
        const UserRange field = result_field(cmd);
        FUZZ_CHECK(plan.result_addr == field.addr && plan.result_size == field.len);
        FUZZ_CHECK(contains({cmd.arg_addr, s}, field));
    }
}

/// The caller's address space as the fast path reaches it: the region, and
/// EFAULT anywhere else. Every access must lie in what `allowed` names.
class RegionMemory final : public CallerMemory {
public:
    RegionMemory(std::vector<std::byte>& memory, std::vector<UserRange> reads_allowed)
        : memory_(memory), reads_allowed_(std::move(reads_allowed))
    {
    }
    std::vector<UserRange> writes_allowed; ///< set before the reply is delivered

    std::error_code read(std::span<const UserRange> remote, std::span<std::byte> local) override
    {
        if (total(remote) != local.size()) return std::make_error_code(std::errc::invalid_argument);
        std::size_t at = 0;
        for (const auto& r : remote) {
            FUZZ_CHECK(is_named(reads_allowed_, r));
            const auto* p = reach(r);
            if (p == nullptr) return std::make_error_code(std::errc::bad_address);
            if (r.len != 0) std::memcpy(local.data() + at, p, r.len);
            at += r.len;
        }
        return {};
    }
    std::error_code write(std::span<const UserWrite> writes) override
    {
        for (const auto& w : writes) {
            const UserRange r{w.addr, w.bytes.size()};
            FUZZ_CHECK(is_named(writes_allowed, r));
            auto* p = reach(r);
            if (p == nullptr) return std::make_error_code(std::errc::bad_address);
            if (!w.bytes.empty()) std::memcpy(p, w.bytes.data(), w.bytes.size());
        }
        return {};
    }

private:
    std::byte* reach(const UserRange& r)
    {
        if (r.addr < region_base || r.addr - region_base > memory_.size() ||
            r.len > memory_.size() - (r.addr - region_base))
            return nullptr;
        return memory_.data() + (r.addr - region_base);
    }
    std::vector<std::byte>& memory_;
    std::vector<UserRange> reads_allowed_;
};

/// The bytes of `r` in the region; empty when it is not all inside.
std::span<const std::byte> bytes_at(const std::vector<std::byte>& memory, const UserRange& r)
{
    if (r.addr < region_base || r.addr - region_base > memory.size() ||
        r.len > memory.size() - (r.addr - region_base))
        return {};
    return {memory.data() + (r.addr - region_base), static_cast<std::size_t>(r.len)};
}

/// The ioctl through fast_prepare() and fast_deliver() on the region.
void run_fast_path(unsigned cmd, std::uint64_t arg, std::uint32_t flags, const IoctlContext& ctx,
                   const Input& input, std::vector<std::byte>& memory)
{
    // What the ioctl names, from its struct (and iovec array) as they lie in
    // memory now, laid out as the retry protocol would deliver them.
    const bool compat = is_compat_caller(flags);
    std::vector<std::byte> delivered;
    if (const auto route = classify(cmd, ctx.node, compat)) {
        const auto arg_bytes = bytes_at(memory, {arg, arg_size(route->arg)});
        delivered.assign(arg_bytes.begin(), arg_bytes.end());
        const auto first = named_ranges(cmd, arg, delivered, ctx, compat);
        if (route->op == IoctlOp::io64_vec_passthru && first.size() > 2) {
            const auto vector = bytes_at(memory, first[2]);
            delivered.insert(delivered.end(), vector.begin(), vector.end());
        }
    }
    const auto named = named_ranges(cmd, arg, delivered, ctx, compat);
    RegionMemory caller(memory, named);
    // A BLK* answer goes into its argument only.
    if (!named.empty()) caller.writes_allowed.push_back(named.front());
    FastStep step = fast_prepare(ctx, cmd, arg, flags, caller);
    auto* exec = std::get_if<FastExecute>(&step);
    if (exec == nullptr) {
        if (std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr)
            std::fprintf(stderr, "fast path step %zu (not executed)\n", step.index());
        if (const auto* e = std::get_if<Error>(&step)) FUZZ_CHECK(e->errno_value > 0);
        if (std::holds_alternative<Control>(step)) FUZZ_CHECK(ctx.caller_has_sys_admin);
        return;
    }
    const IoctlCommand& plan = exec->plan;
    FUZZ_CHECK(plan.arg_addr == arg);
    FUZZ_CHECK(plan.op == IoctlOp::submit_io || ctx.caller_has_sys_admin);
    FUZZ_CHECK(total(plan.data) == plan.data_len);
    FUZZ_CHECK(exec->command.data.size() == plan.data_len);
    FUZZ_CHECK(exec->command.metadata.size() == plan.metadata.len);
    if (plan.reads_from_caller()) {
        // Gathered in order, byte for byte.
        std::size_t at = 0;
        for (const auto& seg : plan.data) {
            const auto src = bytes_at(memory, seg);
            FUZZ_CHECK(src.size() == seg.len);
            FUZZ_CHECK(std::memcmp(exec->command.data.data() + at, src.data(), src.size()) == 0);
            at += src.size();
        }
        const auto meta = bytes_at(memory, plan.metadata);
        FUZZ_CHECK(meta.size() == plan.metadata.len);
        if (!meta.empty())
            FUZZ_CHECK(std::memcmp(exec->command.metadata.data(), meta.data(), meta.size()) == 0);
    }
    const ctrlr::Result result = complete(plan, std::move(exec->command), input);
    const ReplyPlan reply = reply_for(plan, result);
    // From here on the caller may be written: the result field and the read
    // buffers the command names, nothing else.
    caller.writes_allowed.clear();
    if (reply.result_size != 0) caller.writes_allowed.push_back(result_field(plan));
    if (plan.writes_to_caller()) {
        caller.writes_allowed.insert(caller.writes_allowed.end(), plan.data.begin(), plan.data.end());
        caller.writes_allowed.push_back(plan.metadata);
    }
    const std::error_code delivered_ec = fast_deliver(reply, caller);
    if (std::getenv("NVMECUSE_FUZZ_TRACE") != nullptr)
        std::fprintf(stderr, "fast path executed, value %d, %zu writes, delivery: %s\n", reply.value,
                     reply.writes.size(), delivered_ec ? delivered_ec.message().c_str() : "ok");
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
    if ((input.fuse_flags & fast_path_bit) != 0) {
        run_fast_path(cmd, arg, input.fuse_flags & 0x9u, ctx, input, memory);
        return 0;
    }

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
