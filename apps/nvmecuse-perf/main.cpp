// nvmecuse-perf: a load generator for any NVMe character device speaking the
// Linux NVMe ioctl ABI (nvmecuse's nodes, the kernel's /dev/ng0n1 or
// /dev/nvme0n1), in the spirit of SPDK's perf and fio: threads issuing
// synchronous ioctls, latency percentiles, CPU time per command, JSON.
//
//   nvmecuse-perf /dev/nvmecuse/nvme0n1 --rw randread --bs 4k --threads 4 --time 10
//   nvmecuse-perf /dev/nvmecuse/nvme0 --ioctl admin-identify --ios 10000 --json

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "workload.hpp"

using namespace nvmecuse::perf;

namespace {

double cpu_seconds()
{
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

/// "[  3.0/10 s]  41234 IOPS" on stderr while the run lasts (terminals only).
void show_progress(const Job& job, Progress& progress, std::chrono::steady_clock::time_point start,
                   std::future<void>& finished)
{
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    std::uint64_t last = 0;
    auto last_time = start;
    bool shown = false;
    while (finished.wait_for(std::chrono::milliseconds(500)) != std::future_status::ready) {
        const auto now = std::chrono::steady_clock::now();
        const double elapsed = std::chrono::duration<double>(now - start).count();
        const double window = std::chrono::duration<double>(now - last_time).count();
        const std::uint64_t ios = progress.ios.load();
        if (tty && elapsed >= 2.0) {
            const std::string total = job.ios != 0 ? fmt::format("{}/{} ios", ios, job.ios)
                                                   : fmt::format("{:.0f}/{:.0f} s", elapsed, job.seconds);
            std::fprintf(stderr, "\r[%s] %10.0f IOPS ", total.c_str(),
                         static_cast<double>(ios - last) / window);
            shown = true;
        }
        last = ios;
        last_time = now;
        if (job.ios == 0 && elapsed >= job.seconds) progress.stop = true;
    }
    if (shown) std::fputs("\r\033[K", stderr);
}

} // namespace

int main(int argc, char** argv)
{
    Job job;
    std::string bs = "4k";
    std::string range = "0";
    bool json = false;
    unsigned iodepth = 1;
    CLI::App app{"nvmecuse-perf: NVMe ioctl load generator for nvmecuse and kernel NVMe character devices"};
    app.add_option("device", job.device, "NVMe character device (namespace node, or controller node with --ioctl admin-identify)")
        ->required();
    app.add_option("--threads,-t", job.threads, "threads, each with one synchronous ioctl in flight")
        ->capture_default_str()->check(CLI::Range(1u, 1024u));
    app.add_option("--iodepth,-q", iodepth, "commands in flight per thread (ioctls are synchronous: only 1)")
        ->capture_default_str();
    app.add_option("--bs,-b", bs, "bytes per command (k, m suffixes)")->capture_default_str();
    const std::map<std::string, Pattern> patterns{{"read", Pattern::read}, {"write", Pattern::write},
                                                  {"randread", Pattern::randread},
                                                  {"randwrite", Pattern::randwrite},
                                                  {"rw", Pattern::randrw}, {"randrw", Pattern::randrw}};
    app.add_option("--rw", job.pattern, "read, write, randread, randwrite, rw or randrw (random mix)")
        ->transform(CLI::CheckedTransformer(patterns, CLI::ignore_case));
    app.add_option("--rwmixread", job.read_percent, "percent reads for --rw rw")
        ->capture_default_str()->check(CLI::Range(0u, 100u));
    const std::map<std::string, IoctlKind> kinds{{"io64", IoctlKind::io64}, {"io", IoctlKind::io},
                                                 {"submit-io", IoctlKind::submit_io},
                                                 {"admin-identify", IoctlKind::admin_identify}};
    app.add_option("--ioctl", job.ioctl,
                   "io64 (NVME_IOCTL_IO64_CMD), io (NVME_IOCTL_IO_CMD), submit-io, admin-identify")
        ->transform(CLI::CheckedTransformer(kinds, CLI::ignore_case));
    app.add_option("--time", job.seconds, "seconds to run (when --ios is not given)")->capture_default_str();
    app.add_option("--ios", job.ios, "total commands over all threads (instead of --time)");
    app.add_option("--size", range, "bytes of the namespace to use from LBA 0 (0 = all)")->capture_default_str();
    app.add_flag("--verify", job.verify, "writes stamp each block with its LBA; reads check what they get");
    app.add_flag("--json", json, "print the result as JSON");
    CLI11_PARSE(app, argc, argv);

    // fio's convention: k, m, g are powers of 1024.
    auto parse_bytes = [](const std::string& text, const char* what) -> std::uint64_t {
        std::size_t used = 0;
        std::uint64_t v = 0;
        try {
            v = std::stoull(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        const std::string unit = text.substr(used);
        static const std::map<std::string, unsigned> shifts{
            {"", 0}, {"k", 10}, {"K", 10}, {"KiB", 10}, {"m", 20}, {"M", 20}, {"MiB", 20},
            {"g", 30}, {"G", 30}, {"GiB", 30}};
        const auto it = shifts.find(unit);
        if (used == 0 || it == shifts.end()) {
            std::fprintf(stderr, "nvmecuse-perf: %s %s: expected a number with k, m or g\n", what,
                         text.c_str());
            std::exit(2);
        }
        return v << it->second;
    };
    const std::uint64_t block_size = parse_bytes(bs, "--bs");
    if (block_size == 0 || block_size > (64u << 20)) {
        std::fprintf(stderr, "nvmecuse-perf: --bs must be 1 byte .. 64 MiB\n");
        return 2;
    }
    job.block_size = static_cast<std::uint32_t>(block_size);
    job.range_bytes = parse_bytes(range, "--size");
    if (iodepth != 1) {
        std::fprintf(stderr, "nvmecuse-perf: NVMe ioctls are synchronous: --iodepth must be 1; "
                             "use --threads for concurrency\n");
        return 2;
    }

    auto target = open_target(job);
    if (!target) {
        std::fprintf(stderr, "nvmecuse-perf: %s\n", target.error().c_str());
        return 1;
    }

    Progress progress;
    std::vector<std::future<ThreadResult>> workers;
    const double cpu_before = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < job.threads; ++i)
        workers.push_back(std::async(std::launch::async, [&, i] { return run_thread(job, *target, i, progress); }));
    std::promise<void> all_done;
    std::future<void> finished = all_done.get_future();
    std::thread watcher([&] { show_progress(job, progress, start, finished); });

    ThreadResult total;
    std::string error;
    for (auto& w : workers) {
        ThreadResult r = w.get();
        if (!r.error.empty() && error.empty()) {
            error = r.error;
            progress.stop = true;
        }
        total.latency.merge(r.latency);
        total.ios += r.ios;
        total.bytes += r.bytes;
        total.verified_blocks += r.verified_blocks;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_before;
    all_done.set_value();
    watcher.join();

    const auto& lat = total.latency;
    const double iops = static_cast<double>(total.ios) / seconds;
    const double mbps = static_cast<double>(total.bytes) / seconds / 1e6;
    const double cpu_us_per_io = total.ios ? cpu * 1e6 / static_cast<double>(total.ios) : 0.0;
    if (json) {
        nlohmann::json j;
        j["device"] = job.device;
        j["threads"] = job.threads;
        j["bs"] = job.block_size;
        j["rw"] = std::find_if(patterns.begin(), patterns.end(), [&](auto& p) { return p.second == job.pattern; })->first;
        j["ioctl"] = std::find_if(kinds.begin(), kinds.end(), [&](auto& k) { return k.second == job.ioctl; })->first;
        j["ios"] = total.ios;
        j["seconds"] = seconds;
        j["iops"] = iops;
        j["mb_per_s"] = mbps;
        j["latency_ns"] = {{"min", lat.min()},
                           {"avg", lat.mean()},
                           {"p50", lat.percentile(0.50)},
                           {"p99", lat.percentile(0.99)},
                           {"p99.9", lat.percentile(0.999)},
                           {"max", lat.max()}};
        j["cpu_us_per_io"] = cpu_us_per_io;
        j["verified_blocks"] = total.verified_blocks;
        j["error"] = error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error);
        std::puts(j.dump(2).c_str());
    } else {
        auto us = [](double ns) { return ns / 1000.0; };
        std::printf("%s: %u thread(s), bs %u, %llu ios in %.2f s\n", job.device.c_str(), job.threads,
                    job.block_size, static_cast<unsigned long long>(total.ios), seconds);
        std::printf("  IOPS %.0f   %.1f MB/s   CPU %.2f us/io\n", iops, mbps, cpu_us_per_io);
        std::printf("  latency us: min %.1f  avg %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
                    us(static_cast<double>(lat.min())), us(lat.mean()),
                    us(static_cast<double>(lat.percentile(0.5))), us(static_cast<double>(lat.percentile(0.99))),
                    us(static_cast<double>(lat.percentile(0.999))), us(static_cast<double>(lat.max())));
        if (job.verify)
            std::printf("  verified %llu block(s)\n", static_cast<unsigned long long>(total.verified_blocks));
    }
    if (!error.empty()) {
        std::fprintf(stderr, "nvmecuse-perf: %s\n", error.c_str());
        return 1;
    }
    return 0;
}
