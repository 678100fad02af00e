// The unrestricted-ioctl retry protocol, driven by a fake kernel that
// services each Retry the way fs/fuse/ioctl.c fuse_do_ioctl does: it copies
// the named in iovecs out of a fake user address space, resends the ioctl,
// and finally scatters the reply into the out iovecs.
#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include <gtest/gtest.h>

#include "nvmecuse/cuse/completion.hpp"
#include "nvmecuse/cuse/retry.hpp"

namespace nvmecuse::cuse {
namespace {

/// The caller's address space: disjoint regions by start address.
struct FakeUser {
    std::map<std::uint64_t, std::vector<std::byte>> regions;

    std::byte* find(std::uint64_t addr, std::uint64_t len)
    {
        auto it = regions.upper_bound(addr);
        if (it == regions.begin()) return nullptr;
        --it;
        const std::uint64_t off = addr - it->first;
        if (off + len > it->second.size()) return nullptr;
        return it->second.data() + off;
    }
    template <class T> void put(std::uint64_t addr, const T& v)
    {
        regions[addr].resize(sizeof(T));
        std::memcpy(regions[addr].data(), &v, sizeof(T));
    }
    template <class T> T get(std::uint64_t addr)
    {
        T v;
        std::memcpy(&v, find(addr, sizeof(T)), sizeof(T));
        return v;
    }
    void fill(std::uint64_t addr, std::size_t len, std::uint8_t seed)
    {
        auto& r = regions[addr];
        r.resize(len);
        for (std::size_t i = 0; i < len; ++i) r[i] = std::byte(seed + i * 7);
    }
};

using Controller = std::function<ctrlr::Result(ctrlr::Command&)>;

/// fuse_do_ioctl in miniature; returns the ioctl's value or -errno.
struct FakeKernel {
    FakeKernel(FakeUser& u, IoctlContext c) : user(u), ctx(std::move(c)) {}

    FakeUser& user;
    IoctlContext ctx;
    int requests = 0;
    std::vector<Retry> retries;
    std::vector<std::vector<std::byte>> executed_data; ///< data_in of each Execute
    std::function<void(unsigned, FakeUser&)> between_requests;

    int ioctl(unsigned cmd, std::uint64_t arg, const Controller& controller = {})
    {
        std::vector<UserRange> in_iov;
        std::vector<UserRange> out_iov;
        for (;;) {
            std::vector<std::byte> in_buf;
            for (const auto& r : in_iov) {
                const std::byte* p = user.find(r.addr, r.len);
                if (p == nullptr) return -EFAULT; // copy_page_from_iter short
                in_buf.insert(in_buf.end(), p, p + r.len);
            }
            std::size_t out_size = 0;
            for (const auto& r : out_iov) out_size += r.len;
            ++requests;
            const Step step = advance(ctx, {cmd, arg, fuse_ioctl_unrestricted, in_buf, out_size});
            if (const auto* retry = std::get_if<Retry>(&step)) {
                retries.push_back(*retry);
                EXPECT_LE(retry->in.size() + retry->out.size(), 256u); // else the kernel says ENOMEM
                in_iov = retry->in;
                out_iov = retry->out;
                if (between_requests) between_requests(static_cast<unsigned>(requests), user);
                continue;
            }
            if (const auto* e = std::get_if<Error>(&step)) return -e->errno_value;
            if (std::holds_alternative<Control>(step)) return 0;
            if (const auto* reply = std::get_if<Reply>(&step)) {
                const int err = scatter(reply->out, out_iov, out_size);
                return err != 0 ? err : reply->value;
            }
            const auto& exec = std::get<Execute>(step);
            executed_data.emplace_back(exec.data_in.begin(), exec.data_in.end());
            auto built = command_for(exec, IoctlContext{});
            if (!built) return -ENOMEM;
            ctrlr::Command command = std::move(*built);
            ctrlr::Result result = controller(command);
            const auto outcome = map_completion(result, exec.command.result);
            const auto plan = build_reply(exec.command, outcome, result.data.span(), result.metadata.span());
            if (plan.value < 0) return plan.value;
            const int err = scatter(plan.flatten(), out_iov, out_size);
            return err != 0 ? err : plan.value;
        }
    }

