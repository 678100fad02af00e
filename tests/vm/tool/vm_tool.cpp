// nvmecuse-vm-tool: the small things the guest suites need that nvme-cli,
// smartctl and busybox do not offer, written against the kernel's own UAPI
// headers (not ours), so the suites check our devices the way any client
// sees them.
//
//   [--write] VERB ...          --write: open DEV read-write (default read-only;
//                               the kernel's 6.2+ rules look at the open mode)
//   ioctl DEV NAME [DELAY]      issue one ioctl; prints its value or errno name
//       NAME: id, reset, rescan, subsys-reset, blksszget, blkpbszget,
//             blkgetsize, blkgetsize64, unknown, admin-identify, admin-flags,
//             admin-compat32, admin-compat32-badptr,
//             identify-cns=N (NVME_IOCTL_ADMIN_CMD Identify, CNS N, nsid 1),
//             admin64-identify (NVME_IOCTL_ADMIN64_CMD),
//             admin-vendor (opcode C0h, no data),
//             passthru-read, passthru-write, passthru64-read,
//             passthru64-write (NVME_IOCTL_IO_CMD or IO64_CMD: one 512-byte
//             block at LBA 8 of nsid 1),
//             io-read, io-write (NVME_IOCTL_IO64_CMD of one block at LBA 0
//             of the node's namespace), io-write-rdwr (the same on a node
//             opened O_RDWR)
//       DELAY: seconds (fractions allowed) between the open and the ioctl,
//             printing "opened DEV" once open (for callers that hold a node)
//   submit-io DEV read|write SLBA NBLOCKS LBA_BYTES FILE
//                               NVME_IOCTL_SUBMIT_IO (no CAP_SYS_ADMIN needed)
//   as-user UID GID CMD...      drop to UID/GID (and every capability), exec CMD
//   hold DEV SECONDS            open DEV and keep it open
//   probe ROLE=DEV...           the ioctls of a controller's nodes per state,
//   timed-read DEV BYTES        and one timed read (see state_probe.cpp)
//   signal-storm DEV COUNT      COUNT Identify Controller ioctls while another
//                               thread keeps signalling this one (a handler,
//                               no SA_RESTART); prints "ok COUNT SIGNALS" when
//                               every one returned 0 with the right data,
//                               else the first failure (the kernel's NVMe
//                               passthrough is not interruptible)
//   stall-read DEV LBA_BYTES    NVME_IOCTL_SUBMIT_IO Read of one block into a
//                               userfaultfd range nobody serves: prints
//                               "stalling" and waits until killed (a caller
//                               whose buffer faults in never; needs root or
//                               vm.unprivileged_userfaultfd=1)
//
// Exit status 0 when the call ran (whatever errno it reported), 2 on misuse.

#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <thread>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

int open_flags = O_RDONLY;

int usage()
{
    std::fputs("usage: nvmecuse-vm-tool [--write] signal-storm DEV COUNT | ioctl DEV NAME [DELAY] | submit-io DEV read|write SLBA "
               "NBLOCKS LBA_BYTES FILE | as-user UID GID CMD... | hold DEV SECONDS | probe ROLE=DEV... | timed-read DEV BYTES | stall-read DEV LBA_BYTES\n",
               stderr);
    return 2;
}

int open_device(const char* path, int flags = open_flags)
{
    const int fd = ::open(path, flags);
    if (fd < 0) {
        std::printf("open: %s\n", strerrorname_np(errno));
        std::exit(1);
    }
    return fd;
}

/// Prints "value N" for a non-negative result, otherwise "errno NAME".
int report(long result, long value)
{
    if (result < 0)
        std::printf("errno %s\n", strerrorname_np(errno));
    else
        std::printf("value %ld\n", value);
    return 0;
}

