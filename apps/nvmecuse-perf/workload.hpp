#pragma once
// What nvmecuse-perf issues and how: the job description, the NVMe device
// it runs against (any NVMe character device speaking the Linux ioctl ABI:
// ours, the kernel's /dev/ng0n1 or /dev/nvme0n1), and the per-thread loop.

#include <atomic>
#include <cstdint>
#include <expected>
#include <string>

#include "nvmecuse/latency_histogram.hpp"

namespace nvmecuse::perf {

/// fio's --rw values and meanings: rw is a sequential mix, randrw a random one.
enum class Pattern : std::uint8_t { read, write, randread, randwrite, rw, randrw };
enum class IoctlKind : std::uint8_t { io64, io, submit_io, admin_identify };

struct Job {
    std::string device;
    unsigned threads = 1;
    std::uint32_t block_size = 4096;     ///< bytes per command
    Pattern pattern = Pattern::randread;
    unsigned read_percent = 50;          ///< rw and randrw only
    IoctlKind ioctl = IoctlKind::io64;
    double seconds = 5;                  ///< used when ios == 0
    std::uint64_t ios = 0;               ///< total commands, over all threads
    bool verify = false;
    std::uint64_t range_bytes = 0;       ///< 0 = the whole namespace
};

/// The namespace the job runs on, read once with Identify (admin passthrough).
struct Target {
    int fd = -1;                ///< shared by all threads (ioctls are thread-safe)
    std::uint32_t nsid = 0;     ///< 0 for admin-identify on a controller node
    std::uint32_t lba_bytes = 0;
    std::uint64_t blocks = 0;   ///< usable range, in LBAs
};

/// Opens `job.device` and learns its namespace; the error says what failed.
[[nodiscard]] std::expected<Target, std::string> open_target(const Job& job);

/// What was done in one direction (reads, or writes).
struct DirectionResult {
    LatencyHistogram latency;
    std::uint64_t ios = 0;
    std::uint64_t bytes = 0;
    void merge(const DirectionResult& other) noexcept
    {
        latency.merge(other.latency);
        ios += other.ios;
        bytes += other.bytes;
    }
};

/// What one thread did, reads and writes apart (admin-identify counts as reads).
struct ThreadResult {
    DirectionResult read;
    DirectionResult write;
    std::uint64_t verified_blocks = 0;
    std::string error; ///< the first failure; the thread stops at it
};

/// Shared progress, read by the progress line while threads run.
struct Progress {
    std::atomic<std::uint64_t> ios{0};
    std::atomic<bool> stop{false};
};

/// Runs thread `index` of `job` until `progress.stop` or its share of
/// `job.ios` is done.
ThreadResult run_thread(const Job& job, const Target& target, unsigned index, Progress& progress);

} // namespace nvmecuse::perf
