// cuse-floor: the smallest CUSE server that answers the NVMe ioctls
// nvmecuse-perf issues, doing no work for them: the cost of the CUSE round
// trip itself, so nvmecused's overhead above it can be measured
// (bench/run-vm). Needs /dev/cuse (run it in the test guest).
//
//   cuse-floor --name floor0n1   ->  /dev/nvmecuse/floor0n1
//
// NVME_IOCTL_ID answers 1. Identify (admin passthrough, opcode 06h) writes a
// canned 1 TiB / 512-byte-LBA Identify Namespace (or a zeroed page for other
// CNS values) into the caller with process_vm_writev, so load generators can
// set up; every other ioctl is answered 0 at once, its buffers untouched.
//
//   cuse-floor --name copy0n1 --deliver
//
// --deliver: a read or write (I/O passthrough, 32 or 64 bit, or SUBMIT_IO)
// also moves its data, as any CUSE server that serves data must: the
// caller's command struct is read (process_vm_readv), then a read's data
// and the result field are written into the caller in one process_vm_writev
// (a write's data is read, its result written). The data is whatever the
// server's buffer holds. The floor for data commands: the round trip plus
// the copies, with no device behind it.

#define FUSE_USE_VERSION 35
#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "nvmecuse/spec/identify.hpp"