    int scatter(const std::vector<std::byte>& bytes, const std::vector<UserRange>& out_iov, std::size_t out_size)
    {
        if (bytes.size() > out_size) return -EIO; // transferred > inarg.out_size
        std::size_t off = 0;
        for (const auto& r : out_iov) {
            if (off >= bytes.size()) break;
            const std::size_t n = std::min<std::size_t>(r.len, bytes.size() - off);
            std::byte* p = user.find(r.addr, n);
            if (p == nullptr) return -EFAULT;
            std::memcpy(p, bytes.data() + off, n);
            off += n;
        }
        return 0;
    }
};

const NamespaceShape ns1{1, 512, 8, false, 1ull << 20};

IoctlContext ns_node(bool admin = true)
{
    return {NodeView{NodeKind::namespace_node, ns1, 0}, admin};
}

constexpr std::uint64_t arg_at = 0x1000;
constexpr std::uint64_t data_at = 0x100000;
constexpr std::uint64_t meta_at = 0x200000;

/// A controller that fills read buffers with a pattern and answers `status`.
Controller pattern_controller(nvme::Status status = {}, std::uint32_t dw0 = 0, std::uint32_t dw1 = 0)
{
    return [=](ctrlr::Command& c) {
        ctrlr::Result r;
        r.status = status;
        r.dw0 = dw0;
        r.dw1 = dw1;
        if (c.direction == nvme::DataTransfer::controller_to_host) {
            for (std::size_t i = 0; i < c.data.size(); ++i) c.data.data()[i] = std::byte(0x40 + i % 13);
            for (std::size_t i = 0; i < c.metadata.size(); ++i) c.metadata.data()[i] = std::byte(0x90 + i);
        }
        r.data = std::move(c.data);
        r.metadata = std::move(c.metadata);
        return r;
    };
}

nvme_passthru_cmd identify(std::uint32_t len = 4096)
{
    nvme_passthru_cmd c{};
    c.opcode = 0x06;
    c.addr = data_at;
    c.data_len = len;
    c.cdw10 = 1;
    c.result = 0xffffffff;
    return c;
}

/// IO64_CMD_VEC reading into `count` iovecs at 0x3000.
nvme_passthru_cmd64 vectored_read(std::uint32_t count)
{
    nvme_passthru_cmd64 c{};
    c.opcode = 0x02;
    c.nsid = 1;
    c.addr = 0x3000;
    c.vec_cnt = count;
    return c;
}

TEST(CuseRetry, PassthroughReadTakesThreeRequests)
{
    FakeUser user;
    user.put(arg_at, identify());
    user.fill(data_at, 4096, 0);
    FakeKernel k{user, ns_node()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, pattern_controller({}, 0x12345678, 0x9abc)), 0);
    EXPECT_EQ(k.requests, 3);
    ASSERT_EQ(k.retries.size(), 2u);
    EXPECT_EQ(k.retries[0].stage, Stage::need_argument);
    EXPECT_EQ(k.retries[0].in, (std::vector<UserRange>{{arg_at, 72}}));
    EXPECT_EQ(k.retries[0].out, (std::vector<UserRange>{{arg_at + 68, 4}}));
    EXPECT_EQ(k.retries[1].stage, Stage::need_buffers);
    EXPECT_EQ(k.retries[1].in, (std::vector<UserRange>{{arg_at, 72}}));
    EXPECT_EQ(k.retries[1].out, (std::vector<UserRange>{{arg_at + 68, 4}, {data_at, 4096}}));
    // The struct got DW0 only (32-bit result), the buffer the data.
    const auto back = user.get<nvme_passthru_cmd>(arg_at);
    EXPECT_EQ(back.result, 0x12345678u);
    EXPECT_EQ(back.cdw10, 1u); // the rest of the struct is untouched
    for (std::size_t i = 0; i < 4096; ++i) ASSERT_EQ(user.find(data_at + i, 1)[0], std::byte(0x40 + i % 13));
}

TEST(CuseRetry, PassthroughWriteCarriesTheDataIn)
{
    FakeUser user;
    auto c = identify(512);
    c.opcode = 0x09; // set features: host to controller
    user.put(arg_at, c);
    user.fill(data_at, 512, 3);
    FakeKernel k{user, ns_node()};
    std::vector<std::byte> seen;
    const Controller ctrl = [&](ctrlr::Command& cmd) {
        EXPECT_EQ(cmd.direction, nvme::DataTransfer::host_to_controller);
        seen.assign(cmd.data.span().begin(), cmd.data.span().end());
        ctrlr::Result r;
        r.dw0 = 7;
        r.data = std::move(cmd.data);
        return r;
    };
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, ctrl), 0);
    EXPECT_EQ(k.requests, 3);
    EXPECT_EQ(k.retries[1].in, (std::vector<UserRange>{{arg_at, 72}, {data_at, 512}}));
    EXPECT_EQ(k.retries[1].out, (std::vector<UserRange>{{arg_at + 68, 4}}));
    EXPECT_EQ(seen, user.regions[data_at]);
    EXPECT_EQ(k.executed_data.at(0), user.regions[data_at]);
    EXPECT_EQ(user.get<nvme_passthru_cmd>(arg_at).result, 7u);
}