/// An admin or I/O passthrough command through NVME_IOCTL_ADMIN_CMD,
/// NVME_IOCTL_IO_CMD or their 64-bit-result variants, with a buffer of
/// `length` bytes (none if 0).
template <typename Cmd>
int passthru(int fd, unsigned long request, std::uint8_t opcode, std::uint32_t nsid, std::uint32_t cdw10,
             std::uint32_t length)
{
    std::vector<unsigned char> data(length);
    Cmd cmd{};
    cmd.opcode = opcode;
    cmd.nsid = nsid;
    cmd.cdw10 = cdw10;
    if (length != 0) {
        cmd.addr = reinterpret_cast<std::uintptr_t>(data.data());
        cmd.data_len = length;
    }
    const int r = ::ioctl(fd, request, &cmd);
    return report(r, r);
}

/// One block at LBA 0 of the node's namespace through NVME_IOCTL_IO64_CMD:
/// Read (02h) or Write (01h) of a block of zeroes.
int io64(int fd, bool write)
{
    const int nsid = ::ioctl(fd, NVME_IOCTL_ID);
    int block = 0;
    if (nsid <= 0 || ::ioctl(fd, BLKSSZGET, &block) != 0) return report(-1, 0);
    std::vector<unsigned char> data(static_cast<std::size_t>(block));
    nvme_passthru_cmd64 cmd{};
    cmd.opcode = write ? 0x01 : 0x02;
    cmd.nsid = static_cast<std::uint32_t>(nsid);
    cmd.addr = reinterpret_cast<std::uintptr_t>(data.data());
    cmd.data_len = static_cast<std::uint32_t>(data.size());
    const int r = ::ioctl(fd, NVME_IOCTL_IO64_CMD, &cmd);
    return report(r, r);
}

int run_ioctl(const char* path, std::string_view name, const char* delay)
{
    const int fd = open_device(path, name.ends_with("-rdwr") ? O_RDWR : open_flags);
    if (delay != nullptr) {
        std::printf("opened %s\n", path);
        std::fflush(stdout);
        const double seconds = std::strtod(delay, nullptr);
        ::usleep(static_cast<useconds_t>(seconds * 1e6));
    }
    if (name == "id") {
        const int r = ::ioctl(fd, NVME_IOCTL_ID);
        return report(r, r);
    }
    if (name == "reset") return report(::ioctl(fd, NVME_IOCTL_RESET), 0);
    if (name == "rescan") return report(::ioctl(fd, NVME_IOCTL_RESCAN), 0);
    if (name == "subsys-reset") return report(::ioctl(fd, NVME_IOCTL_SUBSYS_RESET), 0);
    if (name == "blksszget" || name == "blkpbszget") {
        int size = 0;
        const int r = ::ioctl(fd, name == "blksszget" ? BLKSSZGET : BLKPBSZGET, &size);
        return report(r, size);
    }
    if (name == "blkgetsize") {
        unsigned long sectors = 0;
        const int r = ::ioctl(fd, BLKGETSIZE, &sectors);
        return report(r, static_cast<long>(sectors));
    }
    if (name == "blkgetsize64") {
        std::uint64_t bytes = 0;
        const int r = ::ioctl(fd, BLKGETSIZE64, &bytes);
        return report(r, static_cast<long>(bytes));
    }
    if (name == "unknown") return report(::ioctl(fd, _IO('N', 0x7f)), 0);
    if (name == "admin-identify" || name == "admin-flags") {
        std::vector<unsigned char> data(4096);
        nvme_admin_cmd cmd{};
        cmd.opcode = 0x06;
        cmd.addr = reinterpret_cast<std::uintptr_t>(data.data());
        cmd.data_len = static_cast<std::uint32_t>(data.size());
        cmd.cdw10 = 1;
        if (name == "admin-flags") cmd.flags = 1;
        const int r = ::ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
        return report(r, r);
    }
    if (name.starts_with("identify-cns=")) {
        const auto cns = static_cast<std::uint32_t>(std::strtoul(name.substr(13).data(), nullptr, 0));
        return passthru<nvme_admin_cmd>(fd, NVME_IOCTL_ADMIN_CMD, 0x06, 1, cns, 4096);
    }
    if (name == "admin64-identify") return passthru<nvme_passthru_cmd64>(fd, NVME_IOCTL_ADMIN64_CMD, 0x06, 0, 1, 4096);
    if (name == "admin-vendor") return passthru<nvme_admin_cmd>(fd, NVME_IOCTL_ADMIN_CMD, 0xc0, 0, 0, 0);
    // Read (02h) and Write (01h) of one 512-byte block at SLBA 8 (CDW10; NLB 0).
    if (name == "passthru-read") return passthru<nvme_passthru_cmd>(fd, NVME_IOCTL_IO_CMD, 0x02, 1, 8, 512);
    if (name == "passthru-write") return passthru<nvme_passthru_cmd>(fd, NVME_IOCTL_IO_CMD, 0x01, 1, 8, 512);
    if (name == "passthru64-read") return passthru<nvme_passthru_cmd64>(fd, NVME_IOCTL_IO64_CMD, 0x02, 1, 8, 512);
    if (name == "passthru64-write") return passthru<nvme_passthru_cmd64>(fd, NVME_IOCTL_IO64_CMD, 0x01, 1, 8, 512);
    if (name == "io-read") return io64(fd, false);
    if (name == "io-write" || name == "io-write-rdwr") return io64(fd, true);
    if (name == "admin-compat32" || name == "admin-compat32-badptr") {
        // The 32-bit layout's request number on a 64-bit caller: not ours.
        // With a bad pointer, a restricted CUSE ioctl fails in the kernel's
        // copy of the encoded argument (EFAULT) before the node sees it.
        std::array<char, 68> arg{};
        void* p = name == "admin-compat32" ? arg.data() : reinterpret_cast<void*>(std::uintptr_t{8});
        return report(::ioctl(fd, _IOWR('N', 0x41, char[68]), p), 0);
    }
    std::fprintf(stderr, "unknown ioctl name %.*s\n", static_cast<int>(name.size()), name.data());
    return 2;
}

