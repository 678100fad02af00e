// The stats answer as Prometheus text (prometheus.hpp).
#include "prometheus.hpp"

#include <fmt/format.h>

#include <array>

namespace nvmecusectl {

using nlohmann::json;

namespace {

struct Metric {
    const char* key; ///< in the stats method's "stats" object
    bool gauge;      ///< a level now, not a running total
    const char* help;
};

/// The node counters (cuse::DeviceStats), as they are exported.
constexpr std::array<Metric, 13> metrics{{
    {"fuse_requests", false, "FUSE requests the node received (open, release, read, write, ioctl)."},
    {"ioctl_requests", false, "FUSE_IOCTL requests, first ones and retries."},
    {"ioctls_answered", false, "Ioctls answered with a final value or errno."},
    {"fast_path", false, "Ioctls whose buffers moved by process_vm_readv/writev."},
    {"retries", false, "FUSE_IOCTL_RETRY replies."},
    {"interrupts", false, "Interrupts that hit a request in flight."},
    {"over_budget", false, "Ioctls refused with EAGAIN by the in-flight caps."},
    {"commands", false, "NVMe commands posted to the controller."},
    {"errors", false, "Ioctls answered with an errno or an NVMe error status."},
    {"bytes_read", false, "Data bytes completed commands moved to callers."},
    {"bytes_written", false, "Data bytes completed commands took from callers."},
    {"in_flight", true, "Ioctls waiting for the controller now."},
    {"in_flight_bytes", true, "Bytes of command buffers of the ioctls in flight."},
}};

/// The nodes' sampled ioctl latency ("latency_ns") as one summary.
std::string latency_summary(const json& stats);

} // namespace

std::string prometheus_label(const std::string& value)
{
    std::string out;
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string prometheus_text(const json& stats)
{
    std::string out;
    for (const Metric& m : metrics) {
        const std::string name = fmt::format("nvmecuse_{}{}", m.key, m.gauge ? "" : "_total");
        std::string samples;
        for (const auto& node : stats) {
            const json& counters = node.contains("stats") ? node["stats"] : json();
            if (!counters.is_object() || !counters.contains(m.key) || !counters[m.key].is_number())
                continue;
            samples += fmt::format("{}{{controller=\"{}\",node=\"{}\"}} {}\n", name,
                                   prometheus_label(node.value("controller", "")),
                                   prometheus_label(node.value("node", "")), counters[m.key].dump());
        }
        if (samples.empty()) continue;
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", name, m.help, name,
                           m.gauge ? "gauge" : "counter", samples);
    }
    return out + latency_summary(stats);
}

namespace {

std::string latency_summary(const json& stats)
{
    constexpr const char* name = "nvmecuse_ioctl_latency_seconds";
    constexpr std::array<std::pair<const char*, const char*>, 4> quantiles{
        {{"0.5", "p50"}, {"0.9", "p90"}, {"0.99", "p99"}, {"0.999", "p99_9"}}};
    const auto seconds = [](const json& ns) { return fmt::format("{:.9f}", ns.get<double>() / 1e9); };
    std::string samples;
    for (const auto& node : stats) {
        const json* latency = nullptr;
        if (node.contains("stats") && node["stats"].is_object() &&
            node["stats"].contains("latency_ns") && node["stats"]["latency_ns"].is_object())
            latency = &node["stats"]["latency_ns"];
        if (latency == nullptr || !latency->value("samples", json()).is_number()) continue;
        const std::string labels =
            fmt::format("controller=\"{}\",node=\"{}\"", prometheus_label(node.value("controller", "")),
                        prometheus_label(node.value("node", "")));
        for (const auto& [q, key] : quantiles)
            if (latency->contains(key) && (*latency)[key].is_number())
                samples += fmt::format("{}{{{},quantile=\"{}\"}} {}\n", name, labels, q,
                                       seconds((*latency)[key]));
        if (latency->contains("sum") && (*latency)["sum"].is_number())
            samples += fmt::format("{}_sum{{{}}} {}\n", name, labels, seconds((*latency)["sum"]));
        samples += fmt::format("{}_count{{{}}} {}\n", name, labels, (*latency)["samples"].dump());
    }
    if (samples.empty()) return {};
    return fmt::format("# HELP {} Time from the daemon's start on an ioctl to its answer, for "
                       "ioctls that reached the controller; one in 64 per serving thread is "
                       "measured.\n# TYPE {} summary\n{}",
                       name, name, samples);
}

} // namespace

} // namespace nvmecusectl