TEST(CuseRetry, PassthroughWithoutDataTakesTwoRequests)
{
    FakeUser user;
    auto c = identify();
    c.opcode = 0x0a; // get features, no buffer
    c.addr = 0;
    c.data_len = 0;
    user.put(arg_at, c);
    FakeKernel k{user, ns_node()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, pattern_controller({}, 0x55)), 0);
    EXPECT_EQ(k.requests, 2);
    EXPECT_EQ(user.get<nvme_passthru_cmd>(arg_at).result, 0x55u);
}

TEST(CuseRetry, ErrorStatusStillReturnsTheResult)
{
    // SPDK bug #2278: a failed create-ns must still hand back DW0.
    FakeUser user;
    auto c = identify();
    c.addr = 0;
    c.data_len = 0;
    user.put(arg_at, c);
    FakeKernel k{user, ns_node()};
    const nvme::Status st = nvme::Status(nvme::CommandSpecificStatus::namespace_insufficient_capacity).with_dnr();
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, pattern_controller(st, 42)), 0x4115);
    EXPECT_EQ(user.get<nvme_passthru_cmd>(arg_at).result, 42u);
}

TEST(CuseRetry, Io64WritesTheWholeResultAndMetadataOnSuccessOnly)
{
    FakeUser user;
    nvme_passthru_cmd64 c{};
    c.opcode = 0x02;
    c.nsid = 1;
    c.addr = data_at;
    c.data_len = 1024;
    c.metadata = meta_at;
    c.metadata_len = 16;
    user.put(arg_at, c);
    user.fill(data_at, 1024, 0);
    user.fill(meta_at, 16, 0);
    FakeKernel k{user, ns_node()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_IO64_CMD, arg_at, pattern_controller({}, 0x11111111, 0x22222222)), 0);
    EXPECT_EQ(k.requests, 3);
    EXPECT_EQ(k.retries[1].out,
              (std::vector<UserRange>{{arg_at + 72, 8}, {data_at, 1024}, {meta_at, 16}}));
    EXPECT_EQ(user.get<nvme_passthru_cmd64>(arg_at).result, 0x2222222211111111ull);
    EXPECT_EQ(user.find(meta_at, 1)[0], std::byte{0x90});

    user.fill(meta_at, 16, 0);
    FakeKernel k2{user, ns_node()};
    EXPECT_EQ(k2.ioctl(NVME_IOCTL_IO64_CMD, arg_at,
                       pattern_controller(nvme::MediaStatus::unrecovered_read_error, 3, 4)),
              0x281);
    EXPECT_EQ(user.get<nvme_passthru_cmd64>(arg_at).result, 0x0000000400000003ull);
    EXPECT_EQ(user.find(meta_at, 1)[0], std::byte{0}); // nvme_finish_user_metadata: only on success
}

TEST(CuseRetry, VectoredReadTakesFourRequests)
{
    FakeUser user;
    user.put(arg_at, vectored_read(3));
    const std::uint64_t iov[] = {data_at, 100, data_at + 0x1000, 0, data_at + 0x2000, 412};
    user.put(0x3000, iov);
    user.fill(data_at, 100, 0);
    user.fill(data_at + 0x2000, 412, 0);
    FakeKernel k{user, ns_node()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_IO64_CMD_VEC, arg_at, pattern_controller()), 0);
    EXPECT_EQ(k.requests, 4);
    ASSERT_EQ(k.retries.size(), 3u);
    EXPECT_EQ(k.retries[1].stage, Stage::need_vector);
    EXPECT_EQ(k.retries[1].in, (std::vector<UserRange>{{arg_at, 80}, {0x3000, 48}}));
    EXPECT_EQ(k.retries[2].in, (std::vector<UserRange>{{arg_at, 80}, {0x3000, 48}}));
    EXPECT_EQ(k.retries[2].out,
              (std::vector<UserRange>{{arg_at + 72, 8}, {data_at, 100}, {data_at + 0x2000, 412}}));
    // The second segment continues the controller's buffer where the first ended.
    EXPECT_EQ(user.find(data_at + 0x2000, 1)[0], std::byte(0x40 + 100 % 13));
}

