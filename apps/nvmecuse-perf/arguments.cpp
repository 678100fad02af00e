// nvmecuse-perf's command line. Enums are chosen by name from the tables
// below, never through CLI11's transformers, which print an 8-bit enum's
// value as a raw byte.
#include "arguments.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace nvmecuse::perf {

namespace {

constexpr std::array<std::pair<std::string_view, Pattern>, 6> patterns{{
    {"read", Pattern::read},
    {"write", Pattern::write},
    {"randread", Pattern::randread},
    {"randwrite", Pattern::randwrite},
    {"rw", Pattern::rw},
    {"randrw", Pattern::randrw},
}};

constexpr std::array<std::pair<std::string_view, IoctlKind>, 4> kinds{{
    {"io64", IoctlKind::io64},
    {"io", IoctlKind::io},
    {"submit-io", IoctlKind::submit_io},
    {"admin-identify", IoctlKind::admin_identify},
}};

template <class Table> std::vector<std::string> names_of(const Table& table)
{
    std::vector<std::string> names;
    for (const auto& [name, value] : table)
        names.emplace_back(name);
    return names;
}

template <class Table> auto value_of(const Table& table, const std::string& name)
{
    for (const auto& [n, value] : table)
        if (n == name) return value;
    return table.front().second; // unreachable: CLI::IsMember checked the name
}

/// A byte count with fio's suffixes (k, m, g: powers of 1024).
std::expected<std::uint64_t, std::string> parse_bytes(const std::string& text, const char* what)
{
    std::size_t used = 0;
    std::uint64_t v = 0;
    try {
        v = std::stoull(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    const std::string unit = text.substr(used);
    static const std::map<std::string, unsigned> shifts{
        {"", 0},   {"k", 10},   {"K", 10}, {"KiB", 10}, {"m", 20},
        {"M", 20}, {"MiB", 20}, {"g", 30}, {"G", 30},   {"GiB", 30}};
    const auto it = shifts.find(unit);
    if (used == 0 || text.front() == '-' || it == shifts.end())
        return std::unexpected(fmt::format("{} {}: expected a number with k, m or g", what, text));
    if (it->second != 0 && v > (UINT64_MAX >> it->second))
        return std::unexpected(fmt::format("{} {}: too large", what, text));
    return v << it->second;
}

int fail(const std::string& message)
{
    std::fprintf(stderr, "nvmecuse-perf: %s\n", message.c_str());
    return 2;
}

} // namespace

std::string_view pattern_name(Pattern pattern) noexcept
{
    for (const auto& [name, value] : patterns)
        if (value == pattern) return name;
    return "?";
}

std::string_view ioctl_name(IoctlKind kind) noexcept
{
    for (const auto& [name, value] : kinds)
        if (value == kind) return name;
    return "?";
}

std::expected<PerfArguments, int> parse_arguments(int argc, char** argv)
{
    PerfArguments args;
    Job& job = args.job;
    std::string bs = "4k";
    std::string range = "0";
    std::string rw = "randread";
    std::string ioctl = "io64";
    std::string output_format = "normal";
    unsigned iodepth = 1;

    CLI::App app{"nvmecuse-perf: NVMe ioctl load generator for nvmecuse and kernel NVMe "
                 "character devices (fio's option names)"};
    app.set_version_flag("--version", std::string("nvmecuse-perf ") + NVMECUSE_VERSION);
    app.footer(R"(Examples:
  nvmecuse-perf /dev/nvmecuse/nvme0n1 --rw randread --bs 4k --numjobs 4 --runtime 10
  nvmecuse-perf /dev/ng0n1 --rw randrw --rwmixread 70 --number_ios 100000 --verify --output-format json
  nvmecuse-perf /dev/nvmecuse/nvme0 --ioctl admin-identify --number_ios 10000)");
    app.add_option("device", job.device,
                   "NVMe character device (namespace node, or controller node with --ioctl "
                   "admin-identify)")
        ->required();
    app.add_option("--rw", rw,
                   "read, write, randread, randwrite; rw (sequential mix) or randrw (random "
                   "mix), as fio")
        ->check(CLI::IsMember(names_of(patterns)))
        ->capture_default_str();
    app.add_option("--bs,-b", bs, "bytes per command (k, m suffixes)")->capture_default_str();
    app.add_option("--numjobs,--threads,-t", job.threads,
                   "threads, each with one synchronous ioctl in flight")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1024u));
    app.add_option("--runtime,--time", job.seconds,
                   "seconds to run (when --number_ios is not given)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--number_ios,--ios", job.ios,
                   "total commands over all threads (instead of --runtime)");
    app.add_option("--rwmixread", job.read_percent, "percent reads for --rw rw and randrw")
        ->capture_default_str()
        ->check(CLI::Range(0u, 100u));
    app.add_option("--size", range, "bytes of the namespace to use from LBA 0 (0 = all)")
        ->capture_default_str();
    app.add_flag("--verify", job.verify,
                 "writes stamp each block with its LBA; reads check what they get");
    app.add_option("--output-format", output_format, "normal or json")
        ->check(CLI::IsMember({"normal", "json"}))
        ->capture_default_str();
    app.add_flag("--json", args.json, "same as --output-format json");
    app.add_option("--ioctl", ioctl,
                   "io64 (NVME_IOCTL_IO64_CMD), io (NVME_IOCTL_IO_CMD), submit-io "
                   "(NVME_IOCTL_SUBMIT_IO), admin-identify (NVME_IOCTL_ADMIN_CMD)")
        ->check(CLI::IsMember(names_of(kinds)))
        ->capture_default_str();
    app.add_option("--iodepth,-q", iodepth,
                   "commands in flight per thread (ioctls are synchronous: only 1)")
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return std::unexpected(app.exit(e));
    }

    job.pattern = value_of(patterns, rw);
    job.ioctl = value_of(kinds, ioctl);
    if (output_format == "json") args.json = true;
    auto block_size = parse_bytes(bs, "--bs");
    if (!block_size) return std::unexpected(fail(block_size.error()));
    if (*block_size == 0 || *block_size > (64u << 20))
        return std::unexpected(fail("--bs must be 1 byte .. 64 MiB"));
    job.block_size = static_cast<std::uint32_t>(*block_size);
    auto range_bytes = parse_bytes(range, "--size");
    if (!range_bytes) return std::unexpected(fail(range_bytes.error()));
    job.range_bytes = *range_bytes;
    if (iodepth != 1)
        return std::unexpected(fail("NVMe ioctls are synchronous: --iodepth must be 1; use "
                                    "--numjobs for concurrency"));
    return args;
}

} // namespace nvmecuse::perf
