// nvmecuse-perf's results (report.hpp).
#include "report.hpp"

#include <fmt/format.h>

#include "arguments.hpp"

namespace nvmecuse::perf {

namespace {

DirectionResult both(const ThreadResult& r)
{
    DirectionResult all = r.read;
    all.merge(r.write);
    return all;
}

double per_second(std::uint64_t count, double seconds)
{
    return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

nlohmann::json figures(const DirectionResult& d, double seconds)
{
    const auto& lat = d.latency;
    return {{"ios", d.ios},
            {"iops", per_second(d.ios, seconds)},
            {"mb_per_s", per_second(d.bytes, seconds) / 1e6},
            {"latency_ns",
             {{"min", lat.min()},
              {"avg", lat.mean()},
              {"p50", lat.percentile(0.50)},
              {"p99", lat.percentile(0.99)},
              {"p99.9", lat.percentile(0.999)},
              {"max", lat.max()}}}};
}

std::string figure_line(const char* label, const DirectionResult& d, double seconds)
{
    const auto us = [](double ns) { return ns / 1000.0; };
    const auto& lat = d.latency;
    return fmt::format(
        "  {:<6} IOPS {:.0f}   {:.1f} MB/s\n"
        "         latency us: min {:.1f}  avg {:.1f}  p50 {:.1f}  p99 {:.1f}  "
        "p99.9 {:.1f}  max {:.1f}\n",
        label, per_second(d.ios, seconds), per_second(d.bytes, seconds) / 1e6,
        us(static_cast<double>(lat.min())), us(lat.mean()),
        us(static_cast<double>(lat.percentile(0.5))), us(static_cast<double>(lat.percentile(0.99))),
        us(static_cast<double>(lat.percentile(0.999))), us(static_cast<double>(lat.max())));
}

double cpu_us_per_io(const RunResult& run, std::uint64_t ios)
{
    return ios != 0 ? run.cpu_seconds * 1e6 / static_cast<double>(ios) : 0.0;
}

} // namespace

nlohmann::json json_report(const Job& job, const RunResult& run)
{
    const DirectionResult all = both(run.total);
    nlohmann::json j = figures(all, run.seconds);
    j["device"] = job.device;
    j["threads"] = job.threads;
    j["bs"] = job.block_size;
    j["rw"] = std::string(pattern_name(job.pattern));
    j["ioctl"] = std::string(ioctl_name(job.ioctl));
    j["seconds"] = run.seconds;
    j["cpu_us_per_io"] = cpu_us_per_io(run, all.ios);
    j["read"] = figures(run.total.read, run.seconds);
    j["write"] = figures(run.total.write, run.seconds);
    j["verified_blocks"] = run.total.verified_blocks;
    j["error"] = run.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.error);
    return j;
}

std::string text_report(const Job& job, const RunResult& run)
{
    const DirectionResult all = both(run.total);
    std::string text =
        fmt::format("{}: {}, {} thread(s), bs {}, {} ios in {:.2f} s, CPU {:.2f} us/io\n",
                    job.device, pattern_name(job.pattern), job.threads, job.block_size, all.ios,
                    run.seconds, cpu_us_per_io(run, all.ios));
    if (run.total.read.ios != 0) text += figure_line("read", run.total.read, run.seconds);
    if (run.total.write.ios != 0) text += figure_line("write", run.total.write, run.seconds);
    if (job.verify) text += fmt::format("  verified {} block(s)\n", run.total.verified_blocks);
    return text;
}

} // namespace nvmecuse::perf