TEST(CuseRetry, SubmitIoWriteAndRead)
{
    FakeUser user;
    nvme_user_io io{};
    io.opcode = 0x01;
    io.nblocks = 1; // 2 blocks of 512 + 8 bytes of metadata each
    io.addr = data_at;
    io.metadata = meta_at;
    user.put(arg_at, io);
    user.fill(data_at, 1024, 1);
    user.fill(meta_at, 16, 2);
    FakeKernel k{user, ns_node(false)}; // SUBMIT_IO needs no privilege
    EXPECT_EQ(k.ioctl(NVME_IOCTL_SUBMIT_IO, arg_at, pattern_controller()), 0);
    EXPECT_EQ(k.requests, 3);
    EXPECT_EQ(k.retries[0].out, std::vector<UserRange>{}); // nvme_user_io has no result
    EXPECT_EQ(k.retries[1].in, (std::vector<UserRange>{{arg_at, 48}, {data_at, 1024}, {meta_at, 16}}));
    EXPECT_TRUE(k.retries[1].out.empty());
    EXPECT_EQ(k.executed_data.at(0), user.regions[data_at]);

    io.opcode = 0x02;
    user.put(arg_at, io);
    FakeKernel r{user, ns_node(false)};
    EXPECT_EQ(r.ioctl(NVME_IOCTL_SUBMIT_IO, arg_at, pattern_controller()), 0);
    EXPECT_EQ(r.retries[1].in, (std::vector<UserRange>{{arg_at, 48}}));
    EXPECT_EQ(r.retries[1].out, (std::vector<UserRange>{{data_at, 1024}, {meta_at, 16}}));
    EXPECT_EQ(user.find(data_at, 1)[0], std::byte{0x40});
    EXPECT_EQ(user.find(meta_at, 1)[0], std::byte{0x90});
}

TEST(CuseRetry, IdIsOneRequestAndBlockIoctlsTwo)
{
    FakeUser user;
    user.put<std::uint64_t>(arg_at, 0);
    FakeKernel id{user, ns_node(false)};
    EXPECT_EQ(id.ioctl(NVME_IOCTL_ID, 0), 1);
    EXPECT_EQ(id.requests, 1);

    // Unrestricted mode: the first request never has an out buffer.
    FakeKernel blk{user, ns_node(false)};
    EXPECT_EQ(blk.ioctl(BLKGETSIZE64, arg_at), 0);
    EXPECT_EQ(blk.requests, 2);
    EXPECT_EQ(blk.retries[0].out, (std::vector<UserRange>{{arg_at, 8}}));
    EXPECT_EQ(user.get<std::uint64_t>(arg_at), 1ull << 20);

    FakeKernel ssz{user, ns_node(false)};
    user.put<std::uint64_t>(arg_at, ~0ull);
    EXPECT_EQ(ssz.ioctl(BLKSSZGET, arg_at), 0);
    EXPECT_EQ(user.get<std::uint32_t>(arg_at), 512u);
    EXPECT_EQ(user.get<std::uint32_t>(arg_at + 4), 0xffffffffu); // only an int written

    FakeKernel bad{user, ns_node(false)};
    EXPECT_EQ(bad.ioctl(BLKGETSIZE, 0xdead0000), -EFAULT); // the kernel's copy_to_user fails
}

TEST(CuseRetry, ControlAndPermissionAndCompat)
{
    FakeUser user;
    IoctlContext ctrl{NodeView{NodeKind::controller, std::nullopt, 0}, true};
    FakeKernel reset{user, ctrl};
    EXPECT_EQ(reset.ioctl(NVME_IOCTL_RESET, 0), 0);
    EXPECT_EQ(reset.requests, 1);
    ctrl.caller_has_sys_admin = false;
    FakeKernel denied{user, ctrl};
    EXPECT_EQ(denied.ioctl(NVME_IOCTL_RESCAN, 0), -EACCES);
    // EACCES comes before the argument is even asked for.
    FakeKernel admin{user, ns_node(false)};
    EXPECT_EQ(admin.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at), -EACCES);
    EXPECT_EQ(admin.requests, 1);

    // A 32-bit caller reaches the node too (compat_ptr_ioctl).
    const auto step = advance(ns_node(), {NVME_IOCTL_ID, 0, fuse_ioctl_unrestricted | fuse_ioctl_compat, {}, 0});
    ASSERT_TRUE(std::holds_alternative<Reply>(step));
    EXPECT_EQ(std::get<Reply>(step).value, 1);
}

