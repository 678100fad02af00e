// nvmecuse-perf: a load generator for any NVMe character device speaking the
// Linux NVMe ioctl ABI (nvmecuse's nodes, the kernel's /dev/ng0n1 or
// /dev/nvme0n1), in the spirit of SPDK's perf and fio: threads issuing
// synchronous ioctls, latency percentiles, CPU time per command, JSON.
//
//   nvmecuse-perf /dev/nvmecuse/nvme0n1 --rw randread --bs 4k --numjobs 4 --runtime 10
//   nvmecuse-perf /dev/nvmecuse/nvme0 --ioctl admin-identify --number_ios 10000 --json

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <thread>
#include <vector>

#include "arguments.hpp"
#include "report.hpp"
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
    auto args = parse_arguments(argc, argv);
    if (!args) return args.error();
    const Job& job = args->job;

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

    RunResult run;
    for (auto& w : workers) {
        ThreadResult r = w.get();
        if (!r.error.empty() && run.error.empty()) {
            run.error = r.error;
            progress.stop = true;
        }
        run.total.read.merge(r.read);
        run.total.write.merge(r.write);
        run.total.verified_blocks += r.verified_blocks;
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.cpu_seconds = cpu_seconds() - cpu_before;
    all_done.set_value();
    watcher.join();

    if (args->json)
        std::puts(json_report(job, run).dump(2).c_str());
    else
        std::fputs(text_report(job, run).c_str(), stdout);
    if (!run.error.empty()) {
        std::fprintf(stderr, "nvmecuse-perf: %s\n", run.error.c_str());
        return 1;
    }
    return 0;
}
