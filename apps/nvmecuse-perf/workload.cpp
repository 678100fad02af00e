#include "workload.hpp"

#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "nvmecuse/spec/identify.hpp"

namespace nvmecuse::perf {
namespace {

constexpr std::uint8_t opc_write = 0x01;
constexpr std::uint8_t opc_read = 0x02;
constexpr std::uint8_t opc_identify = 0x06;
constexpr std::uint64_t verify_magic = 0x6e766d6563757365; // "nvmecuse"

/// A page-aligned buffer (O_DIRECT-style callers expect one; costs nothing).
struct Buffer {
    explicit Buffer(std::size_t n)
        : bytes(static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096))), size(n)
    {
        std::memset(bytes.get(), 0, size);
    }
    struct Free {
        void operator()(std::byte* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<std::byte[], Free> bytes;
    std::size_t size;
};

std::string errno_text(int e) { return fmt::format("{} ({})", strerrorname_np(e), std::strerror(e)); }

/// The ioctl's outcome in the kernel's convention: 0, NVMe status > 0, -errno.
int admin_identify(int fd, std::uint32_t nsid, std::uint32_t cns, void* data)
{
    nvme_admin_cmd cmd{};
    cmd.opcode = opc_identify;
    cmd.nsid = nsid;
    cmd.addr = reinterpret_cast<std::uintptr_t>(data);
    cmd.data_len = 4096;
    cmd.cdw10 = cns;
    const int r = ::ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
    return r < 0 ? -errno : r;
}

/// A read/write passthrough in either width (the fields they share).
template <class Cmd>
Cmd passthru(std::uint8_t opc, std::uint32_t nsid, std::uint64_t slba, std::uint32_t blocks,
             std::uint32_t len, void* data)
{
    Cmd cmd{};
    cmd.opcode = opc;
    cmd.nsid = nsid;
    cmd.addr = reinterpret_cast<std::uintptr_t>(data);
    cmd.data_len = len;
    cmd.cdw10 = static_cast<std::uint32_t>(slba);
    cmd.cdw11 = static_cast<std::uint32_t>(slba >> 32);
    cmd.cdw12 = blocks - 1;
    return cmd;
}

int issue(const Job& job, const Target& t, bool write, std::uint64_t slba, std::uint32_t blocks,
          void* data)
{
    const auto len = blocks * t.lba_bytes;
    const std::uint8_t opc = write ? opc_write : opc_read;
    int r = 0;
    switch (job.ioctl) {
    case IoctlKind::io64: {
        auto cmd = passthru<nvme_passthru_cmd64>(opc, t.nsid, slba, blocks, len, data);
        r = ::ioctl(t.fd, NVME_IOCTL_IO64_CMD, &cmd);
        break;
    }
    case IoctlKind::io: {
        auto cmd = passthru<nvme_passthru_cmd>(opc, t.nsid, slba, blocks, len, data);
        r = ::ioctl(t.fd, NVME_IOCTL_IO_CMD, &cmd);
        break;
    }
    case IoctlKind::submit_io: {
        nvme_user_io io{};
        io.opcode = opc;
        io.slba = slba;
        io.nblocks = static_cast<std::uint16_t>(blocks - 1);
        io.addr = reinterpret_cast<std::uintptr_t>(data);
        r = ::ioctl(t.fd, NVME_IOCTL_SUBMIT_IO, &io);
        break;
    }
    case IoctlKind::admin_identify:
        return admin_identify(t.fd, 0, 1, data);
    }
    return r < 0 ? -errno : r;
}

std::string describe_failure(int r)
{
    return r < 0 ? errno_text(-r) : fmt::format("NVMe status {:#x}", r);
}

/// Every block written by a verifying job carries its LBA, so a read can
/// tell whether it got the block it asked for.
void stamp(std::byte* block, std::uint32_t lba_bytes, std::uint64_t lba)
{
    std::memcpy(block, &verify_magic, 8);
    std::memcpy(block + 8, &lba, 8);
    for (std::uint32_t i = 16; i < lba_bytes; ++i)
        block[i] = static_cast<std::byte>((lba * 131 + i) & 0xff);
}

/// 1 when the block is one of ours and correct, 0 when never written, -1 when wrong.
int check(const std::byte* block, std::uint32_t lba_bytes, std::uint64_t lba)
{
    std::uint64_t magic = 0;
    std::uint64_t stamped = 0;
    std::memcpy(&magic, block, 8);
    if (magic != verify_magic) return 0;
    std::memcpy(&stamped, block + 8, 8);
    if (stamped != lba) return -1;
    for (std::uint32_t i = 16; i < lba_bytes; ++i)
        if (block[i] != static_cast<std::byte>((lba * 131 + i) & 0xff)) return -1;
    return 1;
}

} // namespace

std::expected<Target, std::string> open_target(const Job& job)
{
    Target t;
    t.fd = ::open(job.device.c_str(), O_RDONLY | O_CLOEXEC);
    if (t.fd < 0) return std::unexpected(fmt::format("open {}: {}", job.device, errno_text(errno)));
    if (job.ioctl == IoctlKind::admin_identify) return t;

    const int id = ::ioctl(t.fd, NVME_IOCTL_ID);
    if (id <= 0)
        return std::unexpected(fmt::format("{}: not a namespace device (NVME_IOCTL_ID: {})",
                                           job.device, errno_text(errno)));
    t.nsid = static_cast<std::uint32_t>(id);
    Buffer page(4096);
    if (const int r = admin_identify(t.fd, t.nsid, 0, page.bytes.get()); r != 0)
        return std::unexpected(
            fmt::format("{}: Identify Namespace {}: {}", job.device, t.nsid, describe_failure(r)));
    nvme::IdentifyNamespace ns{};
    std::memcpy(&ns, page.bytes.get(), sizeof(ns));
    const auto format = ns.lbaf[ns.flbas & 0xf];
    t.lba_bytes = 1u << format.lbads;
    if (format.ms != 0)
        return std::unexpected(fmt::format("{}: LBA formats with metadata are not supported", job.device));
    t.blocks = ns.nsze;
    if (job.range_bytes != 0) t.blocks = std::min(t.blocks, job.range_bytes / t.lba_bytes);
    if (job.block_size % t.lba_bytes != 0)
        return std::unexpected(fmt::format("--bs {} is not a multiple of the LBA size {}",
                                           job.block_size, t.lba_bytes));
    const std::uint64_t per_io = job.block_size / t.lba_bytes;
    if (per_io > 65536) return std::unexpected("--bs is larger than 65536 blocks (one command)");
    if (t.blocks < per_io) return std::unexpected("the range is smaller than one --bs");
    return t;
}

ThreadResult run_thread(const Job& job, const Target& t, unsigned index, Progress& progress)
{
    ThreadResult result;
    const bool admin = job.ioctl == IoctlKind::admin_identify;
    const std::uint32_t lba_bytes = admin ? 4096 : t.lba_bytes;
    const std::uint32_t blocks = admin ? 1 : job.block_size / lba_bytes;
    const std::uint64_t slots = admin ? 1 : t.blocks / blocks; // aligned positions
    Buffer buffer(admin ? 4096 : job.block_size);

    std::uint64_t quota = UINT64_MAX;
    if (job.ios != 0) quota = job.ios / job.threads + (index < job.ios % job.threads ? 1 : 0);
    std::mt19937_64 rng(0x9e3779b97f4a7c15ull * (index + 1));
    std::uniform_int_distribution<std::uint64_t> slot_of(0, slots - 1);
    std::uniform_int_distribution<unsigned> percent(0, 99);
    std::uint64_t next_slot = slots * index / job.threads; // sequential: threads spread out

    using Clock = std::chrono::steady_clock;
    while (result.read.ios + result.write.ios < quota &&
           !progress.stop.load(std::memory_order_relaxed)) {
        bool write = false;
        std::uint64_t slot = 0;
        switch (job.pattern) {
        case Pattern::read: slot = next_slot++ % slots; break;
        case Pattern::write: slot = next_slot++ % slots; write = true; break;
        case Pattern::randread: slot = slot_of(rng); break;
        case Pattern::randwrite: slot = slot_of(rng); write = true; break;
        case Pattern::rw:
            slot = next_slot++ % slots;
            write = percent(rng) >= job.read_percent;
            break;
        case Pattern::randrw: slot = slot_of(rng); write = percent(rng) >= job.read_percent; break;
        }
        const std::uint64_t slba = slot * blocks;
        if (write && job.verify)
            for (std::uint32_t b = 0; b < blocks; ++b)
                stamp(buffer.bytes.get() + std::size_t{b} * lba_bytes, lba_bytes, slba + b);

        const auto start = Clock::now();
        const int r = issue(job, t, write, slba, blocks, buffer.bytes.get());
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
        if (r != 0) {
            result.error = fmt::format("thread {}: {} of LBA {} failed: {}", index,
                                       write ? "write" : "read", slba, describe_failure(r));
            break;
        }
        DirectionResult& done = write ? result.write : result.read;
        done.latency.record(static_cast<std::uint64_t>(ns.count()));
        ++done.ios;
        done.bytes += buffer.size;
        progress.ios.fetch_add(1, std::memory_order_relaxed);

        if (!write && job.verify && !admin) {
            for (std::uint32_t b = 0; b < blocks; ++b) {
                const int c = check(buffer.bytes.get() + std::size_t{b} * lba_bytes, lba_bytes, slba + b);
                if (c < 0) {
                    result.error = fmt::format("thread {}: verify: LBA {} does not hold its data",
                                               index, slba + b);
                    return result;
                }
                result.verified_blocks += static_cast<std::uint64_t>(c);
            }
        }
    }
    return result;
}

} // namespace nvmecuse::perf