/// fuse_do_ioctl's flags for a 32-bit caller on a 64-bit kernel.
constexpr std::uint32_t compat_flags = fuse_ioctl_unrestricted | fuse_ioctl_compat | fuse_ioctl_32bit;

Step first_request(const IoctlContext& ctx, unsigned cmd)
{
    return advance(ctx, {cmd, arg_at, compat_flags, {}, 0});
}

TEST(CuseRetryCompat, PointersCountWithTheirLow32Bits)
{
    auto c = identify();
    c.addr = 0xffffffff00000000ull | data_at; // upper half ignored (nvme_to_user_ptr)
    std::vector<std::byte> arg(sizeof c);
    std::memcpy(arg.data(), &c, sizeof c);
    const Step step = advance(ns_node(), {NVME_IOCTL_ADMIN_CMD, arg_at, compat_flags, arg, 4});
    ASSERT_TRUE(std::holds_alternative<Retry>(step));
    EXPECT_EQ(std::get<Retry>(step).out, (std::vector<UserRange>{{arg_at + 68, 4}, {data_at, 4096}}));

    // Only the low half decides whether a buffer is mapped at all.
    c.addr = 0x100000000ull;
    c.opcode = 0x0a; // Get Features
    std::memcpy(arg.data(), &c, sizeof c);
    const Step none = advance(ns_node(), {NVME_IOCTL_ADMIN_CMD, arg_at, compat_flags, arg, 4});
    ASSERT_TRUE(std::holds_alternative<Execute>(none));
    EXPECT_TRUE(std::get<Execute>(none).command.data.empty());

    // SUBMIT_IO: the data and metadata pointers likewise; the metadata
    // alignment check looks at the whole field.
    nvme_user_io io{};
    io.opcode = 0x02;
    io.addr = 0xabcd000000000000ull | data_at;
    io.metadata = 0x1234000000000000ull | meta_at;
    std::vector<std::byte> uio(sizeof io);
    std::memcpy(uio.data(), &io, sizeof io);
    const auto route = *classify(NVME_IOCTL_SUBMIT_IO, ns_node().node, true);
    const auto decoded = decode(route, arg_at, uio);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->data, (std::vector<UserRange>{{data_at, 512}}));
    EXPECT_EQ(decoded->metadata, (UserRange{meta_at, 8}));
}

TEST(CuseRetryCompat, VectorsAreCompatIovecs)
{
    FakeUser user;
    user.put(arg_at, vectored_read(2));
    const std::uint32_t iov[] = {data_at, 256, data_at + 0x1000, 256};
    user.put(0x3000, iov);
    std::vector<std::byte> arg(user.regions[arg_at]);
    const Step step = advance(ns_node(), {NVME_IOCTL_IO64_CMD_VEC, arg_at, compat_flags, arg, 8});
    ASSERT_TRUE(std::holds_alternative<Retry>(step));
    EXPECT_EQ(std::get<Retry>(step).in, (std::vector<UserRange>{{arg_at, 80}, {0x3000, 16}}));

    std::vector<std::byte> with_vector = arg;
    with_vector.insert(with_vector.end(), user.regions[0x3000].begin(), user.regions[0x3000].end());
    const Step buffers = advance(ns_node(), {NVME_IOCTL_IO64_CMD_VEC, arg_at, compat_flags, with_vector, 8});
    ASSERT_TRUE(std::holds_alternative<Retry>(buffers));
    EXPECT_EQ(std::get<Retry>(buffers).out,
              (std::vector<UserRange>{{arg_at + 72, 8}, {data_at, 256}, {data_at + 0x1000, 256}}));

    // A compat_iovec length is a compat_ssize_t: 2 GiB and more is negative.
    IoctlCommand cmd = *decode(*classify(NVME_IOCTL_IO64_CMD_VEC, ns_node().node, true), arg_at, arg);
    const std::uint32_t negative[] = {data_at, 0x80000000u, data_at, 1};
    std::vector<std::byte> bytes(sizeof negative);
    std::memcpy(bytes.data(), negative, sizeof negative);
    EXPECT_EQ(attach_iovecs(cmd, bytes).error(), EINVAL);
}