int submit_io(char** argv)
{
    const int fd = open_device(argv[0]);
    const bool write = std::string_view(argv[1]) == "write";
    const auto slba = std::strtoull(argv[2], nullptr, 0);
    const auto blocks = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 0));
    const auto lba_bytes = std::strtoul(argv[4], nullptr, 0);
    std::vector<unsigned char> data(blocks * lba_bytes);
    const int file = ::open(argv[5], write ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (file < 0 || (write && ::read(file, data.data(), data.size()) != ssize_t(data.size()))) {
        std::printf("file: %s\n", strerror(errno));
        return 1;
    }
    nvme_user_io io{};
    io.opcode = write ? 0x01 : 0x02;
    io.slba = slba;
    io.nblocks = static_cast<std::uint16_t>(blocks - 1);
    io.addr = reinterpret_cast<std::uintptr_t>(data.data());
    const int r = ::ioctl(fd, NVME_IOCTL_SUBMIT_IO, &io);
    if (r == 0 && !write && ::write(file, data.data(), data.size()) != ssize_t(data.size())) {
        std::printf("file: %s\n", strerror(errno));
        return 1;
    }
    return report(r, r);
}

int stall_read(const char* path, const char* lba_bytes)
{
    const int fd = open_device(path);
    const auto bytes = std::strtoul(lba_bytes, nullptr, 0);
    const int uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC));
    uffdio_api api{};
    api.api = UFFD_API;
    void* area = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uintptr_t>(area);
    reg.range.len = bytes;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (uffd < 0 || ::ioctl(uffd, UFFDIO_API, &api) != 0 || area == MAP_FAILED ||
        ::ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
        std::printf("userfaultfd: %s\n", strerrorname_np(errno));
        return 1;
    }
    nvme_user_io io{};
    io.opcode = 0x02;
    io.addr = reg.range.start;
    std::printf("stalling\n");
    std::fflush(stdout);
    const int r = ::ioctl(fd, NVME_IOCTL_SUBMIT_IO, &io); // its copy out never ends
    return report(r, r);
}

