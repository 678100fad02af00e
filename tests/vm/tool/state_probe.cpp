// nvmecuse-vm-tool's probes of a controller's nodes across its states (a
// live connection, a reconnect, a lost controller): the same ioctls on
// descriptors opened while the controller was live, each timed and bounded,
// so a suite can print one host's answers beside another's.
//
//   probe ROLE=DEV...   opens each DEV now, then for every LABEL line on
//                       stdin prints, per ROLE, one line per ioctl:
//                         LABEL ROLE OP RESULT fast|slow|blocked MS
//                       RESULT: "=N" (the ioctl's value: an NVMe status for
//                       passthrough), the errno's name, or "-" when blocked.
//                       OP "open" is a fresh open(2) of DEV in that state.
//                       ROLE ctrl: the controller node (and RESCAN); ns: a
//                       namespace's NVMe ioctls; blk: its block-size ioctls.
//   timed-read DEV BYTES  one NVME_IOCTL_IO64_CMD Read of BYTES at LBA 0 of
//                       nsid 1; prints "RESULT MS" when it returns
//
// An ioctl that has not returned within 3 s is reported "blocked" and left
// running; the probe goes on with the next one.

#include <linux/fs.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto blocked_after = std::chrono::seconds(3);
constexpr auto fast_below = std::chrono::seconds(1);
constexpr std::uint32_t block_bytes = 512; // the suites' null_blk namespaces

std::string outcome(long r, int error)
{
    if (r < 0) return strerrorname_np(error);
    return "=" + std::to_string(r);
}

/// One ioctl's answer: RESULT as outcome() prints it.
using Op = std::string (*)(int fd);

std::string nvme_id(int fd)
{
    const int r = ::ioctl(fd, NVME_IOCTL_ID);
    return outcome(r, errno);
}

std::string admin_identify(int fd)
{
    std::vector<unsigned char> data(4096);
    nvme_admin_cmd cmd{};
    cmd.opcode = 0x06;
    cmd.addr = reinterpret_cast<std::uintptr_t>(data.data());
    cmd.data_len = static_cast<std::uint32_t>(data.size());
    cmd.cdw10 = 1; // CNS 1: Identify Controller
    const int r = ::ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
    return outcome(r, errno);
}

/// A Read (02h) of `bytes` at LBA 0 of nsid 1 through `request`.
template <typename Cmd>
std::string passthru_read(int fd, unsigned long request, std::uint32_t bytes)
{
    std::vector<unsigned char> data(bytes);
    Cmd cmd{};
    cmd.opcode = 0x02;
    cmd.nsid = 1;
    cmd.addr = reinterpret_cast<std::uintptr_t>(data.data());
    cmd.data_len = bytes;
    cmd.cdw12 = bytes / block_bytes - 1; // NLB, 0's based
    const int r = ::ioctl(fd, request, &cmd);
    return outcome(r, errno);
}

std::string io_read(int fd) { return passthru_read<nvme_passthru_cmd>(fd, NVME_IOCTL_IO_CMD, block_bytes); }

std::string io64_read(int fd)
{
    return passthru_read<nvme_passthru_cmd64>(fd, NVME_IOCTL_IO64_CMD, block_bytes);
}

std::string submit_io_read(int fd)
{
    std::vector<unsigned char> data(block_bytes);
    nvme_user_io io{};
    io.opcode = 0x02;
    io.addr = reinterpret_cast<std::uintptr_t>(data.data());
    const int r = ::ioctl(fd, NVME_IOCTL_SUBMIT_IO, &io);
    return outcome(r, errno);
}

std::string rescan(int fd)
{
    const int r = ::ioctl(fd, NVME_IOCTL_RESCAN);
    return outcome(r, errno);
}

std::string blksszget(int fd)
{
    int size = 0;
    const int r = ::ioctl(fd, BLKSSZGET, &size);
    return outcome(r < 0 ? r : size, errno);
}

std::string blkgetsize64(int fd)
{
    std::uint64_t bytes = 0;
    const int r = ::ioctl(fd, BLKGETSIZE64, &bytes);
    return outcome(r < 0 ? r : static_cast<long>(bytes), errno);
}