TEST(CuseRetryCompat, BlockIoctlsAsCompatBlkdevIoctl)
{
    // BLKGETSIZE64 under its 32-bit number writes 8 bytes; the 64-bit number
    // is not a 32-bit caller's ioctl (and vice versa).
    constexpr unsigned blkgetsize64_32 = _IOR(0x12, 114, int);
    const auto size64 = first_request(ns_node(false), blkgetsize64_32);
    ASSERT_TRUE(std::holds_alternative<Retry>(size64));
    EXPECT_EQ(std::get<Retry>(size64).out, (std::vector<UserRange>{{arg_at, 8}}));
    EXPECT_EQ(std::get<Error>(first_request(ns_node(false), BLKGETSIZE64)).errno_value, ENOTTY);
    EXPECT_EQ(std::get<Error>(advance(ns_node(false), {blkgetsize64_32, arg_at, fuse_ioctl_unrestricted, {}, 0}))
                  .errno_value,
              ENOTTY);

    // BLKGETSIZE: a 32-bit unsigned long, EFBIG past 2^32 sectors.
    const auto size = first_request(ns_node(false), BLKGETSIZE);
    ASSERT_TRUE(std::holds_alternative<Retry>(size));
    EXPECT_EQ(std::get<Retry>(size).out, (std::vector<UserRange>{{arg_at, 4}}));
    const NodeView two_tib{NodeKind::namespace_node, NamespaceShape{1, 512, 0, false, 2ull << 40}, 0};
    EXPECT_EQ(block_ioctl_bytes(*classify(BLKGETSIZE, two_tib, true)).error(), EFBIG);
    const NodeView just_fits{NodeKind::namespace_node, NamespaceShape{1, 512, 0, false, 0xffffffffull << 9}, 0};
    const auto bytes = block_ioctl_bytes(*classify(BLKGETSIZE, just_fits, true));
    ASSERT_TRUE(bytes);
    ASSERT_EQ(bytes->size(), 4u);
    std::uint32_t sectors = 0;
    std::memcpy(&sectors, bytes->data(), 4);
    EXPECT_EQ(sectors, 0xffffffffu);
}

TEST(CuseRetryCompat, SubmitIo32IsEnottyAsInTheKernel)
{
    // _IOW('N', 0x42, struct nvme_user_io32): 44 bytes on i386.
    constexpr unsigned submit_io32 = _IOC(_IOC_WRITE, 'N', 0x42, 44);
    EXPECT_EQ(std::get<Error>(first_request(ns_node(), submit_io32)).errno_value, ENOTTY);
    const auto step = first_request(ns_node(), NVME_IOCTL_SUBMIT_IO);
    ASSERT_TRUE(std::holds_alternative<Retry>(step));
    EXPECT_EQ(std::get<Retry>(step).in, (std::vector<UserRange>{{arg_at, 48}}));
}

TEST(CuseRetry, ArgumentErrorsAfterTheFirstRetry)
{
    FakeUser user;
    auto c = identify();
    c.flags = 1;
    user.put(arg_at, c);
    FakeKernel k{user, ns_node()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at), -EINVAL);
    EXPECT_EQ(k.requests, 2);
    FakeKernel fault{user, ns_node()};
    EXPECT_EQ(fault.ioctl(NVME_IOCTL_ADMIN_CMD, 0xbad000), -EFAULT);
}

TEST(CuseRetry, KernelLimitsBecomeEnomem)
{
    FakeUser user;
    user.put(arg_at, identify(128 * 1024)); // 4-byte result + 128 KiB out > 32 pages
    FakeKernel k{user, ns_node()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at), -ENOMEM);
    user.put(arg_at, identify(128 * 1024 - 4)); // exactly 32 pages
    user.fill(data_at, 128 * 1024 - 4, 0);
    FakeKernel fits{user, ns_node()};
    EXPECT_EQ(fits.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, pattern_controller()), 0);

    // More than FUSE_IOCTL_MAX_IOV iovecs in total.
    nvme_passthru_cmd64 v{};
    v.opcode = 0x02;
    v.nsid = 1;
    v.addr = 0x3000;
    v.vec_cnt = 300;
    user.put(arg_at, v);
    std::vector<std::uint64_t> iov;
    for (std::uint64_t i = 0; i < 300; ++i) {
        iov.push_back(data_at + i * 16);
        iov.push_back(8);
    }
    user.regions[0x3000].resize(iov.size() * 8);
    std::memcpy(user.regions[0x3000].data(), iov.data(), iov.size() * 8);
    FakeKernel many{user, ns_node()};
    EXPECT_EQ(many.ioctl(NVME_IOCTL_IO64_CMD_VEC, arg_at), -ENOMEM);
}