int as_user(char** argv)
{
    const auto uid = static_cast<uid_t>(std::strtoul(argv[0], nullptr, 10));
    const auto gid = static_cast<gid_t>(std::strtoul(argv[1], nullptr, 10));
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        std::perror("as-user");
        return 1;
    }
    ::execvp(argv[2], argv + 2);
    std::perror(argv[2]);
    return 127;
}

int hold(const char* path, const char* seconds)
{
    const int fd = open_device(path);
    std::printf("holding %s\n", path);
    std::fflush(stdout);
    ::sleep(static_cast<unsigned>(std::strtoul(seconds, nullptr, 10)));
    ::close(fd);
    return 0;
}

volatile sig_atomic_t signals_caught = 0;

void on_signal(int) { signals_caught = signals_caught + 1; }

int signal_storm(const char* path, const char* count_text)
{
    const int fd = open_device(path);
    struct sigaction sa{};
    sa.sa_handler = on_signal; // no SA_RESTART: an EINTR would reach us
    ::sigaction(SIGUSR1, &sa, nullptr);
    const pthread_t target = ::pthread_self();
    std::atomic<bool> stop{false};
    std::thread signaller([&] {
        while (!stop.load()) {
            ::pthread_kill(target, SIGUSR1);
            ::usleep(200);
        }
    });
    const long count = std::strtol(count_text, nullptr, 10);
    std::vector<unsigned char> data(4096);
    int status = 0;
    for (long i = 0; i < count && status == 0; ++i) {
        std::fill(data.begin(), data.end(), 0);
        nvme_admin_cmd cmd{};
        cmd.opcode = 0x06;
        cmd.addr = reinterpret_cast<std::uintptr_t>(data.data());
        cmd.data_len = static_cast<std::uint32_t>(data.size());
        cmd.cdw10 = 1;
        const int r = ::ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
        if (r != 0) {
            std::printf("ioctl %ld: %s\n", i, r < 0 ? strerrorname_np(errno) : "NVMe status");
            status = 1;
        } else if (data[24] == 0) { // MN, bytes 24..63
            std::printf("ioctl %ld: returned 0 without the data\n", i);
            status = 1;
        }
    }
    stop = true;
    signaller.join();
    if (status == 0) std::printf("ok %ld %d\n", count, static_cast<int>(signals_caught));
    return 0;
}

} // namespace

int state_probe(int count, char** specs); // state_probe.cpp
int timed_read(const char* path, const char* bytes);

int main(int argc, char** argv)
{
    if (argc >= 2 && std::string_view(argv[1]) == "--write") {
        open_flags = O_RDWR;
        --argc;
        ++argv;
    }
    if (argc < 2) return usage();
    const std::string_view verb = argv[1];
    if (verb == "ioctl" && (argc == 4 || argc == 5))
        return run_ioctl(argv[2], argv[3], argc == 5 ? argv[4] : nullptr);
    if (verb == "submit-io" && argc == 8) return submit_io(argv + 2);
    if (verb == "as-user" && argc >= 5) return as_user(argv + 2);
    if (verb == "hold" && argc == 4) return hold(argv[2], argv[3]);
    if (verb == "probe" && argc >= 3) return state_probe(argc - 2, argv + 2);
    if (verb == "timed-read" && argc == 4) return timed_read(argv[2], argv[3]);
    if (verb == "signal-storm" && argc == 4) return signal_storm(argv[2], argv[3]);
    if (verb == "stall-read" && argc == 4) return stall_read(argv[2], argv[3]);
    return usage();
}