struct NamedOp {
    const char* name;
    Op op;
};

const std::vector<NamedOp>& ops_for(std::string_view role)
{
    static const std::vector<NamedOp> nvme_ops{
        {"id", nvme_id},           {"admin-identify", admin_identify}, {"io-read", io_read},
        {"io64-read", io64_read}, {"submit-io-read", submit_io_read},
    };
    static const std::vector<NamedOp> controller_ops = [] {
        auto ops = nvme_ops;
        ops.push_back({"rescan", rescan});
        return ops;
    }();
    static const std::vector<NamedOp> block_ops{{"blksszget", blksszget}, {"blkgetsize64", blkgetsize64}};
    if (role == "blk") return block_ops;
    return role == "ctrl" ? controller_ops : nvme_ops;
}

struct Timed {
    std::string result = "-";
    std::string speed = "blocked";
    long ms = 0;
};

/// Runs `call` on its own thread and waits at most blocked_after for it.
template <typename F>
Timed timed(F call)
{
    auto promise = std::make_shared<std::promise<std::string>>();
    auto answer = promise->get_future();
    const auto t0 = Clock::now();
    std::thread([promise, call] { promise->set_value(call()); }).detach();
    Timed t;
    if (answer.wait_for(blocked_after) == std::future_status::ready) {
        t.result = answer.get();
        t.speed = Clock::now() - t0 < fast_below ? "fast" : "slow";
    }
    t.ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    return t;
}

struct Node {
    std::string role;
    std::string path;
    int fd = -1;
};

void print(const std::string& label, const Node& n, const char* op, const Timed& t)
{
    std::printf("%s %s %s %s %s %ld\n", label.c_str(), n.role.c_str(), op, t.result.c_str(),
                t.speed.c_str(), t.ms);
    std::fflush(stdout);
}

void probe_node(const std::string& label, const Node& n)
{
    const std::string path = n.path;
    print(label, n, "open", timed([path] {
              const int fd = ::open(path.c_str(), O_RDONLY);
              const int error = errno;
              if (fd >= 0) ::close(fd);
              return outcome(fd < 0 ? -1 : 0, error);
          }));
    if (n.fd < 0) return;
    for (const NamedOp& op : ops_for(n.role)) {
        const int fd = n.fd;
        const Op call = op.op;
        print(label, n, op.name, timed([fd, call] { return call(fd); }));
    }
}

} // namespace

int state_probe(int count, char** specs)
{
    std::vector<Node> nodes;
    for (int i = 0; i < count; ++i) {
        const std::string_view spec = specs[i];
        const auto eq = spec.find('=');
        if (eq == std::string_view::npos) return 2;
        Node n{std::string(spec.substr(0, eq)), std::string(spec.substr(eq + 1))};
        n.fd = ::open(n.path.c_str(), O_RDONLY);
        if (n.fd < 0) std::printf("# %s: %s\n", n.path.c_str(), strerrorname_np(errno));
        nodes.push_back(std::move(n));
    }
    std::string label;
    while (std::getline(std::cin, label)) {
        if (label.empty()) continue;
        for (const Node& n : nodes)
            probe_node(label, n);
        std::printf("%s done\n", label.c_str());
        std::fflush(stdout);
    }
    std::fflush(stdout);
    ::_exit(0); // ioctls still blocked may never return
}

int timed_read(const char* path, const char* bytes_text)
{
    const int fd = ::open(path, O_RDONLY);
    if (fd < 0) {
        std::printf("open %s\n", strerrorname_np(errno));
        return 1;
    }
    const auto bytes = static_cast<std::uint32_t>(std::strtoul(bytes_text, nullptr, 0));
    const auto t0 = Clock::now();
    const std::string r = passthru_read<nvme_passthru_cmd64>(fd, NVME_IOCTL_IO64_CMD, bytes);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::printf("%s %ld\n", r.c_str(), static_cast<long>(ms));
    return 0;
}