// Past MDTS, a command that cannot be split is refused with EINVAL like the
// kernel (before mapping), not with the ENOMEM of FUSE's 128 KiB cap; one
// that can be split still meets that cap on the retry path.
TEST(CuseRetry, PastMdtsUnsplittableIsEinvalBeforeAnyBuffer)
{
    FakeUser user;
    IoctlContext ctx = ns_node();
    ctx.mdts_bytes = 64 * 1024;
    ctx.decode_limits.max_data_bytes = 32u << 20;

    nvme_passthru_cmd vendor{};
    vendor.opcode = 0x81; // vendor specific, data to the controller
    vendor.nsid = 1;
    vendor.addr = data_at;
    vendor.data_len = 1u << 20;
    user.put(arg_at, vendor);
    FakeKernel k{user, ctx};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_IO_CMD, arg_at), -EINVAL);
    EXPECT_EQ(k.requests, 2); // the argument struct, then the refusal

    nvme_passthru_cmd read{};
    read.opcode = 0x02;
    read.nsid = 1;
    read.addr = data_at;
    read.data_len = 1u << 20;
    read.cdw12 = (1u << 20) / 512 - 1;
    user.put(arg_at, read);
    FakeKernel split{user, ctx};
    EXPECT_EQ(split.ioctl(NVME_IOCTL_IO_CMD, arg_at), -ENOMEM);
}

TEST(CuseRetry, StructRewrittenBetweenRetriesIsAskedForAgain)
{
    FakeUser user;
    user.put(arg_at, identify(512));
    user.fill(data_at, 4096, 0);
    FakeKernel k{user, ns_node()};
    k.between_requests = [](unsigned request, FakeUser& u) {
        if (request == 2) u.put(arg_at, identify(1024)); // caller changes data_len
    };
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, pattern_controller()), 0);
    EXPECT_EQ(k.requests, 4);
    EXPECT_EQ(k.retries[2].out, (std::vector<UserRange>{{arg_at + 68, 4}, {data_at, 1024}}));
}

/// A namespace node under 6.2 rules for a caller without CAP_SYS_ADMIN, on a
/// handle opened read-only unless `for_write`; the controller's log
/// declares Read supported and Write supported with LBCC.
IoctlContext linux_6_2_unprivileged(bool for_write = false)
{
    IoctlContext ctx = ns_node(false);
    ctx.rules = KernelRules::linux_6_2;
    ctx.open_for_write = for_write;
    auto log = std::make_shared<nvme::CommandsSupportedEffectsLog>();
    log->iocs[0x02] = nvme::command_effects::csupp;
    log->iocs[0x01] = nvme::command_effects::csupp | nvme::command_effects::lbcc;
    ctx.effects = log;
    return ctx;
}

nvme_passthru_cmd64 io64(std::uint8_t opcode)
{
    nvme_passthru_cmd64 c{};
    c.opcode = opcode;
    c.nsid = 1;
    c.addr = data_at;
    c.data_len = 512;
    return c;
}

TEST(CuseRetryLinux62, UnprivilegedIdentifyAndReadRun)
{
    FakeUser user;
    user.fill(data_at, 4096, 0);
    // The ioctl's value and how many FUSE requests it took, under `rules`.
    const auto run = [&](unsigned cmd, KernelRules rules) {
        IoctlContext ctx = linux_6_2_unprivileged();
        ctx.rules = rules;
        FakeKernel k{user, ctx};
        const int value = k.ioctl(cmd, arg_at, pattern_controller());
        return std::pair{value, k.requests};
    };
    user.put(arg_at, identify());
    EXPECT_EQ(run(NVME_IOCTL_ADMIN_CMD, KernelRules::linux_6_2), std::pair(0, 3));
    user.put(arg_at, io64(0x02));
    EXPECT_EQ(run(NVME_IOCTL_IO64_CMD, KernelRules::linux_6_2), std::pair(0, 3));
    // Under 6.1 rules: EACCES before the struct is even asked for.
    EXPECT_EQ(run(NVME_IOCTL_IO64_CMD, KernelRules::linux_6_1), std::pair(-EACCES, 1));
    user.put(arg_at, identify());
    EXPECT_EQ(run(NVME_IOCTL_ADMIN_CMD, KernelRules::linux_6_1), std::pair(-EACCES, 1));
}

