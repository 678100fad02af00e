// The process_vm fast path against this test process's own memory.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "nvmecuse/cuse/credentials.hpp"
#include "nvmecuse/cuse/fast_path.hpp"

namespace nvmecuse::cuse {
namespace {

std::uint64_t addr_of(const void* p)
{
    return reinterpret_cast<std::uintptr_t>(p);
}

/// A page that is mapped, then unmapped again: any access faults.
std::uint64_t unmapped_page()
{
    const long page = sysconf(_SC_PAGESIZE);
    void* p = mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    munmap(p, static_cast<std::size_t>(page));
    return addr_of(p);
}

TEST(CuseFastPath, ReadsAndWritesOwnMemory)
{
    ProcessVmMemory mem(getpid());
    std::vector<std::byte> src(10000);
    for (std::size_t i = 0; i < src.size(); ++i)
        src[i] = std::byte(i * 3);
    std::vector<std::byte> dst(src.size());
    ASSERT_FALSE(mem.read(addr_of(src.data()), dst));
    EXPECT_EQ(dst, src);

    std::vector<std::byte> target(16);
    const std::byte bytes[] = {std::byte{1}, std::byte{2}, std::byte{3}};
    ASSERT_FALSE(mem.write(addr_of(target.data()) + 5, bytes));
    EXPECT_EQ(target[5], std::byte{1});
    EXPECT_EQ(target[7], std::byte{3});
    EXPECT_EQ(target[8], std::byte{0});

    // Gather several ranges into one buffer.
    const UserRange ranges[] = {{addr_of(src.data()), 4}, {addr_of(src.data()) + 100, 2}};
    std::vector<std::byte> gathered(6);
    ASSERT_FALSE(mem.read(ranges, gathered));
    EXPECT_EQ(gathered[4], src[100]);
    EXPECT_EQ(mem.read(ranges, std::span(gathered).first(5)),
              std::error_code(EINVAL, std::generic_category()));
}

TEST(CuseFastPath, BadPointersFailWithoutCrashing)
{
    ProcessVmMemory mem(getpid());
    std::vector<std::byte> buf(64);
    EXPECT_TRUE(mem.read(1, buf)); // nullptr + 1
    EXPECT_TRUE(mem.write(1, buf));
    const auto gone = unmapped_page();
    EXPECT_TRUE(mem.read(gone, buf));
    EXPECT_TRUE(mem.write(gone, buf));

    // A range that starts mapped and runs into an unmapped page: a partial
    // transfer, reported as EFAULT.
    const long page = sysconf(_SC_PAGESIZE);
    auto* two =
        static_cast<std::byte*>(mmap(nullptr, 2 * static_cast<std::size_t>(page),
                                     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(static_cast<void*>(two), MAP_FAILED);
    munmap(two + page, static_cast<std::size_t>(page));
    EXPECT_EQ(mem.read(addr_of(two + page - 32), buf),
              std::error_code(EFAULT, std::generic_category()));
    // Read-only memory cannot be written.
    mprotect(two, static_cast<std::size_t>(page), PROT_READ);
    EXPECT_TRUE(mem.write(addr_of(two), buf));
    munmap(two, static_cast<std::size_t>(page));

    ProcessVmMemory nobody(0x3fffffff); // no such pid
    EXPECT_EQ(nobody.read(addr_of(buf.data()), buf),
              std::error_code(ESRCH, std::generic_category()));
}

const NamespaceShape ns1{1, 512, 8, false, 1ull << 20};
IoctlContext ns_node(bool admin = true)
{
    return {NodeView{NodeKind::namespace_node, ns1, 0}, admin};
}

TEST(CuseFastPath, AdminReadInOneGoAndDelivered)
{
    ProcessVmMemory mem(getpid());
    std::vector<std::byte> data(4096, std::byte{0xee});
    nvme_passthru_cmd cmd{};
    cmd.opcode = 0x06;
    cmd.addr = addr_of(data.data());
    cmd.data_len = 4096;
    cmd.cdw10 = 1;
    auto step =
        fast_prepare(ns_node(), NVME_IOCTL_ADMIN_CMD, addr_of(&cmd), fuse_ioctl_unrestricted, mem);
    ASSERT_TRUE(std::holds_alternative<FastExecute>(step));
    auto& exec = std::get<FastExecute>(step);
    EXPECT_EQ(exec.command.sqe.cdw10, 1u);
    EXPECT_EQ(exec.command.direction, nvme::DataTransfer::controller_to_host);
    ASSERT_EQ(exec.command.data.size(), 4096u);
    EXPECT_EQ(exec.command.data.data()[0], std::byte{0}); // zeroed, not the caller's bytes

    // "Controller" fills the buffer; the reply lands in our memory.
    std::memset(exec.command.data.data(), 0x5a, 4096);
    ctrlr::Result r;
    r.dw0 = 0xabcd;
    r.data = std::move(exec.command.data);
    const auto plan =
        build_reply(exec.plan, map_completion(r, exec.plan.result), r.data.span(), {});
    ASSERT_FALSE(fast_deliver(plan, mem));
    EXPECT_EQ(cmd.result, 0xabcdu);
    EXPECT_EQ(data[4095], std::byte{0x5a});
}

/// Counts the writes a delivery makes, forwarding them to this process.
struct CountingMemory final : CallerMemory {
    ProcessVmMemory real{getpid()};
    int read_calls = 0;
    int write_calls = 0;
    std::error_code read(std::span<const UserRange> remote, std::span<std::byte> local) override
    {
        ++read_calls;
        return real.read(remote, local);
    }
    std::error_code write(std::span<const UserWrite> writes) override
    {
        if (!writes.empty()) ++write_calls;
        return real.write(writes);
    }
};

TEST(CuseFastPath, ResultAlreadyInTheCallersStructIsNotWrittenAgain)
{
    CountingMemory mem;
    std::vector<std::byte> data(512, std::byte{0x11});
    nvme_passthru_cmd64 cmd{};
    cmd.opcode = 0x01; // Write: no data comes back
    cmd.nsid = 1;
    cmd.addr = addr_of(data.data());
    cmd.data_len = 512;
    auto step =
        fast_prepare(ns_node(), NVME_IOCTL_IO64_CMD, addr_of(&cmd), fuse_ioctl_unrestricted, mem);
    ASSERT_TRUE(std::holds_alternative<FastExecute>(step));
    auto& exec = std::get<FastExecute>(step);
    EXPECT_EQ(exec.plan.caller_result, 0u);

    ctrlr::Result r; // DW0 = DW1 = 0, as the zeroed struct holds
    auto plan = build_reply(exec.plan, map_completion(r, exec.plan.result), {}, {});
    EXPECT_TRUE(plan.result_unchanged);
    ASSERT_FALSE(fast_deliver(plan, mem));
    EXPECT_EQ(mem.write_calls, 0) << "nothing to change in the caller's memory";

    // A different result is written, in full width.
    cmd.result = 0x55;
    r.dw0 = 7;
    r.dw1 = 1;
    plan = build_reply(exec.plan, map_completion(r, exec.plan.result), {}, {});
    EXPECT_FALSE(plan.result_unchanged);
    ASSERT_FALSE(fast_deliver(plan, mem));
    EXPECT_EQ(mem.write_calls, 1);
    EXPECT_EQ(cmd.result, 0x1'0000'0007u);
    // The retry reply carries the result whatever the caller held.
    EXPECT_EQ(plan.flatten().size(), 8u);
}

TEST(CuseFastPath, WriteDataAndMetadataAreGathered)
{
    ProcessVmMemory mem(getpid());
    std::vector<std::byte> data(1024);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = std::byte(i);
    std::vector<std::byte> meta(16, std::byte{0x77});
    nvme_user_io io{};
    io.opcode = 0x01;
    io.nblocks = 1;
    io.addr = addr_of(data.data());
    io.metadata = addr_of(meta.data());
    auto step = fast_prepare(ns_node(false), NVME_IOCTL_SUBMIT_IO, addr_of(&io), 0, mem);
    ASSERT_TRUE(std::holds_alternative<FastExecute>(step));
    const auto& exec = std::get<FastExecute>(step);
    EXPECT_EQ(exec.command.direction, nvme::DataTransfer::host_to_controller);
    ASSERT_EQ(exec.command.data.size(), 1024u);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), exec.command.data.data()));
    ASSERT_EQ(exec.command.metadata.size(), 16u);
    EXPECT_EQ(exec.command.metadata.data()[15], std::byte{0x77});
    EXPECT_EQ(exec.plan.arg_kind, ArgKind::user_io);
}

TEST(CuseFastPath, VectoredGatherFromSeveralSegments)
{
    ProcessVmMemory mem(getpid());
    std::vector<std::byte> a(100, std::byte{1});
    std::vector<std::byte> b(300, std::byte{2});
    const std::uint64_t iov[] = {addr_of(a.data()), a.size(), addr_of(b.data()), b.size()};
    nvme_passthru_cmd64 cmd{};
    cmd.opcode = 0x01;
    cmd.nsid = 1;
    cmd.addr = addr_of(iov);
    cmd.vec_cnt = 2;
    auto step = fast_prepare(ns_node(), NVME_IOCTL_IO64_CMD_VEC, addr_of(&cmd), 0, mem);
    ASSERT_TRUE(std::holds_alternative<FastExecute>(step));
    const auto& c = std::get<FastExecute>(step).command;
    ASSERT_EQ(c.data.size(), 400u);
    EXPECT_EQ(c.data.data()[99], std::byte{1});
    EXPECT_EQ(c.data.data()[100], std::byte{2});
}

TEST(CuseFastPath, MemoryFailuresFallBackAndArgumentErrorsAreFinal)
{
    ProcessVmMemory mem(getpid());
    // Bad argument pointer: fall back, the kernel will say EFAULT.
    auto step = fast_prepare(ns_node(), NVME_IOCTL_ADMIN_CMD, unmapped_page(), 0, mem);
    EXPECT_TRUE(std::holds_alternative<Fallback>(step));
    // Bad data pointer on a write.
    nvme_passthru_cmd cmd{};
    cmd.opcode = 0x09;
    cmd.addr = 1;
    cmd.data_len = 512;
    step = fast_prepare(ns_node(), NVME_IOCTL_ADMIN_CMD, addr_of(&cmd), 0, mem);
    EXPECT_TRUE(std::holds_alternative<Fallback>(step));
    // Bad iovec array.
    nvme_passthru_cmd64 vec{};
    vec.opcode = 0x02;
    vec.nsid = 1;
    vec.addr = unmapped_page();
    vec.vec_cnt = 4;
    step = fast_prepare(ns_node(), NVME_IOCTL_IO64_CMD_VEC, addr_of(&vec), 0, mem);
    EXPECT_TRUE(std::holds_alternative<Fallback>(step));
    // A pid we may not touch.
    ProcessVmMemory nobody(0x3fffffff);
    step = fast_prepare(ns_node(), NVME_IOCTL_ADMIN_CMD, addr_of(&cmd), 0, nobody);
    ASSERT_TRUE(std::holds_alternative<Fallback>(step));
    EXPECT_EQ(std::get<Fallback>(step).why, std::error_code(ESRCH, std::generic_category()));

    // Decode errors are the answer, not a reason to retry.
    cmd.flags = 1;
    step = fast_prepare(ns_node(), NVME_IOCTL_ADMIN_CMD, addr_of(&cmd), 0, mem);
    ASSERT_TRUE(std::holds_alternative<Error>(step));
    EXPECT_EQ(std::get<Error>(step).errno_value, EINVAL);
    step = fast_prepare(ns_node(false), NVME_IOCTL_ADMIN_CMD, addr_of(&cmd), 0, mem);
    EXPECT_EQ(std::get<Error>(step).errno_value, EACCES);
    step = fast_prepare(ns_node(), NVME_IOCTL_RESET, 0, 0, mem);
    EXPECT_EQ(std::get<Error>(step).errno_value, ENOTTY);
}

TEST(CuseFastPath, IdAndBlockIoctlsInOneRequest)
{
    ProcessVmMemory mem(getpid());
    auto step = fast_prepare(ns_node(false), NVME_IOCTL_ID, 0, 0, mem);
    ASSERT_TRUE(std::holds_alternative<Reply>(step));
    EXPECT_EQ(std::get<Reply>(step).value, 1);

    std::uint64_t size = 0;
    step = fast_prepare(ns_node(false), BLKGETSIZE64, addr_of(&size), 0, mem);
    ASSERT_TRUE(std::holds_alternative<Reply>(step));
    EXPECT_EQ(std::get<Reply>(step).value, 0);
    EXPECT_TRUE(std::get<Reply>(step).out.empty()); // already written
    EXPECT_EQ(size, 1ull << 20);
    step = fast_prepare(ns_node(false), BLKGETSIZE, unmapped_page(), 0, mem);
    EXPECT_TRUE(std::holds_alternative<Fallback>(step));

    step = fast_prepare(IoctlContext{NodeView{}, true}, NVME_IOCTL_RESCAN, 0, 0, mem);
    ASSERT_TRUE(std::holds_alternative<Control>(step));
    EXPECT_EQ(std::get<Control>(step).op, IoctlOp::rescan);
}

TEST(CuseFastPath, DeliveryFailureIsReported)
{
    ProcessVmMemory mem(getpid());
    ReplyPlan plan;
    const std::byte one[] = {std::byte{1}};
    plan.writes.push_back({unmapped_page(), one});
    EXPECT_TRUE(fast_deliver(plan, mem));
    plan.value = -EINTR; // errno outcomes write nothing
    EXPECT_FALSE(fast_deliver(plan, mem));
}

TEST(CuseFastPath, AKernelCopiedArgumentIsReadFromTheRequestAndTheRestFromTheCaller)
{
    std::vector<std::byte> data(4096);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = std::byte(i * 13);
    std::vector<std::byte> meta(8 * 8, std::byte{0x44});
    nvme_user_io io{};
    io.opcode = 0x01;
    io.nblocks = 7;
    io.addr = addr_of(data.data());
    io.metadata = addr_of(meta.data());
    // What the kernel copied differs from the caller's struct now: only the
    // copy counts, as when the caller changes it during the ioctl.
    nvme_user_io copied = io;
    io.nblocks = 0;
    CountingMemory rest;
    KernelCopiedArgument memory(addr_of(&io), std::as_bytes(std::span(&copied, 1)), rest);
    FastStep step = fast_prepare(ns_node(), NVME_IOCTL_SUBMIT_IO, addr_of(&io), 0, memory);
    auto* exec = std::get_if<FastExecute>(&step);
    ASSERT_NE(exec, nullptr);
    EXPECT_EQ(rest.read_calls, 2); // the data and the metadata, not the struct
    ASSERT_EQ(exec->command.data.size(), 4096u);
    EXPECT_EQ(std::memcmp(exec->command.data.span().data(), data.data(), 4096), 0);

    // Reads that leave the copied window, even by a byte, go to the caller.
    std::array<std::byte, 8> tail{};
    EXPECT_FALSE(memory.read(addr_of(&io) + sizeof io - 4, tail));
    EXPECT_EQ(rest.read_calls, 3);
    EXPECT_FALSE(memory.read(addr_of(&io) + sizeof io - 8, tail));
    EXPECT_EQ(rest.read_calls, 3);
    EXPECT_EQ(
        std::memcmp(tail.data(), reinterpret_cast<const std::byte*>(&copied) + sizeof io - 8, 8),
        0);
}

TEST(CuseFastPath, ProcessVmReachesEveryCallerOnlyWithCapSysPtrace)
{
    // In a child that drops CAP_SYS_PTRACE from its effective set, the
    // answer must be no, whatever this process may do.
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> caps{};
        if (syscall(SYS_capget, &header, caps.data()) != 0) _exit(2);
        caps[0].effective &= ~(1u << cap_sys_ptrace);
        if (syscall(SYS_capset, &header, caps.data()) != 0) _exit(2);
        _exit(process_vm_reaches_every_caller() ? 1 : 0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // With it, in the initial user namespace (CI runs as root), yes.
    const auto self = read_caller_credentials(getpid());
    ASSERT_TRUE(self);
    std::ifstream uid_map("/proc/self/uid_map");
    std::uint64_t inside = 1, outside = 1, count = 0;
    uid_map >> inside >> outside >> count;
    if (self->has(cap_sys_ptrace) && inside == 0 && outside == 0 && count == 4294967295u) {
        EXPECT_TRUE(process_vm_reaches_every_caller());
    }
}

} // namespace
} // namespace nvmecuse::cuse
