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

#define FUSE_USE_VERSION 35
#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "nvmecuse/spec/identify.hpp"

namespace {

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
        } else {
            std::fprintf(stderr, "usage: cuse-floor [--name NAME] [--single-thread]\n");
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