namespace {

bool deliver_data = false;

void floor_open(fuse_req_t req, fuse_file_info* fi) { fuse_reply_open(req, fi); }

/// Identify: read the caller's struct, write the canned data. 0 or -errno.
int answer_identify(pid_t pid, const void* arg)
{
    nvme_admin_cmd cmd{};
    iovec local{&cmd, sizeof(cmd)};
    iovec remote{const_cast<void*>(arg), sizeof(cmd)};
    if (::process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof(cmd)) return -EFAULT;
    if (cmd.opcode != 0x06) return 0;
    std::array<std::byte, 4096> page{};
    if ((cmd.cdw10 & 0xff) == 0) {
        nvme::IdentifyNamespace ns{};
        ns.nsze = ns.ncap = ns.nuse = std::uint64_t{1} << 31;
        ns.lbaf[0].lbads = 9;
        std::memcpy(page.data(), &ns, sizeof(ns));
    }
    const std::size_t n = std::min<std::size_t>(cmd.data_len, page.size());
    if (cmd.addr == 0 || n == 0) return 0;
    iovec from{page.data(), n};
    iovec to{reinterpret_cast<void*>(static_cast<std::uintptr_t>(cmd.addr)), n};
    return ::process_vm_writev(pid, &from, 1, &to, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
}

/// --deliver: a read's or write's data moved as described above. 0 or -errno.
int deliver(pid_t pid, unsigned ioctl_cmd, const void* arg)
{
    union {
        nvme_passthru_cmd64 c64;
        nvme_passthru_cmd c32;
        nvme_user_io io;
    } u{};
    std::size_t size = sizeof u.io;
    if (ioctl_cmd == NVME_IOCTL_IO64_CMD) size = sizeof u.c64;
    if (ioctl_cmd == NVME_IOCTL_IO_CMD) size = sizeof u.c32;
    iovec local{&u, size};
    iovec remote{const_cast<void*>(arg), size};
    if (::process_vm_readv(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(size))
        return -EFAULT;
    std::uint8_t opcode = 0;
    std::uint64_t addr = 0, len = 0, result_addr = 0, result_len = 0;
    const auto base = reinterpret_cast<std::uintptr_t>(arg);
    if (ioctl_cmd == NVME_IOCTL_IO64_CMD) {
        opcode = u.c64.opcode, addr = u.c64.addr, len = u.c64.data_len;
        result_addr = base + offsetof(nvme_passthru_cmd64, result), result_len = sizeof u.c64.result;
    } else if (ioctl_cmd == NVME_IOCTL_IO_CMD) {
        opcode = u.c32.opcode, addr = u.c32.addr, len = u.c32.data_len;
        result_addr = base + offsetof(nvme_passthru_cmd, result), result_len = sizeof u.c32.result;
    } else {
        opcode = u.io.opcode, addr = u.io.addr, len = (std::uint64_t{u.io.nblocks} + 1) * 512;
    }
    if (len > (64u << 20)) return -EINVAL;
    thread_local std::vector<std::byte> data;
    if (data.size() < len) data.resize(len);
    const std::uint64_t zero = 0;
    iovec mine[2] = {{data.data(), len}, {const_cast<std::uint64_t*>(&zero), result_len}};
    iovec theirs[2] = {{reinterpret_cast<void*>(addr), len},
                       {reinterpret_cast<void*>(result_addr), result_len}};
    const unsigned long n = result_len != 0 ? 2 : 1;
    if (opcode == 0x02) // read: data and result in one call
        return ::process_vm_writev(pid, mine, n, theirs, n, 0) ==
                       static_cast<ssize_t>(len + result_len)
                   ? 0
                   : -EFAULT;
    if (::process_vm_readv(pid, mine, 1, theirs, 1, 0) != static_cast<ssize_t>(len)) return -EFAULT;
    if (result_len == 0) return 0;
    return ::process_vm_writev(pid, &mine[1], 1, &theirs[1], 1, 0) ==
                   static_cast<ssize_t>(result_len)
               ? 0
               : -EFAULT;
}

void floor_ioctl(fuse_req_t req, int cmd, void* arg, fuse_file_info*, unsigned flags, const void*,
                 size_t, size_t)
{
    if ((flags & FUSE_IOCTL_COMPAT) != 0) {
        fuse_reply_err(req, ENOTTY);
        return;
    }
    switch (static_cast<unsigned>(cmd)) {
    case NVME_IOCTL_ID:
        fuse_reply_ioctl(req, 1, nullptr, 0);
        return;
    case NVME_IOCTL_ADMIN_CMD:
        if (const int r = answer_identify(fuse_req_ctx(req)->pid, arg); r < 0) {
            fuse_reply_err(req, -r);
            return;
        }
        fuse_reply_ioctl(req, 0, nullptr, 0);
        return;
    case NVME_IOCTL_IO_CMD:
    case NVME_IOCTL_IO64_CMD:
    case NVME_IOCTL_SUBMIT_IO:
        if (deliver_data) {
            if (const int r = deliver(fuse_req_ctx(req)->pid, static_cast<unsigned>(cmd), arg); r < 0) {
                fuse_reply_err(req, -r);
                return;
            }
        }
        fuse_reply_ioctl(req, 0, nullptr, 0);
        return;
    default:
        fuse_reply_ioctl(req, 0, nullptr, 0);
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::string name = "floor0n1";
    bool single_thread = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--name" && i + 1 < argc) {
            name = argv[++i];
        } else if (a == "--single-thread") {
            single_thread = true;
        } else if (a == "--deliver") {
            deliver_data = true;
        } else {
            std::fprintf(stderr, "usage: cuse-floor [--name NAME] [--single-thread] [--deliver]\n");
            return 2;
        }
    }
    const std::string devname = "DEVNAME=nvmecuse/" + name;
    const char* dev_info[] = {devname.c_str()};
    cuse_info ci{};
    ci.dev_info_argc = 1;
    ci.dev_info_argv = dev_info;
    ci.flags = CUSE_UNRESTRICTED_IOCTL;
    cuse_lowlevel_ops ops{};
    ops.open = floor_open;
    ops.ioctl = floor_ioctl;
    std::vector<char*> args{argv[0], const_cast<char*>("-f")};
    if (single_thread) args.push_back(const_cast<char*>("-s"));
    return cuse_lowlevel_main(static_cast<int>(args.size()), args.data(), &ci, &ops, nullptr);
}