TEST(CuseRetryLinux62, RefusalComesAfterTheStructAndBeforeTheBuffers)
{
    FakeUser user;
    auto log_page = identify();
    log_page.opcode = 0x02; // Get Log Page: admin, not one of the Identify CNS
    user.put(arg_at, log_page);
    FakeKernel k{user, linux_6_2_unprivileged()};
    EXPECT_EQ(k.ioctl(NVME_IOCTL_ADMIN_CMD, arg_at, pattern_controller()), -EACCES);
    EXPECT_EQ(k.requests, 2); // the struct was read: flags and nsid come first

    // flags and a foreign nsid are EINVAL even for a caller that may not
    // send the command at all.
    auto flagged = io64(0x01);
    flagged.flags = 1;
    user.put(arg_at, flagged);
    FakeKernel flags{user, linux_6_2_unprivileged()};
    EXPECT_EQ(flags.ioctl(NVME_IOCTL_IO64_CMD, arg_at), -EINVAL);
    auto foreign = io64(0x01);
    foreign.nsid = 2;
    user.put(arg_at, foreign);
    FakeKernel nsid{user, linux_6_2_unprivileged()};
    EXPECT_EQ(nsid.ioctl(NVME_IOCTL_IO64_CMD, arg_at), -EINVAL);

    // A buffer too large for the node is EACCES, not EINVAL, when the caller
    // may not send the command (nvme_cmd_allowed precedes the mapping).
    auto huge = io64(0x01);
    huge.data_len = 64u << 20;
    user.put(arg_at, huge);
    FakeKernel big{user, linux_6_2_unprivileged()};
    EXPECT_EQ(big.ioctl(NVME_IOCTL_IO64_CMD, arg_at), -EACCES);
    FakeKernel big_rw{user, linux_6_2_unprivileged(true)};
    EXPECT_EQ(big_rw.ioctl(NVME_IOCTL_IO64_CMD, arg_at), -EINVAL);
}

TEST(CuseRetryLinux62, WriteNeedsAHandleOpenForWriting)
{
    FakeUser user;
    user.put(arg_at, io64(0x01));
    user.fill(data_at, 512, 1);
    FakeKernel read_only{user, linux_6_2_unprivileged(false)};
    EXPECT_EQ(read_only.ioctl(NVME_IOCTL_IO64_CMD, arg_at, pattern_controller()), -EACCES);
    FakeKernel read_write{user, linux_6_2_unprivileged(true)};
    EXPECT_EQ(read_write.ioctl(NVME_IOCTL_IO64_CMD, arg_at, pattern_controller()), 0);
    // CAP_SYS_ADMIN passes whatever the handle and the log say.
    IoctlContext admin = linux_6_2_unprivileged(false);
    admin.caller_has_sys_admin = true;
    admin.effects = nullptr;
    FakeKernel privileged{user, admin};
    EXPECT_EQ(privileged.ioctl(NVME_IOCTL_IO64_CMD, arg_at, pattern_controller()), 0);
}

TEST(CuseRetryLinux62, ControlIoctlsStillNeedCapSysAdmin)
{
    FakeUser user;
    IoctlContext ctx{NodeView{NodeKind::controller, std::nullopt, 0}, false};
    ctx.rules = KernelRules::linux_6_2;
    ctx.open_for_write = true;
    for (const unsigned cmd : {NVME_IOCTL_RESET, NVME_IOCTL_SUBSYS_RESET, NVME_IOCTL_RESCAN}) {
        FakeKernel k{user, ctx};
        EXPECT_EQ(k.ioctl(cmd, 0), -EACCES) << cmd;
        EXPECT_EQ(k.requests, 1);
    }
}

TEST(CuseRetry, LayoutForAFullyKnownCommand)
{
    IoctlCommand cmd;
    cmd.arg_kind = ArgKind::passthru;
    cmd.arg_addr = arg_at;
    cmd.result = ResultWidth::bits32;
    cmd.direction = nvme::DataTransfer::host_to_controller;
    cmd.data = {{data_at, 10}};
    cmd.data_len = 10;
    cmd.metadata = {meta_at, 2};
    const Layout l = layout_for(cmd);
    EXPECT_EQ(l.in, (std::vector<UserRange>{{arg_at, 72}, {data_at, 10}, {meta_at, 2}}));
    EXPECT_EQ(l.out, (std::vector<UserRange>{{arg_at + 68, 4}}));
    EXPECT_EQ(l.in_bytes, 84u);
    EXPECT_EQ(l.out_bytes, 4u);
}

} // namespace
} // namespace nvmecuse::cuse
